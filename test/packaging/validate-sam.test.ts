/**
 * scripts/validate-sam.mjs, the CI check of template.yaml against the published SAM schema: the
 * short-form tags become CloudFormation's long forms, errors are reported per resource in a line a
 * person can act on, and the exit code says valid / invalid / unusable input. The real SAM schema is
 * not part of the project: test/real/sam.test.ts generates it with the pinned aws-sam-translator and
 * checks template.yaml against it; `.ci/run` also uses the published copy when one sits beside the clone.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseCfnYaml, validateSam } from "../../scripts/validate-sam.mjs";
import { ROOT, cleanEnv, run } from "./helpers.ts";

const SCRIPT = path.join(ROOT, "scripts", "validate-sam.mjs");
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "vla-validate-sam-"));

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** A draft-04 schema shaped like SAM's: resources are an anyOf of per-Type definitions. */
const MINI_SCHEMA = {
  $schema: "http://json-schema.org/draft-04/schema#",
  type: "object",
  required: ["Resources"],
  properties: {
    Resources: {
      type: "object",
      additionalProperties: { anyOf: [{ $ref: "#/definitions/fn__Resource" }, { $ref: "#/definitions/any_cfn__Resource" }] },
    },
  },
  definitions: {
    fn__Resource: {
      type: "object",
      additionalProperties: false,
      required: ["Type", "Properties"],
      properties: {
        Type: { type: "string", enum: ["AWS::Serverless::Function"] },
        Properties: {
          type: "object",
          additionalProperties: false,
          properties: { Handler: { type: "string" }, Runtime: { type: "string", enum: ["nodejs22.x"] }, Layers: { type: "array" } },
        },
        Metadata: {},
      },
    },
    any_cfn__Resource: { type: "object", required: ["Type"], properties: { Type: { type: "string", pattern: "^(?!AWS::Serverless::).+$" } } },
  },
};

function write(name: string, content: string): string {
  const p = path.join(tmp, name);
  fs.writeFileSync(p, content);
  return p;
}

describe("parseCfnYaml", () => {
  it("turns every short-form tag into its long form, nested, in each node kind", () => {
    const t = parseCfnYaml(
      [
        "A: !Ref Param",
        "B: !GetAtt Fn.Arn",
        "C: !GetAtt Bucket.Endpoint.Address",
        "D: !GetAtt [Fn, Arn]",
        "E: !Sub 'arn:${AWS::Partition}:s3:::${Bucket}'",
        "F: !Sub ['${A}-x', { A: !Ref Param }]",
        "G: !If [Cond, !Ref A, !Ref AWS::NoValue]",
        "H: !Not [!Equals [!Ref P, '']]",
        "I: !And [!Condition C1, !Or [!Condition C2, !Equals [a, b]]]",
        "J: !Join [',', !Split ['|', !Select [0, !GetAZs '']]]",
        "K: !Base64 { 'Fn::Sub': x }",
        "L: !FindInMap [M, !Ref AWS::Region, Key]",
        "M: !ImportValue shared-vpc",
        "N: plain",
      ].join("\n"),
    );
    expect(t).toEqual({
      A: { Ref: "Param" },
      B: { "Fn::GetAtt": ["Fn", "Arn"] },
      C: { "Fn::GetAtt": ["Bucket", "Endpoint.Address"] },
      D: { "Fn::GetAtt": ["Fn", "Arn"] },
      E: { "Fn::Sub": "arn:${AWS::Partition}:s3:::${Bucket}" },
      F: { "Fn::Sub": ["${A}-x", { A: { Ref: "Param" } }] },
      G: { "Fn::If": ["Cond", { Ref: "A" }, { Ref: "AWS::NoValue" }] },
      H: { "Fn::Not": [{ "Fn::Equals": [{ Ref: "P" }, ""] }] },
      I: { "Fn::And": [{ Condition: "C1" }, { "Fn::Or": [{ Condition: "C2" }, { "Fn::Equals": ["a", "b"] }] }] },
      J: { "Fn::Join": [",", { "Fn::Split": ["|", { "Fn::Select": [0, { "Fn::GetAZs": "" }] }] }] },
      K: { "Fn::Base64": { "Fn::Sub": "x" } },
      L: { "Fn::FindInMap": ["M", { Ref: "AWS::Region" }, "Key"] },
      M: { "Fn::ImportValue": "shared-vpc" },
      N: "plain",
    });
  });

  it("rejects an unknown tag and a duplicated key, as CloudFormation would", () => {
    expect(() => parseCfnYaml("A: !Reff X")).toThrow(/Reff/);
    expect(() => parseCfnYaml("A: 1\nA: 2")).toThrow(/unique|duplicate/i);
  });
});

describe("validateSam", () => {
  it("reports the errors of the definition a resource's Type names, not of every anyOf branch", () => {
    const template = parseCfnYaml(
      [
        "Resources:",
        "  Fn:",
        "    Type: AWS::Serverless::Function",
        "    Properties:",
        "      Handlr: index.handler",
        "      Runtime: nodejs99.x",
        "  Other:",
        "    Type: AWS::SQS::Queue",
        "  Nope:",
        "    Type: AWS::Serverless::Nope",
        "    Properties: {}",
      ].join("\n"),
    );
    const r = validateSam(template, MINI_SCHEMA);
    expect(r.ok).toBe(false);
    expect(r.errors).toEqual([
      'Resources/Fn/Properties: unknown property "Handlr"',
      'Resources/Fn/Properties/Runtime: must be equal to one of the allowed values: ["nodejs22.x"]',
      'Resources/Nope: Type "AWS::Serverless::Nope" is not a resource type this schema knows',
    ]);
  });

  it("accepts a valid template", () => {
    const t = parseCfnYaml("Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: { Handler: index.handler, Layers: [!Ref L] }\n  L:\n    Type: AWS::SQS::Queue\n");
    expect(validateSam(t, MINI_SCHEMA)).toEqual({ ok: true, errors: [] });
  });
});

describe("the command", () => {
  const node = (args: string[]) => run(process.execPath, [SCRIPT, ...args], { env: cleanEnv(), timeoutMs: 20_000 });

  it("exit 0 for a valid template, 1 with one line per problem for an invalid one, 2 for a usage error or unreadable input", async () => {
    const schema = write("mini.schema.json", JSON.stringify(MINI_SCHEMA));
    const good = write("good.yaml", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: { Handler: index.handler }\n");
    const bad = write("bad.yaml", "Resources:\n  Fn:\n    Type: AWS::Serverless::Function\n    Properties: { Handlr: index.handler }\n");
    const broken = write("broken.yaml", "Resources: [\n");

    const ok = await node([good, schema]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain("valid against mini.schema.json");

    const invalid = await node([bad, schema]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toBe(`${bad}: 1 problem(s) against mini.schema.json:\n  Resources/Fn/Properties: unknown property "Handlr"\n`);

    expect((await node([good])).code).toBe(2);
    expect((await node([broken, schema])).stderr).toContain("cannot be parsed");
    expect((await node([broken, schema])).code).toBe(2);
    expect((await node([good, path.join(tmp, "missing.json")])).code).toBe(2);
  });
});
