/**
 * `vault-lambda-agent dev` as built into dist/dev/ (the package's bin): spawned on the example
 * handler against the sandbox and against a Vault named with --vault-addr, it prints the timeline
 * `npm start` prints and exits 0, for a Node.js and a Python handler; a failing init gets a non-zero
 * exit with the extension's reason, a wrong argument or a missing python3 a plain answer (exit 2), and
 * Ctrl-C leaves no process and no temporary layer behind.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, freePort } from "../integration/harness.ts";
import { ROOT, cleanEnv, requireBuilt, run, type RunResult } from "./helpers.ts";

const CLI = path.join(ROOT, "dist/dev/cli.mjs");
const EXAMPLE = path.join(ROOT, "examples/orders-function");
const PYTHON_EXAMPLE = path.join(ROOT, "examples/orders-function-python");

beforeAll(() => requireBuilt(CLI, path.join(ROOT, "dist/dev/run.mjs"), path.join(ROOT, "layer/extensions/vault-lambda-agent")));

async function dev(args: string[], env: Record<string, string> = {}) {
  // No AWS credentials of the host leak into a sandbox run: the sandbox has its own identity.
  const base = cleanEnv(env);
  for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) if (!(k in env)) delete base[k];
  return run(process.execPath, [CLI, "dev", ...args], { env: base, timeoutMs: 60_000 });
}

/** The phases of the timeline, in order, with the Vault calls of each. */
function timeline(stdout: string): Array<{ phase: string; vault: string }> {
  return [...stdout.matchAll(/^ {2}(\S.*?)\s+\d+ ms {3}vault: (.*)$/gm)].map((m) => ({ phase: m[1]!.trim(), vault: m[2]! }));
}

/**
 * A run of the example function (in either language: the same function) with --invokes 2 --freeze 1:
 * cold start (login, reads), invocations across a freeze, shutdown with revocations; exit 0.
 */
