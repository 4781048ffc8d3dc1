/**
 * Red team of the lifecycle as built: the built layer under the Lambda emulator against the Vault
 * and STS test servers, attacked where the lifecycle's promises meet bad timing. Every test ends
 * with the World's leak scan (every log line, every error body) and, where the extension stopped,
 * Vault's own count of what is still alive: nothing.
 *
 * - SHUTDOWN while a lease renewal of Managed Instances' timer is on the wire;
 * - two SIGTERMs at once; SIGTERM while SHUTDOWN revokes;
 * - a freeze longer than the token's max TTL, then SHUTDOWN: nothing to revoke, and no wait for it;
 * - a dynamic secret read through the proxy without the cache: its lease dies with the token;
 * - secrets whose values look like the log line's structure (numbers, booleans, "true", "INFO",
 *   "{", a key's name, unicode, empty, long): every log line, EMF line and /health answer stays JSON;
 * - file mode: the file's directory swapped for a symlink between init and a refresh's rewrite.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import type { LambdaEmulator } from "../peers/lambda/emulator.ts";
import { until } from "./vault-gate.ts";
import { results, worldForTest, type World, type WorldOptions } from "./harness.ts";

const EXTENSION = "vault-lambda-agent";
const QUICK = { VAULT_CLIENT_TIMEOUT: "1s", VAULT_MAX_RETRIES: "1" };
const DB = { VAULT_SECRET_PATH_DB: "database/creds/app" };

async function world(ctx: TestContext, opts: WorldOptions = {}): Promise<World> {
  return worldForTest(opts, ctx);
}

function nothingAlive(w: World): void {
  expect(w.vault.liveTokens().map((t) => `${t.path} ${t.accessor}`)).toEqual([]);
  expect(w.vault.liveLeases().map((l) => l.leaseId)).toEqual([]);
}

async function gone(fn: LambdaEmulator): Promise<void> {
  await until(() => fn.timeline.some((t) => t.source === EXTENSION && t.what === "exit"), "the extension to exit");
}

/** The extension's output lines: every one must be a JSON object (Lambda's JSON log format, EMF). */
function jsonLines(fn: LambdaEmulator): Array<Record<string, unknown>> {
  return fn.logs(EXTENSION).map((l) => {
    const text = l.slice(l.indexOf("{"));
    let parsed: unknown;
    expect(() => (parsed = JSON.parse(text)), `not JSON: ${l.slice(0, 300)}`).not.toThrow();
    return parsed as Record<string, unknown>;
  });
}

const onWire = (w: World, from: number, p: string) => w.vault.requestLog.slice(from).some((r) => r.path === p);

