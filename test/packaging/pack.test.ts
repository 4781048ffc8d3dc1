/**
 * The npm package as a user gets it: `npm pack` on a copy of the source tree (what a fresh clone or
 * a git dependency has: no dist/, no layer/; `prepack` must build them), then the tarball installed
 * offline — it has no dependency to fetch — into scratch projects, and those projects' handlers run
 * under the Lambda emulator with the built layer against the Vault and STS test servers:
 *  - an ESM project importing `vault-lambda-agent/client` and `/client/powertools` from JavaScript
 *    and from TypeScript compiled under nodenext, and running the package's `dev` bin (on that
 *    handler and on a Python one);
 *  - a CommonJS TypeScript project compiled by tsc under moduleResolution node10 (typesVersions),
 *    node16 (the "require" condition: .cjs + .d.cts) and bundler (type-checked, then bundled by
 *    esbuild as a SAM esbuild build would), with typed generics (`get<string>`) that must compile.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, freePort } from "../integration/harness.ts";
import { LAYER_DIR, ROOT, cleanEnv, requireBuilt, run } from "./helpers.ts";

const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");
const SECRETS = { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_PATH_CONFIG: "secret/data/app/config" };
const tmpDirs: string[] = [];
const tmp = (prefix: string): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
};

let tarball: string;
let packedFiles: string[];

beforeAll(async () => {
  // A copy of the tree as git has it (tracked files and new unignored ones): no dist/, no layer/.
  const src = tmp("vla-pack-src-");
  const files = execFileSync("git", ["ls-files", "--cached", "--others", "--exclude-standard", "-z"], { cwd: ROOT, encoding: "utf8" })
    .split("\0")
    .filter((f) => f && fs.existsSync(path.join(ROOT, f)));
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(src, f)), { recursive: true });
    fs.copyFileSync(path.join(ROOT, f), path.join(src, f));
  }
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(src, "node_modules"));
  expect(fs.existsSync(path.join(src, "dist"))).toBe(false);

  const dest = tmp("vla-pack-out-");
  const r = await run("npm", ["pack", "--json", "--pack-destination", dest], { env: cleanEnv({ npm_config_update_notifier: "false" }), cwd: src, timeoutMs: 150_000 });
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  const report = JSON.parse(r.stdout.slice(r.stdout.indexOf("["))) as Array<{ filename: string; files: Array<{ path: string }> }>;
  tarball = path.join(dest, report[0]!.filename);
  packedFiles = report[0]!.files.map((f) => f.path).sort();
}, 180_000);

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe("the tarball", () => {
  it("holds the built client (ESM, CJS, both kinds of types), the dev command, the layer tree and the legal files; no sources, no tests", () => {
    for (const f of [
      "dist/client/index.js",
      "dist/client/index.cjs",
      "dist/client/index.d.ts",
      "dist/client/index.d.cts",
      "dist/client/powertools.js",
      "dist/client/powertools.cjs",
      "dist/client/powertools.d.ts",
      "dist/client/powertools.d.cts",
      "dist/dev/cli.mjs",
      "dist/dev/run.mjs",
      "layer/extensions/vault-lambda-agent",
      "layer/vault-lambda-agent/index.mjs",
      "layer/vault-lambda-agent/assume-role.mjs",
      "layer/vault-lambda-agent/NOTICE",
      "LICENSE",
      "NOTICE",
      "CHANGELOG.md",
      "SECURITY.md",
      "README.md",
      "docs/vault-setup.md",
      "docs/migration-from-vle.md",
      "package.json",
    ]) {
      expect(packedFiles, f).toContain(f);
    }
    expect(packedFiles.filter((f) => /^(src|test|scripts|bench|examples)\//.test(f) || f.endsWith(".zip"))).toEqual([]);
  });

  it("declares no runtime dependency, and the Powertools peer as optional", () => {
    const pkg = JSON.parse(execFileSync("tar", ["-xzOf", tarball, "package/package.json"], { encoding: "utf8" })) as Record<string, any>;
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.peerDependenciesMeta["@aws-lambda-powertools/parameters"]).toEqual({ optional: true });
    expect(pkg.bin).toEqual({ "vault-lambda-agent": "dist/dev/cli.mjs" });
  });
});

/** A scratch project with the tarball installed offline (and Powertools linked from this repo). */
async function scratchProject(pkg: Record<string, unknown>): Promise<string> {
  const dir = tmp("vla-scratch-");
  fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "scratch-fn", version: "1.0.0", private: true, ...pkg }));
  const r = await run("npm", ["install", "--offline", "--no-audit", "--no-fund", tarball], { env: cleanEnv({ npm_config_update_notifier: "false" }), cwd: dir, timeoutMs: 60_000 });
  expect(r.code, r.stderr.slice(-2000)).toBe(0);
  // Nothing but the package itself: no @aws-sdk, no @smithy in the function.
  expect(fs.readdirSync(path.join(dir, "node_modules")).filter((f) => !f.startsWith("."))).toEqual(["vault-lambda-agent"]);
  // The optional peer, as a function that uses Powertools has it (linked after install, or npm would prune it).
  fs.symlinkSync(path.join(ROOT, "node_modules/@aws-lambda-powertools"), path.join(dir, "node_modules/@aws-lambda-powertools"));
  return dir;
}