function expectExampleRun(r: RunResult): void {
  expect(r.code, r.stdout + r.stderr).toBe(0);
  const rows = timeline(r.stdout);
  expect(rows.map((x) => x.phase)).toEqual(["cold start (init)", "invoke 1", "frozen 1s (SIGSTOP)", "invoke 2", "shutdown"]);
  expect(rows[0]!.vault).toContain("auth/aws/login");
  expect(rows[0]!.vault).toContain("database/creds/example");
  expect(rows[0]!.vault).toContain("secret/data/example/config");
  expect(rows[1]!.vault).toBe("none"); // served from the extension's cache
  expect(rows[4]!.vault).toContain("sys/leases/revoke");
  expect(rows[4]!.vault).toContain("auth/token/revoke-self");
  expect(r.stdout).toMatch(/handler saw: \{"configKeys":\["api_key","feature_flags"\],"dbUser":"v-/);
  expect(r.stdout).toMatch(/extension exit 0; revoked: 1 lease\(s\), 1 token\(s\)/);
  expect(r.stdout).toContain("✓ init, every invocation and the shutdown went well");
}

describe("against the sandbox", () => {
  it("runs the example handler: cold start (login, reads), invocations across a freeze, shutdown with revocations; exit 0", async () => {
    const port = await freePort();
    const r = await dev([EXAMPLE, "index.handler", "--port", String(port), "--invokes", "2", "--freeze", "1"]);
    expectExampleRun(r);
    expect(r.stdout).toContain(`localhost API on 127.0.0.1:${port}`);
  }, 60_000);

  it("runs a Python handler that reads its secrets with urllib: the extension on this node from a temporary copy of the layer, removed at exit", async () => {
    const r = await dev([PYTHON_EXAMPLE, "app.handler", "--port", String(await freePort()), "--invokes", "2", "--freeze", "1"]);
    expectExampleRun(r);
    expect(r.stdout).toMatch(/Runtime: python 3\.\d+ \(this machine's python3\)/);
    expect(r.stdout).toContain(`the extension on this node (${process.version})`);
    const layer = temporaryLayer(r.stdout);
    expect(fs.existsSync(layer)).toBe(false);
  }, 60_000);

  it("an init that fails (a secret Vault does not have) exits 1 with the extension's reason", async () => {
    const r = await dev([EXAMPLE, "index.handler", "--port", String(await freePort()), "--secret", "db=database/creds/nope"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ the init failed \(vault-lambda-agent\): Extension\.SecretReadFailed: .*VAULT_SECRET_PATH_DB/);
  }, 60_000);

  it("usage errors exit 2 and say what to do", async () => {
    const missing = await dev([EXAMPLE, "main.handler"]);
    expect(missing.code).toBe(2);
    expect(missing.stdout).toContain("found no main.js, main.mjs or main.cjs in");
    expect(missing.stdout).toContain("nor main.py");
    const wrongLanguage = await dev([PYTHON_EXAMPLE, "app.handler", "--runtime", "nodejs22.x"]);
    expect(wrongLanguage.code).toBe(2);
    expect(wrongLanguage.stdout).toContain("found no app.js, app.mjs or app.cjs");
    const noPythonFile = await dev([EXAMPLE, "index.handler", "--runtime", "python3.12"]);
    expect(noPythonFile.code).toBe(2);
    expect(noPythonFile.stdout).toContain("found no index.py");
    const ruby = await dev([EXAMPLE, "index.handler", "--runtime", "ruby3.4"]);
    expect(ruby.code).toBe(2);
    expect(ruby.stdout).toContain("--runtime ruby3.4: use nodejs or python");
    const noArgs = await dev([]);
    expect(noArgs.code).toBe(2);
    expect(noArgs.stdout).toContain("usage: vault-lambda-agent dev <function-dir> <module.export>");
    const help = await run(process.execPath, [CLI, "--help"], { env: cleanEnv() });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("dev <function-dir> <module.export>");
    const unknown = await run(process.execPath, [CLI, "deploy"], { env: cleanEnv() });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "deploy"');
  }, 60_000);
});

describe("missing python3", () => {
  it("a Python handler without python3 on PATH: says so and how to fix it, starts nothing (exit 2)", async () => {
    const emptyPath = fs.mkdtempSync(path.join(os.tmpdir(), "vla-dev-nopython-"));
    try {
      const r = await dev([PYTHON_EXAMPLE, "app.handler", "--port", String(await freePort())], { PATH: emptyPath });
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.stdout).toContain("there is no python3 on PATH: install Python 3");
      expect(r.stdout).not.toContain("cold start");
    } finally {
      fs.rmSync(emptyPath, { recursive: true, force: true });
    }
  }, 30_000);
});

/** The temporary layer a Python run names in its header. */
function temporaryLayer(stdout: string): string {
  const dir = /temporary copy of the layer \((\S+), removed at exit\)/.exec(stdout)?.[1];
  expect(dir, stdout).toBeDefined();
  return dir!;
}

describe("interrupted", () => {
  const isIn = (p: string, dir: string): boolean => p === dir || p.startsWith(dir + path.sep);

  /** Live processes whose command line mentions `dir` or whose working directory is in it. */
  function processesIn(dir: string): number[] {
    const pids: number[] = [];
    for (const entry of fs.readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (fs.readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(dir) || isIn(fs.readlinkSync(`/proc/${entry}/cwd`), dir)) pids.push(Number(entry));
      } catch {
        /* gone meanwhile, or not ours to read */
      }
    }
    return pids;
  }

  /** Starts `dev` with `args`, sends SIGINT once invoke 1 is printed (frozen for 20 s then), waits for the exit. */
  async function interruptAfterFirstInvoke(args: string[], whileFrozen: (stdout: string) => void): Promise<{ code: number | string | null; stdout: string }> {
    const env = cleanEnv();
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[k];
    const child = spawn(process.execPath, [CLI, "dev", ...args, "--port", String(await freePort()), "--invokes", "3", "--freeze", "20"], { env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no freeze within 30 s: ${stdout}`)), 30_000);
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
        if (stdout.includes("invoke 1")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    try {
      whileFrozen(stdout);
    } finally {
      child.kill("SIGINT");
    }
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running after 10 s"), 10_000))]);
    if (code === "still running after 10 s") child.kill("SIGKILL");
    return { code, stdout };
  }

  it("Ctrl-C (SIGINT) during a freeze ends the environment's processes and exits 130", async () => {
    // A copy of the layer at a path of its own, to find exactly this run's extension process.
    const layer = fs.mkdtempSync(path.join(os.tmpdir(), "vla-dev-layer-"));
    try {
      fs.cpSync(path.join(ROOT, "layer"), layer, { recursive: true });
      const r = await interruptAfterFirstInvoke([EXAMPLE, "index.handler", "--layer", layer], () => {
        expect(processesIn(layer).length).toBeGreaterThan(0); // the extension, frozen after invoke 1
      });
      expect(r.code).toBe(130);
      expect(r.stdout).toContain("SIGINT: stopping the emulated environment");
      expect(processesIn(layer)).toEqual([]);
    } finally {
      fs.rmSync(layer, { recursive: true, force: true });
    }
  }, 60_000);

  it("Ctrl-C with a Python handler also ends the python runtime and removes the temporary layer", async () => {
    // A copy of the function at a path of its own: the python runtime's working directory.
    const fnDir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-dev-pyfn-"));
    try {
      fs.cpSync(PYTHON_EXAMPLE, fnDir, { recursive: true });
      let layer = "";
      const r = await interruptAfterFirstInvoke([fnDir, "app.handler"], (stdout) => {
        layer = temporaryLayer(stdout);
        expect(processesIn(layer).length).toBeGreaterThan(0); // the extension
        expect(processesIn(fnDir).length).toBeGreaterThan(0); // the python runtime
      });
      expect(r.code).toBe(130);
      expect(processesIn(layer)).toEqual([]);
      expect(processesIn(fnDir)).toEqual([]);
      expect(fs.existsSync(layer)).toBe(false);
    } finally {
      fs.rmSync(fnDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a crash (stdout closed under it: EPIPE) still ends the processes and removes the temporary layer", async () => {
    const env = cleanEnv();
    for (const k of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[k];
    const child = spawn(process.execPath, [CLI, "dev", PYTHON_EXAMPLE, "app.handler", "--port", String(await freePort()), "--invokes", "3", "--freeze", "2"], { env, stdio: ["ignore", "pipe", "pipe"] });
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    let stdout = "";
    const layer = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no header within 30 s: ${stdout}`)), 30_000);
      child.stdout.setEncoding("utf8").on("data", (c: string) => {
        stdout += c;
        if (/removed at exit\)/.test(stdout)) {
          clearTimeout(timer);
          resolve(temporaryLayer(stdout));
        }
      });
    });
    child.stdout.destroy(); // like `| head -3`: the next line written fails with EPIPE
    const code = await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r("still running after 30 s"), 30_000))]);
    if (code === "still running after 30 s") child.kill("SIGKILL");
    expect(code).not.toBe(0);
    expect(code).not.toBe("still running after 30 s");
    expect(fs.existsSync(layer)).toBe(false);
    expect(processesIn(layer)).toEqual([]);
  }, 60_000);
});