describe.concurrent("red team: the lifecycle", { timeout: 60_000 }, () => {
  it("SHUTDOWN while Managed Instances' timer renews a lease: the renewal is waited for, then everything is revoked", async (ctx) => {
    // A 3 s renewable lease: the timer renews it at about 2 s.
    const w = await world(ctx, { databaseRole: { default_ttl: "3s", max_ttl: "1m" } });
    const fn = await w.lambda({ ...QUICK, ...DB, VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "300ms" }, { mode: "lambda-managed-instances", shutdownBudgetMs: 4_000 });
    expect((await fn.start()).ok).toBe(true);
    const seen = w.vault.requestLog.length;
    w.vault.addFault({ path: "sys/leases/renew", latencyMs: 600, times: 1 });
    await until(() => onWire(w, seen, "sys/leases/renew"), "the timer's renewal on the wire");
    await fn.shutdown();
    nothingAlive(w);
    const shutDown = jsonLines(fn).find((l) => l.message === "shut down")!;
    expect(shutDown).toMatchObject({ leasesFailed: 0, tokensFailed: 0 });
  });

  it("two SIGTERMs at once: one cleanup, exit 0, nothing left", async (ctx) => {
    const w = await world(ctx);
    const fn = await w.lambda({ ...QUICK, ...DB });
    expect((await fn.start()).ok).toBe(true);
    await fn.invoke({ requests: [{ path: "/secrets/db" }] });
    w.vault.addFault({ path: "auth/token/revoke-self", latencyMs: 200, times: 1 });
    expect(fn.signal(EXTENSION, "SIGTERM")).toBe(true);
    expect(fn.signal(EXTENSION, "SIGTERM")).toBe(true);
    await gone(fn);
    nothingAlive(w);
    const lines = jsonLines(fn);
    expect(lines.filter((l) => l.message === "shut down")).toHaveLength(1);
    expect(fn.timeline.find((t) => t.source === EXTENSION && t.what === "exit")!.detail).toMatch(/\b0\b/);
  });

  it("SIGTERM while SHUTDOWN revokes: the SHUTDOWN's cleanup goes on to the end", async (ctx) => {
    const w = await world(ctx);
    const fn = await w.lambda({ ...QUICK, ...DB }, { shutdownBudgetMs: 4_000 });
    expect((await fn.start()).ok).toBe(true);
    await fn.invoke({ requests: [{ path: "/secrets/db" }] });
    const seen = w.vault.requestLog.length;
    w.vault.addFault({ path: "auth/token/revoke-self", latencyMs: 500, times: 1 });
    const shutdown = fn.shutdown();
    await until(() => onWire(w, seen, "auth/token/revoke-self"), "the revocation on the wire");
    fn.signal(EXTENSION, "SIGTERM");
    await shutdown;
    nothingAlive(w);
    expect(jsonLines(fn).filter((l) => l.message === "shut down")).toHaveLength(1);
  });

  it("a freeze longer than the token's max TTL, then SHUTDOWN: nothing alive to revoke, and no time spent on the dead", async (ctx) => {
    const w = await world(ctx, { role: { token_ttl: "2s", token_max_ttl: "3s" } });
    const fn = await w.lambda({ ...QUICK, ...DB, VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "300ms" });
    expect((await fn.start()).ok).toBe(true);
    await fn.invoke({ requests: [{ path: "/secrets/db" }] });
    await fn.idle(3_500);
    // Vault hangs now: a revocation of the dead token would wait out its timeout.
    w.vault.addFault({ path: "auth/token/revoke-self", hang: true });
    w.vault.addFault({ path: "sys/leases/revoke", hang: true });
    const seen = w.vault.requestLog.length;
    await fn.shutdown();
    nothingAlive(w);
    expect(onWire(w, seen, "auth/token/revoke-self") || onWire(w, seen, "sys/leases/revoke")).toBe(false);
    const shutDown = jsonLines(fn).find((l) => l.message === "shut down")!;
    expect(Number(shutDown.ms)).toBeLessThan(500);
  });

  it("a dynamic secret read through the proxy without the cache: its lease dies with the token revoked at SHUTDOWN", async (ctx) => {
    const w = await world(ctx);
    const fn = await w.lambda({ ...QUICK });
    expect((await fn.start()).ok).toBe(true);
    const [a] = results(await fn.invoke({ requests: [{ path: "/v1/database/creds/app" }] }));
    expect(a!.status).toBe(200);
    expect(w.vault.liveLeases()).toHaveLength(1);
    await fn.shutdown();
    nothingAlive(w);
  });

  it("with VAULT_REVOKE_ON_SHUTDOWN=false the proxied lease and the token are left to their TTL (as asked), the files still deleted", async (ctx) => {
    const w = await world(ctx, { role: { token_ttl: "1m", token_max_ttl: "2m" } });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-rt-"));
    ctx.onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, "s", "db.json");
    const fn = await w.lambda({ ...QUICK, ...DB, VAULT_SECRET_FILE_DB: file, VAULT_REVOKE_ON_SHUTDOWN: "false" });
    expect((await fn.start()).ok).toBe(true);
    expect(fs.existsSync(file)).toBe(true);
    await fn.shutdown();
    expect(fs.existsSync(file)).toBe(false);
    expect(w.vault.liveTokens()).toHaveLength(1);
    expect(w.vault.liveTokens()[0]!.expiresAt!).toBeLessThanOrEqual(Date.now() + 60_000);
  });
});

describe.concurrent("red team: SnapStart", { timeout: 60_000 }, () => {
  it("the revocation before the snapshot fails once: tried again, and the snapshot holds nothing live", async (ctx) => {
    const w = await world(ctx);
    const keys = w.newCredentials("snap-revoke-once");
    const fn = await w.lambda({ ...QUICK, ...DB }, { mode: "snap-start", credentials: keys });
    w.vault.addFault({ path: "auth/token/revoke-self", status: 503, errors: ["Vault is sealed"], times: 2 });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    nothingAlive(w);
    await fn.shutdown();
  });

  it("the revocation before the snapshot keeps failing: the init fails (no snapshot may hold a live token), naming why", async (ctx) => {
    const w = await world(ctx, { role: { token_ttl: "1m", token_max_ttl: "2m" } });
    const keys = w.newCredentials("snap-revoke-never");
    const fn = await w.lambda({ ...QUICK, ...DB }, { mode: "snap-start", credentials: keys });
    w.vault.addFault({ path: "auth/token/revoke-self", status: 503, errors: ["Vault is sealed"] });
    const init = await fn.start();
    expect(init.ok).toBe(false);
    expect(init.error?.type).toBe("Extension.VaultUnreachable");
    expect(init.error?.message).toMatch(/snapshot/);
    // Vault would not revoke it: it is left to its TTL (1 min), and its lease dies with it; no snapshot holds it.
    for (const t of w.vault.liveTokens()) expect(t.expiresAt!).toBeLessThanOrEqual(Date.now() + 60_000);
    await fn.kill();
  });
});