const HANDLER_TS = `import { getSecret, getField, VaultAgentError, type Secret } from "vault-lambda-agent/client";
import { VaultAgentProvider } from "vault-lambda-agent/client/powertools";

interface Db { username: string; password: string }
declare const require: unknown; // CommonJS's, looked at only to report the module format
const vault = new VaultAgentProvider();

export const handler = async (): Promise<Record<string, unknown>> => {
  const db: Secret<Db> = await getSecret<Db>("db");
  const password: string = await getField("db", "password");
  const apiKey: string | undefined = await vault.get<string>("config", { sdkOptions: { field: "api_key" } });
  const config = await vault.get<{ api_key: string; region: string }>("config");
  const region: string | undefined = config?.region;
  let undeclared = "";
  try {
    await getSecret("nope");
  } catch (err) {
    undeclared = err instanceof VaultAgentError ? \`VaultAgentError \${err.status}\` : String(err);
  }
  return { user: db.data.username, samePassword: password === db.data.password, apiKey, region, undeclared, module: typeof require === "function" ? "cjs" : "esm" };
};
`;

const HANDLER_MJS = `import { getSecret, getField, VaultAgentError } from "vault-lambda-agent/client";
import { VaultAgentProvider } from "vault-lambda-agent/client/powertools";

const vault = new VaultAgentProvider();
export const handler = async () => {
  const db = await getSecret("db");
  const password = await getField("db", "password");
  const apiKey = await vault.get("config", { sdkOptions: { field: "api_key" } });
  const region = (await vault.get("config"))?.region;
  let undeclared = "";
  try {
    await getSecret("nope");
  } catch (err) {
    undeclared = err instanceof VaultAgentError ? \`VaultAgentError \${err.status}\` : String(err);
  }
  return { user: db.data.username, samePassword: password === db.data.password, apiKey, region, undeclared, module: typeof require === "function" ? "cjs" : "esm" };
};
`;

