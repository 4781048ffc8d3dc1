/**
 * SAM's build of the layer (`BuildMethod: makefile`): `sam build` runs `make build-VaultLambdaAgentLayer`
 * with ARTIFACTS_DIR set to the directory whose content becomes the layer. The target must put the
 * layer tree there (and nothing else of ours), with the modes Lambda needs whatever the umask, leave
 * what SAM put there alone, and refuse to run without ARTIFACTS_DIR.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { EXTENSION_NAME, LAYER_DIR, ROOT, cleanEnv, makeUnderUmask077, requireBuilt, run, treeModes, slimTreeModes } from "./helpers.ts";

const TARGET = "build-VaultLambdaAgentLayer";
const tmpDirs: string[] = [];

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe(`make ${TARGET}`, () => {
  it("builds the layer tree into ARTIFACTS_DIR: launcher 0755, bundle 0644, even under umask 077; other files there are kept", async () => {
    const artifacts = fs.mkdtempSync(path.join(os.tmpdir(), "vla-sam-artifacts-"));
    tmpDirs.push(artifacts);
    // Something SAM (or an earlier build) left: a foreign file stays, a stale file of ours goes.
    fs.writeFileSync(path.join(artifacts, "not-ours.txt"), "kept\n");
    fs.chmodSync(path.join(artifacts, "not-ours.txt"), 0o600);
    fs.mkdirSync(path.join(artifacts, EXTENSION_NAME));
    fs.writeFileSync(path.join(artifacts, EXTENSION_NAME, "stale.mjs"), "// from an older build\n");

    const r = await makeUnderUmask077(TARGET, artifacts);
    expect(r.code, r.stderr).toBe(0);

    expect(treeModes(artifacts)).toEqual({ "not-ours.txt": "0600", ...slimTreeModes() });
    expect(fs.readFileSync(path.join(artifacts, "not-ours.txt"), "utf8")).toBe("kept\n");
    // The launcher is the one `npm run build` writes (the same script, the same text).
    requireBuilt(path.join(LAYER_DIR, "extensions", EXTENSION_NAME));
    expect(fs.readFileSync(path.join(artifacts, "extensions", EXTENSION_NAME), "utf8")).toBe(fs.readFileSync(path.join(LAYER_DIR, "extensions", EXTENSION_NAME), "utf8"));
    expect(fs.statSync(path.join(artifacts, EXTENSION_NAME, "index.mjs")).size).toBeGreaterThan(10_000);
  });

  it("without ARTIFACTS_DIR: fails with a message that says what is missing, and builds nothing", async () => {
    const bundle = path.join(LAYER_DIR, EXTENSION_NAME, "index.mjs");
    const before = fs.existsSync(bundle) ? fs.statSync(bundle).mtimeMs : undefined;
    for (const args of [[TARGET], [TARGET, "ARTIFACTS_DIR="]]) {
      const r = await run("make", ["--no-print-directory", ...args], { env: cleanEnv(), cwd: ROOT, timeoutMs: 20_000 });
      expect(r.code, args.join(" ")).not.toBe(0);
      expect(r.stderr).toContain("ARTIFACTS_DIR is not set (sam build sets it)");
      expect(r.stdout).not.toContain("scripts/build.mjs --out");
    }
    expect(fs.existsSync(bundle) ? fs.statSync(bundle).mtimeMs : undefined).toBe(before);
  });
});