describe.concurrent("red team: values that look like structure", { timeout: 60_000 }, () => {
  const ODD = {
    num: 12345678,
    flag: true,
    word: "true",
    level: "INFO",
    brace: "{",
    message: "message",
    empty: "",
    unicode: "pässwörd-☃-\u2028-ünïcode",
    nested: { list: [1, "nested-secret-value-41"], deep: { key: "deep-secret-value-42" } },
    long: "L0ng-".repeat(2_000),
  };

  it("a KV secret with numbers, booleans, common words, a key's name, unicode, empty and long strings: every log line, EMF line and /health answer is JSON; failing refreshes too", async (ctx) => {
    const w = await world(ctx, { kv: { "app/odd": ODD } });
    const fn = await w.lambda({ ...QUICK, VAULT_SECRET_PATH_ODD: "secret/data/app/odd", VAULT_METRICS: "emf", VAULT_STATIC_SECRET_TTL: "1s" });
    expect((await fn.start()).ok).toBe(true);
    const [first, health1] = results(await fn.invoke({ requests: [{ path: "/secrets/odd" }, { path: "/health", token: false }] }));
    expect(first!.status).toBe(200);
    expect(first!.json.data).toEqual(ODD);
    expect(health1!.json).toBeTypeOf("object");
    // Vault fails every read now, echoing what it was asked: refreshes fail, the value is served STALE.
    w.vault.addFault({ path: "secret/data/app/odd", status: 500, errors: [`internal error near "${ODD.nested.deep.key}" and ${ODD.num}`] });
    await fn.idle(1_200);
    const answers = results(await fn.invoke({ requests: [{ path: "/secrets/odd?refresh=true" }, { path: "/secrets/odd" }, { path: "/health", token: false }] }));
    w.scanAnswers(answers);
    const health = answers[2]!;
    expect(health.json, health.text).toBeTypeOf("object");
    expect(health.text).not.toContain(ODD.nested.deep.key);
    await fn.shutdown();
    const lines = jsonLines(fn);
    for (const l of lines.filter((l) => l.level !== undefined)) {
      expect(typeof l.message, JSON.stringify(l).slice(0, 200)).toBe("string");
      expect(l.extension).toBe(EXTENSION);
    }
    expect(lines.some((l) => l._aws !== undefined), "an EMF line").toBe(true);
    const all = fn.logs(EXTENSION).join("\n");
    for (const v of [ODD.nested.deep.key, ODD.nested.list[1] as string, String(ODD.num), ODD.long.slice(0, 50)]) expect(all).not.toContain(v);
    nothingAlive(w);
  });
});

describe("red team: secret files", { timeout: 60_000 }, () => {
  it("the file's directory swapped for a symlink between init and a refresh's rewrite: nothing is written through the link; the extension goes on and stops clean", async (ctx) => {
    const w = await world(ctx, { databaseRole: { default_ttl: "3s", max_ttl: "3s" } });
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "vla-rt-files-"));
    ctx.onTestFinished(() => fs.rmSync(root, { recursive: true, force: true }));
    const dir = path.join(root, "secrets");
    const file = path.join(dir, "db.json");
    const elsewhere = path.join(root, "elsewhere");
    fs.mkdirSync(elsewhere, { mode: 0o700 });
    const fn = await w.lambda({ ...QUICK, ...DB, VAULT_SECRET_FILE_DB: file, VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "300ms" });
    expect((await fn.start()).ok).toBe(true);
    const before = JSON.parse(fs.readFileSync(file, "utf8")) as { data: { username: string } };
    fs.renameSync(dir, path.join(root, "moved"));
    fs.symlinkSync(elsewhere, dir);
    // Past the lease's refresh point: the INVOKE renews it (capped by the max TTL) and rewrites the file.
    await fn.idle(2_500);
    const [a] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
    expect(a!.status).toBe(200);
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    // The renewal went through in Vault; the file keeps the content it had (an earlier expiry: on the safe side).
    expect(JSON.parse(fs.readFileSync(path.join(root, "moved", "db.json"), "utf8")).data.username).toBe(before.data.username);
    const refused = jsonLines(fn).some((l) => l.level === "ERROR" && l.message === "could not write secret file" && /symlink/.test(String(l.error)));
    expect(refused).toBe(true);
    await fn.shutdown();
    expect(fs.readdirSync(elsewhere)).toEqual([]);
    nothingAlive(w);
  });
});