describe("installed in a function, run under the emulator with the layer", () => {
  let world: World;

  beforeAll(async () => {
    requireBuilt(path.join(LAYER_DIR, "extensions", "vault-lambda-agent"));
    world = await World.start();
  });

  afterAll(async () => {
    world?.leakScan();
    await world?.close();
  });

  async function invokeOnce(functionDir: string, handler: string): Promise<Record<string, unknown>> {
    const fn = await world.lambda(SECRETS, { functionDir, handler });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const r = await fn.invoke({});
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    await fn.shutdown();
    return r.response as Record<string, unknown>;
  }

  function expectSecrets(out: Record<string, unknown>, module: "cjs" | "esm"): void {
    const issued = world.vault.leases().filter((l) => l.path === "database/creds/app");
    expect(issued.map((l) => (l.data as { username: string }).username)).toContain(out.user);
    expect(out).toMatchObject({ samePassword: true, apiKey: "kv-api-key-7f3a9c", region: "eu-west-1", undeclared: "VaultAgentError 404", module });
  }

  it("an ESM project (JavaScript, and TypeScript under nodenext) imports ./client and ./client/powertools and reads its secrets", async () => {
    const dir = await scratchProject({ type: "module" });
    fs.writeFileSync(path.join(dir, "index.mjs"), HANDLER_MJS);
    expectSecrets(await invokeOnce(dir, "index.handler"), "esm");

    // The same project in TypeScript under nodenext: the "import" condition and its .d.ts.
    fs.mkdirSync(path.join(dir, "src"));
    fs.writeFileSync(path.join(dir, "src/handler.ts"), HANDLER_TS);
    const compilerOptions = { target: "ES2022", strict: true, skipLibCheck: false, types: [], lib: ["ES2022", "DOM"], rootDir: "src", module: "nodenext", moduleResolution: "nodenext", outDir: "out-nodenext" };
    fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, include: ["src"] }));
    const tsc = await run(process.execPath, [TSC, "-p", "tsconfig.json"], { env: cleanEnv(), cwd: dir, timeoutMs: 60_000 });
    expect(tsc.code, `tsc (nodenext, ESM): ${tsc.stdout}${tsc.stderr}`).toBe(0);
    expectSecrets(await invokeOnce(path.join(dir, "out-nodenext"), "handler.handler"), "esm");

    // The package's bin, from the install: the same handler under `vault-lambda-agent dev` (sandbox).
    const env = cleanEnv();
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[k];
    const r = await run(path.join(dir, "node_modules/.bin/vault-lambda-agent"), ["dev", ".", "index.handler", "--port", String(await freePort()), "--invokes", "1"], { env, cwd: dir, timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/cold start \(init\) +\d+ ms {3}vault: auth\/aws\/login/);
    expect(r.stdout).toMatch(/handler saw: \{"user":"v-[^"]+","samePassword":true,"apiKey":"sandbox-api-key"/);

    // And a Python handler (urllib) beside it: the installed slim layer, run on the bin's own node.
    fs.copyFileSync(path.join(ROOT, "examples/orders-function-python/app.py"), path.join(dir, "app.py"));
    const py = await run(path.join(dir, "node_modules/.bin/vault-lambda-agent"), ["dev", ".", "app.handler", "--port", String(await freePort()), "--invokes", "1"], { env, cwd: dir, timeoutMs: 60_000 });
    expect(py.code, py.stdout + py.stderr).toBe(0);
    expect(py.stdout).toMatch(/Runtime: python 3\.\d+ .*temporary copy of the layer/);
    expect(py.stdout).toMatch(/handler saw: \{"configKeys":\["api_key","feature_flags"\],"dbUser":"v-/);
    expect(py.stdout).toMatch(/extension exit 0; revoked: 1 lease\(s\), 1 token\(s\)/);
  }, 90_000);

  it("a CommonJS TypeScript project compiles under moduleResolution node10, node16 and bundler, and each build reads its secrets", async () => {
    const dir = await scratchProject({ type: "commonjs" });
    fs.mkdirSync(path.join(dir, "src"));
    fs.writeFileSync(path.join(dir, "src/handler.ts"), HANDLER_TS);
    const base = { target: "ES2022", strict: true, skipLibCheck: false, types: [], lib: ["ES2022", "DOM"], rootDir: "src" };
    const configs: Record<string, Record<string, unknown>> = {
      node10: { ...base, module: "commonjs", moduleResolution: "node10", outDir: "out-node10" },
      node16: { ...base, module: "node16", moduleResolution: "node16", outDir: "out-node16" },
      bundler: { ...base, module: "esnext", moduleResolution: "bundler", noEmit: true },
    };
    for (const [name, compilerOptions] of Object.entries(configs)) {
      fs.writeFileSync(path.join(dir, `tsconfig.${name}.json`), JSON.stringify({ compilerOptions, include: ["src"] }));
      const r = await run(process.execPath, [TSC, "-p", `tsconfig.${name}.json`], { env: cleanEnv(), cwd: dir, timeoutMs: 60_000 });
      expect(r.code, `tsc (${name}): ${r.stdout}${r.stderr}`).toBe(0);
    }
    // The bundler build: what a SAM esbuild build does with the type-checked source.
    await build({ entryPoints: [path.join(dir, "src/handler.ts")], outfile: path.join(dir, "out-bundler/handler.js"), bundle: true, platform: "node", format: "cjs", target: "node20", logLevel: "silent" });

    for (const out of ["out-node10", "out-node16", "out-bundler"]) {
      expectSecrets(await invokeOnce(path.join(dir, out), "handler.handler"), "cjs");
    }
  }, 120_000);
});
