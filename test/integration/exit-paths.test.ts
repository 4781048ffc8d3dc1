/**
 * Every exit other than SHUTDOWN cleans up as SHUTDOWN does, bounded to about a second (README,
 * "Shutdown"; docs/architecture.md, "Stop"): the Extensions API answering an error or garbage at
 * `register` (after a late registration's login and reads) or at `event/next`, SIGTERM and SIGINT;
 * and SHUTDOWN or SIGTERM arriving while a login is on the wire waits for it. After the extension
 * exits, Vault holds no live token or lease of it, its files are gone, and one `warn` line names
 * the exit path.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import { worldForTest, type World } from "./harness.ts";
import type { ExtensionsApiFault, LambdaEmulator } from "../peers/lambda/emulator.ts";

const EXTENSION = "vault-lambda-agent";
/** The extension's cleanup is bounded to about 1 s; this is how long a test waits for the exit. */
const EXIT_WAIT_MS = 8_000;

/** Tokens the extension obtained (logins on the aws mount) that Vault still holds alive. */
function liveTokens(world: World) {
  return world.vault.tokens().filter((t) => t.path.startsWith("auth/aws/login") && t.revokedAt === undefined);
}

function liveLeases(world: World) {
  return world.vault.leases().filter((l) => l.revokedAt === undefined);
}

function loginCount(world: World): number {
  return world.vault.tokens().filter((t) => t.path.startsWith("auth/aws/login")).length;
}

/** The extension's JSON log lines. */
function lines(fn: LambdaEmulator): Array<Record<string, unknown>> {
  return fn.logs(EXTENSION).flatMap((l) => {
    try {
      return [JSON.parse(l.slice(l.indexOf("{"))) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

async function until(what: string, check: () => boolean, ms = EXIT_WAIT_MS): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function exited(fn: LambdaEmulator): boolean {
  return fn.timeline.some((t) => t.source === EXTENSION && t.what === "exit");
}

function secretDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), "vla-exit-"));
}

/** A database lease (a user to drop) and a file: what an exit must revoke and delete. */
function fileEnv(dir: string): Record<string, string> {
  return { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_FILE_DB: path.join(dir, "db.json"), VAULT_SECRET_PATH_CONFIG: "secret/data/app/config" };
}

/** What every exit path must leave: nothing alive in Vault, no file, one warn line naming the path. */
function expectCleanExit(world: World, fn: LambdaEmulator, dir: string | undefined, exitPath: RegExp): void {
  expect(loginCount(world), "the extension logged in").toBeGreaterThan(0);
  expect(liveTokens(world).map((t) => t.accessor)).toEqual([]);
  expect(liveLeases(world).map((l) => l.path)).toEqual([]);
  if (dir) expect(fs.readdirSync(dir)).toEqual([]);
  const warned = lines(fn).filter((l) => l.level === "WARN" && typeof l.exitPath === "string" && exitPath.test(l.exitPath));
  expect(warned.length, `a warn line naming the exit path ${exitPath}`).toBe(1);
}

async function world(ctx: TestContext): Promise<World> {
  return worldForTest({}, ctx);
}

describe.concurrent("the Extensions API fails", () => {
  // A file makes the registration late: the login and the reads come before `register`.
  const atInit: Array<[string, ExtensionsApiFault, RegExp]> = [
    ["register answers 500 after a late registration's login and reads", { route: "register", status: 500, body: '{"errorType":"ServiceException","errorMessage":"internal"}' }, /^register failed$/],
    ["register answers garbage (200 without an identifier)", { route: "register" }, /^register failed$/],
    ["event/next answers 500 at the end of init", { route: "event/next", status: 500, body: "upstream failure" }, /^event\/next failed$/],
  ];
  for (const [name, fault, exitPath] of atInit) {
    it(`${name}: revoked and deleted, exit 1`, async (ctx) => {
      const w = await world(ctx);
      const dir = secretDir();
      const fn = await w.lambda(fileEnv(dir));
      fn.addFault(fault);
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.extensions.find((e) => e.name === EXTENSION)!.exitCode).toBe(1);
      expectCleanExit(w, fn, dir, exitPath);
    });
  }

  it("event/next answers garbage after an invoke (registered early, no file): revoked", async (ctx) => {
    const w = await world(ctx);
    const fn = await w.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" });
    fn.addFault({ route: "event/next", skip: 1 });
    expect((await fn.start()).ok).toBe(true);
    // The extension is gone before this invoke ends (an Extension.Crash): its result says nothing here.
    await fn.invoke({ requests: [{ path: "/secrets/db" }] });
    await until("the extension's exit", () => exited(fn));
    expectCleanExit(w, fn, undefined, /^event\/next/);
  });

  it("with VAULT_REVOKE_ON_SHUTDOWN=false nothing is revoked, but the file is still deleted", async (ctx) => {
    const w = await world(ctx);
    const dir = secretDir();
    const fn = await w.lambda({ ...fileEnv(dir), VAULT_REVOKE_ON_SHUTDOWN: "false" });
    fn.addFault({ route: "event/next", status: 502 });
    expect((await fn.start()).ok).toBe(false);
    expect(liveTokens(w)).toHaveLength(1);
    expect(fs.readdirSync(dir)).toEqual([]);
    expect(lines(fn).some((l) => l.level === "WARN" && l.exitPath === "event/next failed")).toBe(true);
  });
});

