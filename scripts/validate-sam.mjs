#!/usr/bin/env node
// Validates a SAM template against the SAM JSON Schema (draft-04) that aws/serverless-application-model
// publishes. CI runs it when that schema sits beside the clone (../shared/schemas/sam.schema.json);
// `npm test` does not need it.
//
//   node scripts/validate-sam.mjs template.yaml ../shared/schemas/sam.schema.json
//
// The YAML is parsed with CloudFormation's short-form tags (!Ref, !Sub, !GetAtt, ...) turned into the
// long forms the schema describes (`{Ref: x}`, `{"Fn::Sub": ...}`), as CloudFormation reads them.
// Exit codes: 0 valid, 1 invalid, 2 usage or unreadable input.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseDocument } from "yaml";
import AjvDraft04 from "ajv-draft-04";

/** Intrinsic functions with a `!Name` short form, written `{"Fn::Name": ...}` in long form. */
const FN_TAGS = [
  "And",
  "Base64",
  "Cidr",
  "Equals",
  "FindInMap",
  "GetAZs",
  "If",
  "ImportValue",
  "Join",
  "Length",
  "Not",
  "Or",
  "Select",
  "Split",
  "Sub",
  "ToJsonString",
  "Transform",
];

/**
 * The `yaml` package's custom tags for CloudFormation's short forms, each for every node kind it may
 * tag (`!Sub "x"` and `!Sub ["x", {...}]`, `!Base64 !Sub ...` and `!Base64 {...}`, ...).
 */
export const CFN_TAGS = [
  { tag: "!Ref", resolve: (s) => ({ Ref: s }) },
  { tag: "!Condition", resolve: (s) => ({ Condition: s }) },
  // `!GetAtt Res.Attr.Sub` is `["Res", "Attr.Sub"]`: only the first dot separates the resource.
  { tag: "!GetAtt", resolve: (s) => ({ "Fn::GetAtt": splitGetAtt(s) }) },
  { tag: "!GetAtt", collection: "seq", resolve: (seq) => ({ "Fn::GetAtt": seq.toJSON() }) },
  ...FN_TAGS.flatMap((name) => [
    { tag: `!${name}`, resolve: (s) => ({ [`Fn::${name}`]: s }) },
    { tag: `!${name}`, collection: "seq", resolve: (seq) => ({ [`Fn::${name}`]: seq.toJSON() }) },
    { tag: `!${name}`, collection: "map", resolve: (map) => ({ [`Fn::${name}`]: map.toJSON() }) },
  ]),
];

function splitGetAtt(s) {
  const dot = s.indexOf(".");
  return dot < 0 ? [s] : [s.slice(0, dot), s.slice(dot + 1)];
}

/** Parses a CloudFormation/SAM YAML template into plain JSON, short-form tags in long form. */
export function parseCfnYaml(text) {
  // `uniqueKeys` (the default) rejects a duplicated key, which CloudFormation rejects as well. An
  // unknown tag (`!Reff`) is only a warning to the yaml package; CloudFormation refuses it: an error.
  const doc = parseDocument(text, { customTags: CFN_TAGS, prettyErrors: true });
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) throw new Error(problems.map((p) => p.message).join("\n"));
  return doc.toJS();
}

/**
 * Compiles the SAM schema once. It is large (160 definitions) and uses vendor keywords
 * (`__samPassThrough`, `markdownDescription`): strict mode off so that they are ignored.
 */
export function compileSamSchema(schema) {
  const ajv = new AjvDraft04({ strict: false, allErrors: true });
  // Added under a key, so that one resource definition can be compiled on its own (`sam#/definitions/...`).
  ajv.addSchema(schema, SCHEMA_KEY);
  const validate = ajv.getSchema(SCHEMA_KEY);
  if (!validate) throw new Error("the SAM schema did not compile");
  return { ajv, validate };
}

const SCHEMA_KEY = "sam";

/**
 * Validates a parsed template. On failure the errors are the ones of the resource definitions each
 * failing resource's `Type` names, not the schema's `anyOf` over all resource kinds (which would
 * report every other kind's mismatch too).
 */
export function validateSam(template, schema) {
  const { ajv, validate } = compileSamSchema(schema);
  if (validate(template)) return { ok: true, errors: [] };
  const errors = [];
  const resources = template && typeof template === "object" ? template.Resources : undefined;
  const byType = resourceDefinitions(schema);
  const resourceErrorSeen = new Set();
  for (const e of validate.errors ?? []) {
    const m = /^\/Resources\/([^/]+)/.exec(e.instancePath);
    if (!m || !resources) continue;
    const id = m[1].replaceAll("~1", "/").replaceAll("~0", "~");
    if (resourceErrorSeen.has(id)) continue;
    resourceErrorSeen.add(id);
    const resource = resources[id];
    const def = byType.get(resource?.Type) ?? (typeof resource?.Type === "string" && !resource.Type.startsWith("AWS::Serverless::") ? "samtranslator__internal__schema_source__any_cfn_resource__Resource" : undefined);
    if (!def) {
      errors.push(`Resources/${id}: ${resource?.Type === undefined ? "has no Type" : `Type ${JSON.stringify(resource.Type)} is not a resource type this schema knows`}`);
      continue;
    }
    const one = ajv.compile({ $ref: `${SCHEMA_KEY}#/definitions/${def}` });
    one(resource);
    for (const r of one.errors ?? []) errors.push(`Resources/${id}${r.instancePath}: ${describe(r)}`);
  }
  for (const e of validate.errors ?? []) {
    if (/^\/Resources\/[^/]+/.test(e.instancePath)) continue;
    errors.push(`${e.instancePath || "(template)"}: ${describe(e)}`);
  }
  return { ok: false, errors: [...new Set(errors)] };
}

/** `AWS::Serverless::Function` → the definition whose `Type` enum is exactly that. */
function resourceDefinitions(schema) {
  const map = new Map();
  for (const [name, def] of Object.entries(schema.definitions ?? {})) {
    const types = def?.properties?.Type?.enum;
    if (name.endsWith("__Resource") && Array.isArray(types) && types.length === 1) map.set(types[0], name);
  }
  return map;
}

function describe(e) {
  if (e.keyword === "additionalProperties") return `unknown property "${e.params.additionalProperty}"`;
  if (e.keyword === "enum") return `${e.message}: ${JSON.stringify(e.params.allowedValues)}`;
  return e.message ?? e.keyword;
}

function main(argv) {
  const [templatePath, schemaPath] = argv;
  if (!templatePath || !schemaPath || argv.length !== 2) {
    console.error("usage: node scripts/validate-sam.mjs <template.yaml> <sam.schema.json>");
    return 2;
  }
  let template;
  let schema;
  try {
    template = parseCfnYaml(fs.readFileSync(templatePath, "utf8"));
  } catch (err) {
    console.error(`${templatePath}: cannot be parsed: ${err.message}`);
    return 2;
  }
  try {
    schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
  } catch (err) {
    console.error(`${schemaPath}: cannot be read as JSON: ${err.message}`);
    return 2;
  }
  const { ok, errors } = validateSam(template, schema);
  if (ok) {
    console.log(`${templatePath}: valid against ${path.basename(schemaPath)}`);
    return 0;
  }
  console.error(`${templatePath}: ${errors.length} problem(s) against ${path.basename(schemaPath)}:`);
  for (const e of errors) console.error(`  ${e}`);
  return 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = main(process.argv.slice(2));
}
