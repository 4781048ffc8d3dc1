/**
 * The README's "Reading a secret from Python, Java or Go" snippets, taken from README.md as they are
 * written (only the port changed to this test's), run against the real extension: the standalone
 * x86_64 layer under the Lambda emulator, logged in to the Vault test server. The toolchains are
 * prerequisites of `npm run test:real` (python3 and go) or installed by it (a JDK,
 * scripts/real-peers/install-50-jdk.sh); a missing one fails its test, saying which.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LambdaEmulator } from "../peers/lambda/emulator.ts";
import { FIXTURES, ROOT, World, freePort } from "../integration/harness.ts";
import { extractZip, requireBuilt, run } from "../packaging/helpers.ts";

const ZIP = path.join(ROOT, "dist", "vault-lambda-agent-standalone-x86_64.zip");
const README = fs.readFileSync(path.join(ROOT, "README.md"), "utf8");

function has(tool: string): boolean {
  try {
    execFileSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** The first fenced block of `lang` after the heading "Reading a secret from Python, Java or Go". */
function snippet(lang: string): string {
  const section = README.slice(README.indexOf("### Reading a secret from Python, Java or Go"));
  const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(section);
  if (!m) throw new Error(`README.md has no ${lang} snippet under "Reading a secret from Python, Java or Go"`);
  return m[1]!;
}

function requireTools(...commands: string[]): void {
  const missing = commands.filter((c) => !has(c));
  if (missing.length > 0) throw new Error(`${missing.join(", ")} not installed: run scripts/real-peers/install.sh (npm run test:real does)`);
}

let world: World;
let fn: LambdaEmulator;
let opt: string;
let work: string;
let port: number;

beforeAll(async () => {
  requireBuilt(ZIP);
  opt = fs.mkdtempSync(path.join(os.tmpdir(), "vla-opt-snippets-"));
  work = fs.mkdtempSync(path.join(os.tmpdir(), "vla-snippets-"));
  await extractZip(ZIP, opt);
  world = await World.start();
  port = await freePort();
  // Not frozen between invokes: the snippets call the extension from outside the environment.
  fn = await world.lambda(
    { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_AGENT_PORT: String(port) },
    { layerDir: opt, functionDir: path.join(FIXTURES, "standalone-python"), handler: "app.handler", runtime: "python", freezeBetweenInvokes: false },
  );
  const init = await fn.start();
  expect(init.ok, JSON.stringify(init.error)).toBe(true);
}, 60_000);

afterAll(async () => {
  world?.leakScan();
  await world?.close();
  for (const d of [opt, work]) if (d) fs.rmSync(d, { recursive: true, force: true });
});

/** A snippet as the README has it, pointed at this test's port. */
function source(lang: string): string {
  const text = snippet(lang);
  expect(text).toContain("127.0.0.1:8200");
  return text.replaceAll("127.0.0.1:8200", `127.0.0.1:${port}`);
}

function snippetEnv(): Record<string, string> {
  return { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: process.env.HOME ?? work, AWS_SESSION_TOKEN: world.sessionToken };
}

/** The username Vault issued for the function's one database lease. */
function issuedUsername(): string {
  const leases = world.vault.leases().filter((l) => l.path.startsWith("database/creds/app") && !l.revokedAt);
  expect(leases.length).toBeGreaterThan(0);
  return leases.at(-1)!.data.username as string;
}

describe("the README's snippets against the standalone layer's extension", () => {
  it("Python (urllib)", async () => {
    requireTools("python3");
    const file = path.join(work, "snippet.py");
    fs.writeFileSync(file, `${source("python")}\nimport json as _json\nprint(_json.dumps(read_secret("db")))\n`);
    const r = await run("python3", [file], { env: snippetEnv(), cwd: work, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const secret = JSON.parse(r.stdout) as { data: { username: string } };
    expect(secret.data.username).toBe(issuedUsername());
  });

  it("Java (java.net.http)", async () => {
    requireTools("javac", "java");
    const dir = path.join(work, "java");
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, "VaultSecrets.java"), source("java"));
    fs.writeFileSync(path.join(dir, "Main.java"), 'public class Main { public static void main(String[] a) throws Exception { System.out.println(VaultSecrets.field("db", "username")); System.out.println(VaultSecrets.json("db")); } }\n');
    const compiled = await run("javac", ["-d", dir, path.join(dir, "VaultSecrets.java"), path.join(dir, "Main.java")], { env: snippetEnv(), cwd: dir, timeoutMs: 90_000 });
    expect(compiled.code, compiled.stderr).toBe(0);
    const r = await run("java", ["-cp", dir, "Main"], { env: snippetEnv(), cwd: dir, timeoutMs: 60_000 });
    expect(r.code, r.stderr).toBe(0);
    const [field, json] = r.stdout.trim().split("\n");
    expect(field).toBe(issuedUsername());
    expect((JSON.parse(json!) as { data: { username: string } }).data.username).toBe(field);
  });

  it("Go (net/http)", async () => {
    requireTools("go");
    const dir = path.join(work, "go");
    fs.mkdirSync(dir);
    const main = 'func main() {\n\ts, err := ReadSecret("db")\n\tif err != nil {\n\t\tpanic(err)\n\t}\n\tfmt.Println(s.Data["username"], s.LeaseID != "", !s.ExpiresAt.IsZero())\n}\n';
    fs.writeFileSync(path.join(dir, "main.go"), `package main\n\n${source("go")}\n${main}`);
    const env = { ...snippetEnv(), GOTOOLCHAIN: "local", ...(process.env.GOCACHE ? { GOCACHE: process.env.GOCACHE } : {}), ...(process.env.GOPATH ? { GOPATH: process.env.GOPATH } : {}) };
    const r = await run("go", ["run", path.join(dir, "main.go")], { env, cwd: dir, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(`${issuedUsername()} true true`);
  });
});