describe("a failed init", () => {
  it("a login and a read that succeeded before another read failed are revoked, on the first init and on each retry Lambda makes at an invoke", async (ctx) => {
    const w = await world(ctx);
    const fn = await w.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_PATH_MISSING: "secret/data/not/there" });
    expect((await fn.start()).error?.type).toBe("Extension.SecretReadFailed");
    for (let retry = 0; retry < 2; retry++) expect((await fn.invoke({})).init?.error?.type).toBe("Extension.SecretReadFailed");
    expect(loginCount(w)).toBe(3);
    expect(w.vault.leases().filter((l) => l.path === "database/creds/app")).toHaveLength(3);
    expect(liveTokens(w)).toEqual([]);
    expect(liveLeases(w)).toEqual([]);
    expect(lines(fn).filter((l) => l.level === "WARN" && l.exitPath === "init failed")).toHaveLength(3);
  });
});

describe.concurrent("signals", () => {
  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    it(`${signal} between invocations: revoked and deleted, exit 0`, async (ctx) => {
      const w = await world(ctx);
      const dir = secretDir();
      const fn = await w.lambda(fileEnv(dir));
      expect((await fn.start()).ok).toBe(true);
      expect(fn.signal(EXTENSION, signal)).toBe(true);
      await until("the extension's exit", () => exited(fn));
      expect(fn.extensionInfo().find((e) => e.name === EXTENSION)!.exitCode).toBe(0);
      expectCleanExit(w, fn, dir, new RegExp(`^${signal}$`));
    });
  }

  it("SIGTERM while the init's login is on the wire: the token that login returns is revoked too", async (ctx) => {
    const w = await world(ctx);
    const dir = secretDir();
    // The login is answered 600 ms after it arrives; the signal comes while it waits.
    w.vault.addFault({ path: "auth/aws/login", latencyMs: 600, times: 1 });
    const fn = await w.lambda(fileEnv(dir));
    const init = fn.start();
    await until("the login on the wire", () => lines(fn).some((l) => l.message === "vault-lambda-agent starting") && w.vault.requestLog.some((r) => r.path === "auth/aws/login"));
    await new Promise((r) => setTimeout(r, 100));
    expect(fn.signal(EXTENSION, "SIGTERM")).toBe(true);
    expect((await init).ok).toBe(false);
    await until("the extension's exit", () => exited(fn));
    // Vault created the token whether or not anyone still waited for it.
    await until("the login answered", () => w.vault.requestLog.some((r) => r.path === "auth/aws/login" && r.status !== undefined));
    expectCleanExit(w, fn, dir, /^SIGTERM$/);
  });
});

describe("SHUTDOWN during a login", () => {
  it("Managed Instances: a login a handler's request started is waited for, and its token revoked", async (ctx) => {
    const w = await world(ctx);
    const fn = await w.lambda({}, { mode: "lambda-managed-instances", maxConcurrency: 2 });
    expect((await fn.start()).ok).toBe(true);
    // The token dies outside; the next proxied read finds out (403, lookup-self 403) and logs in
    // again, slowly: SHUTDOWN comes while that login is on the wire.
    const first = liveTokens(w)[0]!;
    w.vault.revokeToken(first.accessor);
    w.vault.addFault({ path: "auth/aws/login", latencyMs: 700, times: 1 });
    // Its runtime is stopped by the shutdown: this invocation ends only at its timeout, unwaited for.
    fn.invoke({ requests: [{ path: "/v1/secret/data/app/config" }] }).catch(() => undefined);
    await until("the second login on the wire", () => w.vault.requestLog.filter((r) => r.path === "auth/aws/login").length === 2);
    const shutdown = await fn.shutdown();
    await until("the login answered", () => w.vault.requestLog.filter((r) => r.path === "auth/aws/login" && r.status !== undefined).length === 2);
    expect(shutdown.exitCodes[EXTENSION]).toBe(0);
    expect(shutdown.killed).toEqual([]);
    expect(loginCount(w)).toBe(2);
    expect(liveTokens(w).map((t) => t.accessor)).toEqual([]);
    expect(lines(fn).find((l) => l.message === "shut down")).toMatchObject({ tokensRevoked: 1 });
  });
});

describe.concurrent("a secret file's directory", () => {
  it("a symlinked directory is refused at init, before any login, naming the variable", async (ctx) => {
    const w = await world(ctx);
    const target = secretDir();
    const link = path.join(secretDir(), "link");
    fs.symlinkSync(target, link);
    const fn = await w.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_FILE_DB: path.join(link, "db.json") });
    const init = await fn.start();
    expect(init.error?.type).toBe("Extension.ConfigInvalid");
    expect(init.error?.message).toContain(`VAULT_SECRET_FILE_DB: ${link} is a symlink`);
    expect(loginCount(w)).toBe(0);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it("an existing 0777 directory of this user's is tightened to 0700; the file is 0600", async (ctx) => {
    const w = await world(ctx);
    const dir = path.join(secretDir(), "open");
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    const fn = await w.lambda({ VAULT_SECRET_PATH_CONFIG: "secret/data/app/config", VAULT_SECRET_FILE_CONFIG: path.join(dir, "config.json") });
    expect((await fn.start()).ok).toBe(true);
    expect(fs.statSync(dir).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(dir, "config.json")).mode & 0o777).toBe(0o600);
    await fn.shutdown();
  });
});