describe("against a Vault the user names (--vault-addr)", () => {
  let world: World;
  beforeAll(async () => {
    world = await World.start();
  });
  afterAll(async () => {
    await world?.close();
  });

  it("signs the login with the caller's AWS credentials and reads the declared secrets", async () => {
    const id = world.identity;
    const r = await dev(
      [EXAMPLE, "index.handler", "--vault-addr", world.vault.url, "--role", "fn-role", "--secret", "db=database/creds/app", "--secret", "config=secret/data/app/config", "--port", String(await freePort()), "--freeze", "0"],
      { AWS_ACCESS_KEY_ID: id.accessKeyId, AWS_SECRET_ACCESS_KEY: id.secretAccessKey, AWS_SESSION_TOKEN: id.sessionToken ?? "", AWS_REGION: "eu-west-1" },
    );
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(timeline(r.stdout).map((x) => [x.phase, x.vault])).toEqual([
      ["cold start (init)", "not visible (your Vault)"],
      ["invoke 1", "not visible (your Vault)"],
      ["invoke 2", "not visible (your Vault)"],
      ["shutdown", "not visible (your Vault)"],
    ]);
    const logins = world.vault.requestLog.filter((x) => x.path === "auth/aws/login");
    expect(logins).toHaveLength(1);
    expect(world.vault.tokens().filter((t) => t.revokedAt === undefined && t.policies?.includes("app"))).toEqual([]);
    expect(r.stdout).toMatch(/handler saw: \{"configKeys":\["api_key","region"\]/);
  }, 60_000);

  it("without AWS credentials in the environment, says how to get them (exit 2)", async () => {
    const r = await dev([EXAMPLE, "index.handler", "--vault-addr", world.vault.url, "--port", String(await freePort())]);
    expect(r.code).toBe(2);
    expect(r.stdout).toContain("export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY");
  }, 30_000);
});
