/**
 * The layer as it ships: the zip's exact content and Unix modes, the zip's launcher run from where
 * it was extracted (as Lambda runs /opt), the bundle's size and its lazily loaded STS part, and the
 * launcher's behaviour on a runtime without Node.js.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LambdaEmulator } from "../peers/lambda/emulator.ts";
import { EXTENSION_NAME, LAYER_DIR, LAYER_ZIP, PACKAGING_FIXTURES, extractZip, readZip, requireBuilt, run, slimZipListing, type ZipEntryInfo } from "./helpers.ts";

const LAUNCHER = path.join(LAYER_DIR, "extensions", EXTENSION_NAME);
const BUNDLE = path.join(LAYER_DIR, EXTENSION_NAME, "index.mjs");
const STS_BUNDLE = path.join(LAYER_DIR, EXTENSION_NAME, "assume-role.mjs");
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

const tmpDirs: string[] = [];
function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

beforeAll(() => requireBuilt(LAYER_ZIP, LAUNCHER, BUNDLE, STS_BUNDLE));

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("the layer zip", () => {
  let entries: ZipEntryInfo[];

  beforeAll(async () => {
    entries = await readZip(LAYER_ZIP);
  });

  it("holds exactly the launcher (a 0755 regular file), the two bundle files and LICENSE and NOTICE (0644), made by Unix", () => {
    const listing = Object.fromEntries(entries.map((e) => [e.fileName, `${(e.unixMode & S_IFMT) === S_IFREG ? "file" : "not a file"} ${(e.unixMode & 0o7777).toString(8)}`]));
    expect(listing).toEqual(slimZipListing());
    // Unzip (and Lambda) honour the mode bits only for entries made by a Unix host.
    expect(entries.map((e) => e.madeBy)).toEqual([3, 3, 3, 3, 3]);
  });

  it("is the same tree as layer/: every entry byte-identical to the built file", () => {
    for (const e of entries) expect(e.data.equals(fs.readFileSync(path.join(LAYER_DIR, e.fileName))), e.fileName).toBe(true);
    const launcher = entries.find((e) => e.fileName === `extensions/${EXTENSION_NAME}`)!.data.toString("utf8");
    expect(launcher.startsWith("#!/bin/sh\n")).toBe(true);
  });

  it("keeps the cold-start bundle small and the STS client out of it: loaded only when VAULT_ASSUMED_ROLE_ARN is set", () => {
    const index = entries.find((e) => e.fileName === `${EXTENSION_NAME}/index.mjs`)!.data.toString("utf8");
    const sts = entries.find((e) => e.fileName === `${EXTENSION_NAME}/assume-role.mjs`)!.data.toString("utf8");
    expect(Buffer.byteLength(index)).toBeLessThanOrEqual(150 * 1024);
    expect(index).not.toContain("AssumeRoleCommand");
    expect(index).not.toContain("STSClient");
    expect(sts).toContain("AssumeRoleCommand");
    // The one way from the extension to the STS bundle is a dynamic import next to it.
    expect(index).toContain('import("./assume-role.mjs")');
    // No import of a package: the layer has no node_modules, only node's built-ins are there.
    for (const [file, code] of [["index.mjs", index], ["assume-role.mjs", sts]] as const) {
      const imports = [...code.matchAll(/\bfrom\s*["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)].map((m) => m[1] ?? m[2]);
      expect(imports.length, file).toBeGreaterThan(0);
      expect(imports.filter((s) => !s!.startsWith("node:") && !s!.startsWith("./")), file).toEqual([]);
    }
    expect([...index.matchAll(/\brequire\(\s*["']([^"']+)["']/g)].map((m) => m[1])).toEqual([]);
  });

  it("runs from where it was extracted, as Lambda runs /opt: the launcher finds its bundle and a bad variable fails the init", async () => {
    const opt = tmpDir("vla-opt-");
    await extractZip(LAYER_ZIP, opt);
    expect((fs.statSync(path.join(opt, "extensions", EXTENSION_NAME)).mode & 0o777).toString(8)).toBe("755");
    const emulator = new LambdaEmulator({
      layerDir: opt,
      functionDir: PACKAGING_FIXTURES,
      handler: "client.handler",
      credentials: { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sessionToken: "session-token-example" },
      env: { VAULT_ADDR: "http://127.0.0.1:1", VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten", VAULT_SECRET_PATH_DB: "database/creds/app" },
      initTimeoutMs: 8_000,
    });
    try {
      const init = await emulator.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.ConfigInvalid");
      expect(init.error?.message).toContain("VAULT_TOKEN_EXPIRY_GRACE_PERIOD");
      // The extension itself reported it (it registered, so node ran the extracted bundle).
      const ext = init.extensions.find((e) => e.name === EXTENSION_NAME);
      expect(ext?.registeredAt).toBeDefined();
      expect(ext?.initError?.type).toBe("Extension.ConfigInvalid");
    } finally {
      await emulator.kill();
    }
  });
});

describe("the launcher", () => {
  it("on a runtime without node: exits non-zero with one line on stderr saying the layer needs a Node.js runtime", async () => {
    // PATH holds nothing at all, so neither node nor any helper program: only /bin/sh (the shebang).
    const emptyBin = tmpDir("vla-no-node-");
    const r = await run(LAUNCHER, [], { env: { PATH: emptyBin, AWS_LAMBDA_RUNTIME_API: "127.0.0.1:9" }, cwd: "/", timeoutMs: 5_000 });
    expect(r.signal).toBeNull();
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { level: string; message: string };
    expect(line.level).toBe("ERROR");
    expect(line.message).toMatch(/^vault-lambda-agent needs a Node\.js runtime \(nodejs20\.x, nodejs22\.x or nodejs24\.x\)/);
    // and where to go instead
    expect(line.message).toContain("use the standalone layer");
  });

  it("with node on PATH: runs the bundle next to it from any working directory, without the function's NODE_OPTIONS", async () => {
    const bin = tmpDir("vla-node-only-");
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    // A NODE_OPTIONS that would kill node before the bundle runs, had the launcher passed it on.
    const env = { PATH: bin, NODE_OPTIONS: `--require ${path.join(bin, "missing.cjs")}` };
    for (const [cwd, command] of [
      ["/", LAUNCHER],
      [LAYER_DIR, `./extensions/${EXTENSION_NAME}`],
    ] as const) {
      // No AWS_LAMBDA_RUNTIME_API: the bundle's own first check answers, which proves it ran.
      const r = await run(command, [], { env, cwd, timeoutMs: 10_000 });
      expect(r.stderr, `from ${cwd}`).not.toContain("missing.cjs");
      expect(r.stderr + r.stdout, `from ${cwd}`).toContain("AWS_LAMBDA_RUNTIME_API is not set");
      expect(r.code, `from ${cwd}`).toBe(1);
    }
  });
});
