/**
 * Releases: `scripts/release.mjs` (SHA256SUMS that `sha256sum -c` accepts, release.json naming each
 * zip's runtimes and architectures) and `scripts/publish-layer.sh`, run with a fake `aws` first on
 * PATH that records its arguments and answers like the AWS CLI does with `--output text`.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { ROOT, cleanEnv, run } from "./helpers.ts";

const SLIM = "vault-lambda-agent-layer.zip";
const X86 = "vault-lambda-agent-standalone-x86_64.zip";
const ARM = "vault-lambda-agent-standalone-arm64.zip";
const RELEASE = path.join(ROOT, "scripts/release.mjs");
const PUBLISH = path.join(ROOT, "scripts/publish-layer.sh");
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string }).version;

const tmpDirs: string[] = [];
afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

let dir: string;
let dist: string;
let bin: string;
let awsLog: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-release-"));
  tmpDirs.push(dir);
  dist = path.join(dir, "dist");
  bin = path.join(dir, "bin");
  awsLog = path.join(dir, "aws-calls.jsonl");
  fs.mkdirSync(dist);
  fs.mkdirSync(bin);
  // Each layer gets its own version number, so that a grant naming the wrong one shows.
  fs.writeFileSync(
    path.join(bin, "aws"),
    `#!${process.execPath}
const fs = require("fs");
const args = process.argv.slice(2);
fs.appendFileSync(process.env.FAKE_AWS_LOG, JSON.stringify(args) + "\\n");
if (args.includes("publish-layer-version")) {
  const name = args[args.indexOf("--layer-name") + 1];
  const version = { "vault-lambda-agent": 7, "vault-lambda-agent-standalone-x86_64": 3, "vault-lambda-agent-standalone-arm64": 4 }[name] ?? 1;
  process.stdout.write("arn:aws:lambda:eu-west-1:123456789012:layer:" + name + ":" + version + "\\t" + version + "\\n");
} else if (args.includes("add-layer-version-permission")) {
  process.stdout.write('{"Sid":"x"}\\t' + "1\\n");
}
`,
    { mode: 0o755 },
  );
});

function zip(name: string, content = `${name} ${Math.random()}`): void {
  fs.writeFileSync(path.join(dist, name), content);
}

const release = (...args: string[]) => run(process.execPath, [RELEASE, "--dist", dist, ...args], { env: cleanEnv(), timeoutMs: 20_000 });
const publish = (...args: string[]) =>
  run(PUBLISH, ["--dist", dist, ...args], { env: cleanEnv({ PATH: `${bin}:${process.env.PATH}`, FAKE_AWS_LOG: awsLog }), cwd: dir, timeoutMs: 30_000 });
const awsCalls = (): string[][] => (fs.existsSync(awsLog) ? fs.readFileSync(awsLog, "utf8").trim().split("\n").filter(Boolean).map((l) => JSON.parse(l) as string[]) : []);
/** The values that follow an option, up to the next option. */
function option(call: string[], name: string): string[] {
  const i = call.indexOf(name);
  if (i < 0) return [];
  const out: string[] = [];
  for (let j = i + 1; j < call.length && !call[j]!.startsWith("--"); j++) out.push(call[j]!);
  return out;
}

