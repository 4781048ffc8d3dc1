/**
 * The SAM CLI and cfn-lint (PyPI, pinned by scripts/real-peers/install-10-python-tools.sh) on the
 * repository's template.yaml: it lints clean, and `sam build` runs the makefile build of the layer
 * locally (no Docker) into a layer whose extensions are executable.
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REAL_DIR, ROOT, requireInstalled } from "./peers.ts";

const SAM = path.join(REAL_DIR, "venv/bin/sam");
const CFN_LINT = path.join(REAL_DIR, "venv/bin/cfn-lint");
const TEMPLATE = path.join(ROOT, "template.yaml");
const work = fs.mkdtempSync(path.join(os.tmpdir(), "vla-sam-"));

function run(cmd: string, args: string[]) {
  requireInstalled(cmd);
  // No telemetry, no update check: CI reaches only the package registries.
  const r = spawnSync(cmd, args, {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 300_000,
    env: { ...process.env, SAM_CLI_TELEMETRY: "0", SAM_CLI_DISABLE_UPDATE_CHECK: "1", AWS_REGION: "eu-west-1", AWS_DEFAULT_REGION: "eu-west-1", HOME: work },
  });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

describe("template.yaml under the SAM CLI", () => {
  it("cfn-lint finds nothing", () => {
    const r = run(CFN_LINT, [TEMPLATE]);
    expect(r.status, r.out).toBe(0);
  });

  it("sam validate --lint: a valid SAM template", () => {
    const r = run(SAM, ["validate", "--lint", "--template", TEMPLATE]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain("is a valid SAM Template");
  });

  // The slim layer only: SAM copies the whole ContentUri (the repository) for every makefile build, so
  // the two standalone layers would triple the time; their Makefile targets are exercised directly
  // by test/packaging/standalone.test.ts.
  it("sam build: the makefile build gives a layer with executable extensions and their bundles", () => {
    const buildDir = path.join(work, "build");
    const r = run(SAM, ["build", "VaultLambdaAgentLayer", "--template", TEMPLATE, "--build-dir", buildDir, "--cache-dir", path.join(work, "cache")]);
    expect(r.status, r.out).toBe(0);
    expect(r.out).toContain("Build Succeeded");
    const layers = fs.readdirSync(buildDir).filter((d) => fs.existsSync(path.join(buildDir, d, "extensions")));
    expect(layers.length, r.out).toBeGreaterThan(0);
    for (const layer of layers) {
      const extensions = fs.readdirSync(path.join(buildDir, layer, "extensions"));
      expect(extensions.length).toBeGreaterThan(0);
      for (const ext of extensions) {
        const file = path.join(buildDir, layer, "extensions", ext);
        expect(fs.statSync(file).mode & 0o111, `${layer}/extensions/${ext} is executable`).not.toBe(0);
      }
    }
    expect(layers.some((layer) => fs.existsSync(path.join(buildDir, layer, "vault-lambda-agent", "index.mjs"))), "a layer carries the bundle").toBe(true);
  });
});