describe("npm run release", () => {
  it("writes SHA256SUMS over every zip (sha256sum -c accepts it) and release.json with each zip's runtimes and architectures", async () => {
    for (const z of [SLIM, X86, ARM]) zip(z);
    const r = await release();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    const sums = fs.readFileSync(path.join(dist, "SHA256SUMS"), "utf8");
    const expected = [SLIM, ARM, X86].map((z) => `${createHash("sha256").update(fs.readFileSync(path.join(dist, z))).digest("hex")}  ${z}\n`).join("");
    expect(sums).toBe(expected);
    const check = await run("sha256sum", ["--strict", "-c", "SHA256SUMS"], { env: cleanEnv(), cwd: dist });
    expect(check.code, check.stderr).toBe(0);
    expect(check.stdout.trim().split("\n")).toEqual([`${SLIM}: OK`, `${ARM}: OK`, `${X86}: OK`]);

    const manifest = JSON.parse(fs.readFileSync(path.join(dist, "release.json"), "utf8"));
    expect(manifest).toMatchObject({ name: "vault-lambda-agent", version: VERSION, license: "MPL-2.0" });
    const byFile = Object.fromEntries(manifest.artifacts.map((a: { file: string }) => [a.file, a]));
    expect(byFile[SLIM]).toMatchObject({ flavor: "slim", layerName: "vault-lambda-agent", runtimes: ["nodejs20.x", "nodejs22.x", "nodejs24.x"], architectures: ["x86_64", "arm64"] });
    expect(byFile[X86]).toMatchObject({ flavor: "standalone", architectures: ["x86_64"] });
    expect(byFile[ARM]).toMatchObject({ flavor: "standalone", architectures: ["arm64"] });
    for (const a of [byFile[X86], byFile[ARM]]) {
      expect(a.runtimes).toEqual(expect.arrayContaining(["python3.12", "java21", "provided.al2023", "nodejs22.x"]));
      expect(a.runtimes.length).toBeLessThanOrEqual(15); // Lambda's limit
      expect(a.runtimes.filter((rt: string) => /al2$|^python3\.1[01]$|^java(8\.al2|11|17)$/.test(rt))).toEqual([]);
    }
  });

  it("names a missing standalone zip in a warning (an error with --require-all), and refuses a zip it does not know", async () => {
    zip(SLIM);
    const partial = await release();
    expect(partial.code).toBe(0);
    expect(partial.stderr).toContain(`warning: ${X86} is not in`);
    expect(partial.stderr).toContain(`warning: ${ARM} is not in`);
    expect(fs.readFileSync(path.join(dist, "SHA256SUMS"), "utf8").trim().split("\n")).toHaveLength(1);

    const strict = await release("--require-all");
    expect(strict.code).toBe(1);
    expect(strict.stderr).toContain(`missing in ${dist}: ${X86}, ${ARM}`);

    zip("something-else.zip");
    const unknown = await release();
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain("something-else.zip: not a layer this release knows");
  });
});

describe("scripts/publish-layer.sh", () => {
  async function released(): Promise<void> {
    for (const z of [SLIM, X86, ARM]) zip(z);
    expect((await release()).code).toBe(0);
  }

  it("publishes each zip with its runtimes and architectures and grants the accounts and the organisation on the version it got", async () => {
    await released();
    const r = await publish("--region", "eu-west-1", "--grant-account", "210987654321", "--grant-account", "111122223333", "--grant-org", "o-abcdefghij");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim().split("\n")).toEqual([
      `published ${SLIM} as arn:aws:lambda:eu-west-1:123456789012:layer:vault-lambda-agent:7`,
      `published ${ARM} as arn:aws:lambda:eu-west-1:123456789012:layer:vault-lambda-agent-standalone-arm64:4`,
      `published ${X86} as arn:aws:lambda:eu-west-1:123456789012:layer:vault-lambda-agent-standalone-x86_64:3`,
    ]);
    const calls = awsCalls();
    expect(calls.every((c) => c[0] === "--region" && c[1] === "eu-west-1")).toBe(true);
    const publishes = calls.filter((c) => c.includes("publish-layer-version"));
    expect(publishes.map((c) => [option(c, "--layer-name")[0], option(c, "--zip-file")[0], option(c, "--compatible-architectures").join(" ")])).toEqual([
      ["vault-lambda-agent", `fileb://${dist}/${SLIM}`, "x86_64 arm64"],
      ["vault-lambda-agent-standalone-arm64", `fileb://${dist}/${ARM}`, "arm64"],
      ["vault-lambda-agent-standalone-x86_64", `fileb://${dist}/${X86}`, "x86_64"],
    ]);
    const slim = publishes[0]!;
    expect(option(slim, "--compatible-runtimes")).toEqual(["nodejs20.x", "nodejs22.x", "nodejs24.x"]);
    expect(option(slim, "--license-info")).toEqual(["MPL-2.0"]);
    expect(option(slim, "--description")[0]).toBe(`vault-lambda-agent ${VERSION} (slim, x86_64+arm64)`);
    expect(option(publishes[1]!, "--compatible-runtimes")).toContain("provided.al2023");

    const grants = calls.filter((c) => c.includes("add-layer-version-permission")).map((c) => [option(c, "--layer-name")[0], option(c, "--version-number")[0], option(c, "--principal")[0], option(c, "--organization-id")[0] ?? "", option(c, "--action")[0]]);
    expect(grants).toEqual([
      ["vault-lambda-agent", "7", "210987654321", "", "lambda:GetLayerVersion"],
      ["vault-lambda-agent", "7", "111122223333", "", "lambda:GetLayerVersion"],
      ["vault-lambda-agent", "7", "*", "o-abcdefghij", "lambda:GetLayerVersion"],
      ["vault-lambda-agent-standalone-arm64", "4", "210987654321", "", "lambda:GetLayerVersion"],
      ["vault-lambda-agent-standalone-arm64", "4", "111122223333", "", "lambda:GetLayerVersion"],
      ["vault-lambda-agent-standalone-arm64", "4", "*", "o-abcdefghij", "lambda:GetLayerVersion"],
      ["vault-lambda-agent-standalone-x86_64", "3", "210987654321", "", "lambda:GetLayerVersion"],
      ["vault-lambda-agent-standalone-x86_64", "3", "111122223333", "", "lambda:GetLayerVersion"],
      ["vault-lambda-agent-standalone-x86_64", "3", "*", "o-abcdefghij", "lambda:GetLayerVersion"],
    ]);
  });

  it("--only standalone in two regions: each zip uploaded to that region's bucket ({region}) and published from S3 there", async () => {
    await released();
    const r = await publish("--only", "standalone", "--region", "eu-west-1", "--region", "us-east-1", "--s3-bucket", "artifacts-{region}");
    expect(r.code, r.stderr).toBe(0);
    const calls = awsCalls();
    expect(calls.map((c) => `${c[1]} ${c[2]} ${c[3]}`)).toEqual([
      "eu-west-1 s3 cp",
      "eu-west-1 lambda publish-layer-version",
      "eu-west-1 s3 cp",
      "eu-west-1 lambda publish-layer-version",
      "us-east-1 s3 cp",
      "us-east-1 lambda publish-layer-version",
      "us-east-1 s3 cp",
      "us-east-1 lambda publish-layer-version",
    ]);
    expect(calls[0]!.slice(4, 6)).toEqual([`${dist}/${ARM}`, `s3://artifacts-eu-west-1/vault-lambda-agent/${VERSION}/${ARM}`]);
    expect(option(calls[1]!, "--content")).toEqual([`S3Bucket=artifacts-eu-west-1,S3Key=vault-lambda-agent/${VERSION}/${ARM}`]);
    expect(option(calls[7]!, "--content")).toEqual([`S3Bucket=artifacts-us-east-1,S3Key=vault-lambda-agent/${VERSION}/${X86}`]);
    expect(r.stdout.trim().split("\n")).toHaveLength(4);
  });

  it("publishes nothing when a zip does not match SHA256SUMS", async () => {
    await released();
    fs.appendFileSync(path.join(dist, X86), "tampered");
    const r = await publish();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("does not match SHA256SUMS; nothing was published");
    expect(r.stderr).toContain(`${X86}: FAILED`);
    expect(awsCalls()).toEqual([]);
  });

  it("--dry-run checks the sums and prints the commands without running aws; bad input is refused with the reason", async () => {
    await released();
    const dry = await publish("--dry-run", "--grant-account", "210987654321");
    expect(dry.code, dry.stderr).toBe(0);
    expect(awsCalls()).toEqual([]);
    expect(dry.stderr.split("\n").filter((l) => l.startsWith("+ aws lambda publish-layer-version"))).toHaveLength(3);
    expect(dry.stderr).toContain("--principal 210987654321");

    const badAccount = await publish("--grant-account", "12345");
    expect(badAccount.code).toBe(2);
    expect(badAccount.stderr).toContain("an AWS account id is 12 digits");
    fs.rmSync(path.join(dist, "release.json"));
    const notReleased = await publish();
    expect(notReleased.code).toBe(2);
    expect(notReleased.stderr).toContain("run `npm run release` first");
    expect(awsCalls()).toEqual([]);
  });
});
