/**
 * The fault matrix (docs/fault-matrix.md): the built layer under the Lambda emulator against the
 * Vault and STS test servers, one cell per fault × phase. Every cell checks the same four promises:
 *
 * 1. no expired value is served (every 200 with a lease was alive in Vault when the handler got it);
 * 2. no secret in any log line, init/error or exit/error body, or error answer (the World's leak scan);
 * 3. nothing left alive in Vault once the extension stopped (`liveTokens()`, `liveLeases()` empty),
 *    except after SIGKILL, where nothing can run: what is left there expires at its TTL;
 * 4. bounded extension time per invocation (the invoke never times out; the extension is back in
 *    `next` within its refresh deadline of 2 × VAULT_CLIENT_TIMEOUT plus a generous margin).
 *
 * Cells whose contract depends on a fix not on this branch are `it.fails`, with the defect number
 * of issue 10 and the branch that fixes it; the lead flips them to `it` at merge time.
 */
import fs from "node:fs";
import http from "node:http";
import type net from "node:net";
import os from "node:os";
import path from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import type { LambdaEmulator } from "../peers/lambda/emulator.ts";
import type { VaultFault } from "../peers/vault/server.ts";
import { until } from "./vault-gate.ts";
import { results, worldForTest, type ProbeResult, type World, type WorldOptions } from "./harness.ts";

/** One request to Vault may take 1 s; the extension retries once (keeps every cell short). */
const CLIENT_TIMEOUT_MS = 1_000;
const QUICK = { VAULT_CLIENT_TIMEOUT: "1s", VAULT_MAX_RETRIES: "1" };
const DB = { VAULT_SECRET_PATH_DB: "database/creds/app" };
const DB_PATH = "database/creds/app";
const KV_PATH = "secret/data/app/config";
const KV_VALUE = "kv-api-key-7f3a9c";
/**
 * How long the extension may keep an invocation after the handler answered: its refresh deadline
 * (2 × VAULT_CLIENT_TIMEOUT) plus 4 s for a loaded machine. A bug (a wait on a request that never
 * ends, a retry loop) goes far past it: the function timeout is 10 s.
 */
const OVERHEAD_BOUND_MS = 2 * CLIENT_TIMEOUT_MS + 4_000;
/** A handler's request may wait at most (1 + retries) × VAULT_CLIENT_TIMEOUT plus backoff; 8 s is far past that. */
const ANSWER_BOUND_MS = 8_000;

type Fn = LambdaEmulator;
type Request = { path: string; method?: string; body?: string; headers?: Record<string, string> };

const db = (query = ""): Request => ({ path: `/secrets/db${query}` });
const kv: Request = { path: `/v1/${KV_PATH}` };

async function cell(ctx: TestContext, opts: WorldOptions = {}): Promise<World> {
  return worldForTest(opts, ctx);
}

/** The built layer, started, with the QUICK timeouts and a leased database secret. */
async function started(w: World, env: Record<string, string> = {}): Promise<Fn> {
  const fn = await w.lambda({ ...QUICK, ...DB, ...env });
  const init = await fn.start();
  expect(init.ok, JSON.stringify(init.error)).toBe(true);
  return fn;
}

/**
 * One invocation whose handler makes `requests`; checks promises 1, 2 (error answers go to the leak
 * scan) and 4, and returns the answers.
 */
async function invoke(w: World, fn: Fn, requests: Request[]): Promise<ProbeResult[]> {
  const inv = await fn.invoke({ requests });
  expect(inv.ok, JSON.stringify(inv.error)).toBe(true);
  expect(inv.timedOut).toBe(false);
  expect(inv.extensionOverheadMs).toBeLessThanOrEqual(OVERHEAD_BOUND_MS);
  const answers = results(inv);
  w.scanAnswers(answers);
  for (const a of answers) expect(a.ms ?? 0).toBeLessThanOrEqual(ANSWER_BOUND_MS);
  servedLive(w, answers);
  return answers;
}

/** Promise 1: every 200 carrying a lease was alive in Vault (and by its own expires_at) when the handler got it. */
function servedLive(w: World, answers: ProbeResult[]): void {
  for (const a of answers) {
    if (a.status !== 200 || !a.json || typeof a.json !== "object") continue;
    const receivedAt = (a.at ?? 0) + (a.ms ?? 0);
    if (typeof a.json.expires_at === "string") expect(Date.parse(a.json.expires_at), `${a.text}`).toBeGreaterThan(receivedAt);
    const leaseId = a.json.lease_id;
    if (typeof leaseId !== "string" || leaseId === "") continue;
    const lease = w.vault.leases().find((l) => l.leaseId === leaseId);
    expect(lease, `lease ${leaseId} unknown to Vault`).toBeDefined();
    expect(Math.min(lease!.expiresAt, lease!.revokedAt ?? Number.POSITIVE_INFINITY), `lease ${leaseId} was dead when served`).toBeGreaterThan(receivedAt);
  }
}

/** Promise 3: SHUTDOWN (if the environment is still up), then nothing alive in Vault. */
async function stopsClean(w: World, fn: Fn): Promise<void> {
  await fn.shutdown().catch(() => undefined);
  expect(w.vault.liveTokens().map((t) => `${t.path} ${t.accessor}`)).toEqual([]);
  expect(w.vault.liveLeases().map((l) => l.leaseId)).toEqual([]);
}

/** Successful logins so far. */
const logins = (w: World): number => w.vault.logins.filter((l) => l.ok).length;

/** A second origin that records what reaches it (a redirect's target). */
async function captureOrigin(ctx: TestContext): Promise<{ url: string; seen: http.IncomingHttpHeaders[] }> {
  const seen: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req.headers);
    res.writeHead(200, { "content-type": "application/json" });
    res.end('{"data":{"data":{"from":"elsewhere"}}}');
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  ctx.onTestFinished(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen };
}

/** Peak resident memory of a process (VmHWM), in bytes. */
function peakRss(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  return Number(m?.[1] ?? 0) * 1024;
}

const EXTENSION = "vault-lambda-agent";

function extensionPid(fn: Fn): number {
  const pid = fn.extensionInfo()[0]?.pid;
  if (pid === undefined) throw new Error("no extension process");
  return pid;
}

/** Waits until the extension process has exited (the emulator saw it go). */
async function gone(fn: Fn): Promise<void> {
  await until(() => fn.timeline.some((t) => t.source === EXTENSION && t.what === "exit"), "the extension to exit");
}

/** A fault for the rest of the cell (its Vault ends with the test). */
function fault(w: World, f: VaultFault): void {
  w.vault.addFault(f);
}

// Each cell has a world of its own (Vault, STS, the emulator); they run side by side. The longest
// cells take about 12 s alone; the timeout leaves room for a machine busy with other work.
describe.concurrent("fault matrix", { timeout: 60_000 }, () => {
  describe("Vault down (connection refused)", () => {
    it("at init: Extension.VaultUnreachable within the init limit, naming the address; the next invoke's init works once Vault is back; nothing left", async (ctx) => {
      const w = await cell(ctx);
      await w.vault.down();
      const fn = await w.lambda({ ...QUICK, ...DB });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.VaultUnreachable");
      expect(init.error?.message).toContain(w.vault.url.replace("http://", ""));
      expect(init.durationMs).toBeLessThan(10_000);
      expect(w.vault.tokens()).toEqual([]);
      await w.vault.up();
      const [a] = await invoke(w, fn, [db()]);
      expect(a!.status).toBe(200);
      await stopsClean(w, fn);
    });

    it("mid-life: the still-valid secret is served STALE, the proxy answers 502; back up, everything is revoked at SHUTDOWN", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      await w.vault.down();
      const [stale, proxied] = await invoke(w, fn, [db("?refresh=true"), kv]);
      expect(stale!.status).toBe(200);
      expect(stale!.xCache).toBe("STALE");
      expect(stale!.json.data.username).toBe(first!.json.data.username);
      expect(proxied!.status).toBe(502);
      await w.vault.up();
      await stopsClean(w, fn);
    });

    it("at SHUTDOWN: nothing can be revoked; what is left dies at its TTL (the token's, which its leases share)", async (ctx) => {
      const w = await cell(ctx, { role: { token_ttl: "1m", token_max_ttl: "2m" } });
      const fn = await started(w);
      await invoke(w, fn, [db()]);
      await w.vault.down();
      const sd = await fn.shutdown();
      expect(sd.exitCodes["vault-lambda-agent"]).toBe(0);
      expect(fn.logs("vault-lambda-agent").some((l) => /"level":"WARN".*shut down/.test(l))).toBe(true);
      const left = w.vault.liveTokens();
      expect(left).toHaveLength(1);
      expect(left[0]!.expiresAt!).toBeLessThanOrEqual(Date.now() + 60_000);
      for (const l of w.vault.liveLeases()) expect(l.tokenAccessor).toBe(left[0]!.accessor);
      await w.vault.up();
    });
  });

  describe.each([500, 429, 412])("Vault answers %i", (status) => {
    it("at init, twice on the login: retried, init succeeds with one token; nothing left", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: "auth/aws/login", status, times: 2 });
      const fn = await started(w);
      expect(logins(w)).toBe(1);
      const [a] = await invoke(w, fn, [db()]);
      expect(a!.status).toBe(200);
      await stopsClean(w, fn);
    });

    it("at init, on one of two reads, every time: Extension.VaultUnreachable with Vault's answer; the token and the other read's lease are revoked before the extension exits, at every retry of the init", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: KV_PATH, status });
      const fn = await w.lambda({ ...QUICK, ...DB, VAULT_SECRET_PATH_KV: KV_PATH });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.VaultUnreachable");
      expect(init.error?.message).toContain("VAULT_SECRET_PATH_KV");
      expect(w.vault.leases().length).toBe(1);
      // Lambda retries a failed init at every invocation: no retry may leave anything behind.
      for (let retry = 0; retry < 2; retry++) {
        const again = await fn.invoke({});
        expect(again.init?.error?.type).toBe("Extension.VaultUnreachable");
        expect(w.vault.liveTokens()).toEqual([]);
      }
      expect(w.vault.leases().length).toBe(3);
      await stopsClean(w, fn);
    });

    it("mid-life, on every read: the declared secret is served STALE while valid, the proxy relays Vault's answer; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      fault(w, { path: DB_PATH, status });
      fault(w, { path: KV_PATH, status });
      const [stale, proxied] = await invoke(w, fn, [db("?refresh=true"), kv]);
      expect(stale!.status).toBe(200);
      expect(stale!.xCache).toBe("STALE");
      expect(stale!.json.data.username).toBe(first!.json.data.username);
      expect(proxied!.status).toBe(status);
      expect(proxied!.json.errors).toBeDefined();
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });
  });

  describe("errors that echo the request (the token, the signed login headers)", () => {
    // Defect 5 (issue 10), before its fix: the init/error body and the log carry what Vault echoed:
    // the AWS session token and the SigV4 signature of the login.
    it("at init, the login refused with an echo: Extension.AuthFailed with Vault's reason, and no credential in the init/error body or the log", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: "auth/aws/login", status: 400, echo: true });
      const fn = await w.lambda({ ...QUICK, ...DB });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.AuthFailed");
      expect(init.error?.message).toContain("request rejected");
      await stopsClean(w, fn);
      w.leakScan();
    });

    it("mid-life, a declared read refused with an echo of the extension's token: STALE, and the token is in no log line", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      await invoke(w, fn, [db()]);
      fault(w, { path: DB_PATH, status: 500, echo: true });
      const [stale] = await invoke(w, fn, [db("?refresh=true")]);
      expect(stale!.xCache).toBe("STALE");
      w.vault.clearFaults();
      await stopsClean(w, fn);
      w.leakScan();
    });

    // Defect 5 (issue 10), before its fix: the proxy relays Vault's error body as it is, so an error
    // that echoes the request hands the extension's own token to the handler.
    it("mid-life, a proxied read refused with an echo: the handler's error answer does not carry the extension's token", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      fault(w, { path: KV_PATH, status: 500, echo: true });
      const [proxied] = await invoke(w, fn, [kv]);
      expect(proxied!.status).toBe(500);
      w.vault.clearFaults();
      await stopsClean(w, fn);
      w.leakScan();
    });
  });

  describe("403", () => {
    it("policy denial at init: Extension.SecretReadFailed naming the variable, the path and Vault's answer; the init's token is revoked", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: DB_PATH, status: 403 });
      const fn = await w.lambda({ ...QUICK, ...DB });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.SecretReadFailed");
      expect(init.error?.message).toMatch(/VAULT_SECRET_PATH_DB.*database\/creds\/app.*permission denied/);
      // The whole init/error body goes to the leak scan.
      expect(fs.readFileSync(path.join(w.logDir, "extension-error-bodies.txt"), "utf8")).toContain("Extension.SecretReadFailed");
      await stopsClean(w, fn);
    });

    it("a read that succeeds beside one that is denied at init: the token and the lease of the first are revoked before the extension exits", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: KV_PATH, status: 403 });
      const fn = await w.lambda({ ...QUICK, ...DB, VAULT_SECRET_PATH_KV: KV_PATH });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.SecretReadFailed");
      expect(w.vault.leases().length).toBe(1);
      await stopsClean(w, fn);
    });

    it("policy denial mid-life: passed through (403) after one lookup-self; no new login; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      fault(w, { path: "secret/data/denied", status: 403 });
      const before = logins(w);
      const answers = await invoke(w, fn, [{ path: "/v1/secret/data/denied" }, { path: "/v1/secret/data/denied" }, kv]);
      expect(answers.map((a) => a.status)).toEqual([403, 403, 200]);
      expect(logins(w)).toBe(before);
      await stopsClean(w, fn);
    });

    it("dead token mid-life (revoked from outside): one new login, the request and the secret succeed; the old and the new token are dead at the end", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      w.vault.revokeToken(w.vault.liveTokens()[0]!.accessor);
      const before = logins(w);
      const [proxied, again] = await invoke(w, fn, [kv, db()]);
      expect(proxied!.status).toBe(200);
      expect(proxied!.json.data.data.api_key).toBe(KV_VALUE);
      expect(again!.status).toBe(200);
      expect(again!.json.lease_id).not.toBe(first!.json.lease_id);
      expect(logins(w)).toBe(before + 1);
      await stopsClean(w, fn);
    });

    // Defect 4 (issue 10), before its fix: every denied read looks like a dead token: five reads
    // cause five logins, and the replaced tokens are left alive in Vault.
    it("lookup-self denied (token_no_default_policy) mid-life: five denied reads cause at most one login; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      fault(w, { path: "auth/token/lookup-self", status: 403 });
      fault(w, { path: "secret/data/denied", status: 403 });
      const before = logins(w);
      const denied = Array.from({ length: 5 }, () => ({ path: "/v1/secret/data/denied" }));
      const answers = await invoke(w, fn, denied);
      expect(answers.map((a) => a.status)).toEqual([403, 403, 403, 403, 403]);
      expect(logins(w) - before).toBeLessThanOrEqual(1);
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });
  });

  describe("dropped connections", () => {
    it("at init, the login's connection dropped once: retried, init succeeds; nothing left", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: "auth/aws/login", drop: true, times: 1 });
      const fn = await started(w);
      await invoke(w, fn, [db()]);
      await stopsClean(w, fn);
    });

    it("mid-life, a GET dropped once (proxy and declared secret): retried, 200; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      fault(w, { path: KV_PATH, drop: true, times: 1 });
      fault(w, { path: DB_PATH, drop: true, times: 1 });
      const [proxied, fresh] = await invoke(w, fn, [kv, db("?refresh=true")]);
      expect(proxied!.status).toBe(200);
      expect(fresh!.status).toBe(200);
      expect(fresh!.xCache).toBe("MISS");
      await stopsClean(w, fn);
    });

    it("mid-life, a declared read reset mid-answer after Vault issued the lease: read again; the lost lease dies with the token at SHUTDOWN", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      fault(w, { path: DB_PATH, resetMidAnswer: true, times: 1 });
      const [fresh] = await invoke(w, fn, [db("?refresh=true")]);
      expect(fresh!.status).toBe(200);
      // One lease from init, one whose answer was lost, one from the retry: Vault issued three.
      expect(w.vault.leases().length).toBe(3);
      await stopsClean(w, fn);
    });

    // Defect 8 (issue 10), before its fix: a proxied POST reset mid-answer is sent to Vault again.
    it("mid-life, a proxied POST reset mid-answer: never sent twice; the handler gets a 502", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      fault(w, { path: "secret/data/app/new", method: "POST", resetMidAnswer: true, times: 1 });
      const [post] = await invoke(w, fn, [{ path: "/v1/secret/data/app/new", method: "POST", body: JSON.stringify({ data: { v: "one-write-only" } }) }]);
      expect(w.vault.requestLog.filter((r) => r.path === "secret/data/app/new" && r.method === "POST")).toHaveLength(1);
      expect(post!.status).toBe(502);
      await stopsClean(w, fn);
    });
  });

  describe("slow drip", () => {
    it("mid-life, answers trickling for longer than VAULT_CLIENT_TIMEOUT: STALE for the declared secret, 504 from the proxy, bounded; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      fault(w, { path: DB_PATH, drip: { everyMs: 200, bytes: 16 } });
      fault(w, { path: KV_PATH, drip: { everyMs: 200, bytes: 16 } });
      const [stale, proxied] = await invoke(w, fn, [db("?refresh=true"), kv]);
      expect(stale!.status).toBe(200);
      expect(stale!.xCache).toBe("STALE");
      expect(stale!.json.data.username).toBe(first!.json.data.username);
      expect(proxied!.status).toBe(504);
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });
  });

  describe("hang", () => {
    it("at init, the login never answered: Extension.VaultUnreachable within the init limit; nothing left", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: "auth/aws/login", hang: true });
      const fn = await w.lambda({ ...QUICK, ...DB });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.VaultUnreachable");
      expect(init.durationMs).toBeLessThan(10_000);
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });

    it("mid-life, a forced refresh and a proxied read hang: STALE and 504 within the bounds; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      fault(w, { path: DB_PATH, hang: true });
      fault(w, { path: KV_PATH, hang: true });
      const [stale, proxied] = await invoke(w, fn, [db("?refresh=true"), kv]);
      expect(stale!.status).toBe(200);
      expect(stale!.xCache).toBe("STALE");
      expect(stale!.json.data.username).toBe(first!.json.data.username);
      expect(proxied!.status).toBe(504);
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });

    // Defect 14 (issue 10), before its fix: past the refresh point with Vault hanging, the handler
    // waits VAULT_CLIENT_TIMEOUT for a value that is still valid, and every invocation tries again.
    it("mid-life, past the refresh point: the valid value at once, and a failing refresh backs off by the wall clock instead of running at every invocation", async (ctx) => {
      const w = await cell(ctx);
      // A KV secret has no expiry: past VAULT_STATIC_SECRET_TTL it is due for a re-read but stays valid.
      // No retries inside one refresh, so that each refresh is one request to Vault.
      const fn = await started(w, { VAULT_SECRET_PATH_KV: KV_PATH, VAULT_STATIC_SECRET_TTL: "2s", VAULT_MAX_RETRIES: "0" });
      const kvSecret: Request = { path: "/secrets/kv" };
      await invoke(w, fn, [kvSecret]);
      await fn.idle(2_500);
      const faultAt = Date.now();
      fault(w, { path: KV_PATH, hang: true });
      const served: ProbeResult[] = [];
      for (let i = 0; i < 8; i++) served.push(...(await invoke(w, fn, [kvSecret])));
      for (const a of served) {
        expect(a.status).toBe(200);
        expect(a.json.data.api_key).toBe(KV_VALUE);
      }
      // "At once": the first answer came before the refresh it found running was given up (an order, not a duration).
      const refreshes = w.vault.requestLog.filter((r) => r.path === KV_PATH && r.startedAt >= faultAt);
      expect(refreshes.length).toBeGreaterThan(0);
      expect(served[0]!.at! + served[0]!.ms!).toBeLessThan(refreshes[0]!.endedAt ?? Number.POSITIVE_INFINITY);
      // Backoff 1 s, 2 s, 4 s… from each failure: however slow the machine, 8 invocations can start at
      // most 4 refreshes (one per invocation, 8, without it).
      expect(refreshes.length).toBeLessThanOrEqual(4);
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });
  });

  describe("huge answer (256 MiB, streamed)", () => {
    // Defect 7 (issue 10), before its fix: Vault's answers are read whole, whatever their size: the
    // extension's memory grows by the size of the answer.
    it("mid-life: the proxy answers 502 and a declared secret stays STALE, the extension's memory stays small; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      fault(w, { path: "secret/data/huge", hugeBytes: 256 * 1024 * 1024 });
      fault(w, { path: DB_PATH, hugeBytes: 256 * 1024 * 1024 });
      const [proxied, stale] = await invoke(w, fn, [{ path: "/v1/secret/data/huge" }, db("?refresh=true")]);
      expect(proxied!.status).toBe(502);
      expect(stale!.status).toBe(200);
      expect(stale!.json.data.username).toBe(first!.json.data.username);
      expect(peakRss(extensionPid(fn))).toBeLessThan(160 * 1024 * 1024);
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });
  });

  describe("redirect (307 to another origin)", () => {
    // Defect 9 (issue 10), before its fix: the 307 is relayed, and the handler's client follows it
    // to the other origin with the caller token.
    it("mid-life, proxied: 502 naming where Vault redirected; nothing reaches the other origin", async (ctx) => {
      const w = await cell(ctx);
      const other = await captureOrigin(ctx);
      const fn = await started(w);
      fault(w, { path: KV_PATH, redirect: { to: other.url } });
      const [proxied] = await invoke(w, fn, [kv]);
      expect(proxied!.status).toBe(502);
      expect(proxied!.text).toContain(new URL(other.url).host);
      expect(other.seen).toEqual([]);
      await stopsClean(w, fn);
    });

    it("mid-life, a declared secret's refresh redirected: STALE, and neither the extension's token nor anything else reaches the other origin", async (ctx) => {
      const w = await cell(ctx);
      const other = await captureOrigin(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      fault(w, { path: DB_PATH, redirect: { to: other.url } });
      const [stale] = await invoke(w, fn, [db("?refresh=true")]);
      expect(stale!.status).toBe(200);
      expect(stale!.xCache).toBe("STALE");
      expect(stale!.json.data.username).toBe(first!.json.data.username);
      expect(other.seen).toEqual([]);
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });
  });

  describe("sealed (503)", () => {
    it("at init: Extension.VaultUnreachable saying Vault is sealed; unsealed, the next invoke's init works; nothing left", async (ctx) => {
      const w = await cell(ctx);
      w.vault.seal();
      const fn = await w.lambda({ ...QUICK, ...DB });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.VaultUnreachable");
      expect(init.error?.message).toMatch(/sealed/i);
      w.vault.unseal();
      const [a] = await invoke(w, fn, [db()]);
      expect(a!.status).toBe(200);
      await stopsClean(w, fn);
    });

    it("mid-life: STALE while valid, the proxy relays 503; unsealed, everything is revoked at SHUTDOWN", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      await invoke(w, fn, [db()]);
      w.vault.seal();
      const [stale, proxied] = await invoke(w, fn, [db("?refresh=true"), kv]);
      expect(stale!.xCache).toBe("STALE");
      expect(proxied!.status).toBe(503);
      w.vault.unseal();
      await stopsClean(w, fn);
    });
  });

  describe("odd leases (a lease_id with a lease_duration of 0, negative, null or a string)", () => {
    const oddDurations: unknown[] = [0, -5, null, "30"];

    // Defect 13 (issue 10), before its fix: an already-expired lease is served as a value (200).
    it("at init: the read is a Vault error (Extension.SecretReadFailed), never a value; nothing left", async (ctx) => {
      const w = await cell(ctx);
      fault(w, { path: DB_PATH, rewrite: (a) => ({ ...a, lease_duration: 0 }) });
      const fn = await w.lambda({ ...QUICK, ...DB });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(init.error?.type).toBe("Extension.SecretReadFailed");
      await stopsClean(w, fn);
    });

    // Defect 13 (issue 10), before its fix: each odd answer is served as a fresh value (200 MISS,
    // a new database user per request).
    it("mid-life, forced refreshes answered with odd leases: the held valid value is served STALE, never the odd one; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      const [first] = await invoke(w, fn, [db()]);
      let n = 0;
      fault(w, { path: DB_PATH, rewrite: (a) => ({ ...a, lease_duration: oddDurations[n++ % oddDurations.length] }) });
      const answers = await invoke(w, fn, oddDurations.map(() => db("?refresh=true")));
      for (const a of answers) {
        expect(a.status).toBe(200);
        expect(a.xCache).toBe("STALE");
        expect(a.json.data.username).toBe(first!.json.data.username);
      }
      w.vault.clearFaults();
      await stopsClean(w, fn);
    });
  });

  describe("freeze", () => {
    it("longer than a lease: the next invocation gets live credentials, never the expired ones; nothing left", async (ctx) => {
      const w = await cell(ctx, { databaseRole: { default_ttl: "3s", max_ttl: "1m" } });
      const fn = await started(w, { VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" });
      const [first] = await invoke(w, fn, [db()]);
      await fn.idle(3_500);
      const [second] = await invoke(w, fn, [db()]);
      expect(second!.status).toBe(200);
      expect(second!.json.data.username).not.toBe(first!.json.data.username);
      await stopsClean(w, fn);
    });

    it("longer than the token's max TTL: a new login and the secret read again under it; nothing left", async (ctx) => {
      const w = await cell(ctx, { role: { token_ttl: "2s", token_max_ttl: "3s" } });
      const fn = await started(w, { VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" });
      const [first] = await invoke(w, fn, [db()]);
      const before = logins(w);
      await fn.idle(3_500);
      const [second, proxied] = await invoke(w, fn, [db(), kv]);
      expect(second!.status).toBe(200);
      expect(second!.json.data.username).not.toBe(first!.json.data.username);
      expect(proxied!.status).toBe(200);
      expect(logins(w)).toBe(before + 1);
      await stopsClean(w, fn);
    });
  });

  describe("signals", () => {
    it("SIGKILL: nothing can run; the token and its lease stay until the token's TTL, and the next init starts afresh; what that one obtained is revoked", async (ctx) => {
      const w = await cell(ctx, { role: { token_ttl: "1m", token_max_ttl: "2m" } });
      const fn = await started(w);
      await invoke(w, fn, [db()]);
      expect(fn.signal(EXTENSION, "SIGKILL")).toBe(true);
      await gone(fn);
      const orphaned = w.vault.liveTokens();
      expect(orphaned).toHaveLength(1);
      // Left alive, but only until the token's TTL (1 min), and its lease dies with it.
      expect(orphaned[0]!.expiresAt!).toBeLessThanOrEqual(Date.now() + 60_000);
      for (const l of w.vault.liveLeases()) expect(l.tokenAccessor).toBe(orphaned[0]!.accessor);
      const [a] = await invoke(w, fn, [db()]);
      expect(a!.status).toBe(200);
      await fn.shutdown();
      expect(w.vault.liveTokens().map((t) => t.accessor)).toEqual([orphaned[0]!.accessor]);
      expect(w.vault.liveLeases().every((l) => l.tokenAccessor === orphaned[0]!.accessor)).toBe(true);
    });

    // Defect 6 (issue 10), before its fix: SHUTDOWN during a login exits at once; the token that login
    // returns is never revoked.
    it("SHUTDOWN while a login is in flight (Managed Instances: nothing freezes): the token that login returns is revoked too; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await w.lambda({ ...QUICK, ...DB }, { mode: "lambda-managed-instances", shutdownBudgetMs: 4_000 });
      expect((await fn.start()).ok).toBe(true);
      // The token dies outside: the next proxied read finds it dead and logs in again, slowly.
      w.vault.revokeToken(w.vault.liveTokens()[0]!.accessor);
      // Held 500 ms: inside VAULT_CLIENT_TIMEOUT (1 s), so the login succeeds for the extension too.
      fault(w, { path: "auth/aws/login", latencyMs: 500, times: 1 });
      const seen = w.vault.requestLog.length;
      const attempts = w.vault.logins.length;
      // Its invocation ends with the environment (the emulator settles it when the world closes).
      void fn.invoke({ requests: [kv] }).catch(() => undefined);
      await until(() => w.vault.requestLog.slice(seen).some((r) => r.path === "auth/aws/login"), "a login on the wire");
      await fn.shutdown();
      // Vault finishes the login it received, whoever is still listening.
      await until(() => w.vault.logins.length > attempts, "Vault to issue the token");
      expect(w.vault.liveTokens()).toEqual([]);
      expect(w.vault.liveLeases()).toEqual([]);
    });

    // Defect 2 (issue 10), before its fix: SIGTERM ends the process at once (Node's default); the
    // token and the lease stay alive in Vault.
    it("SIGTERM: the extension revokes what it holds (bounded, about 1 s) and exits; nothing left", async (ctx) => {
      const w = await cell(ctx);
      const fn = await started(w);
      await invoke(w, fn, [db()]);
      expect(fn.signal(EXTENSION, "SIGTERM")).toBe(true);
      await gone(fn);
      expect(w.vault.tokens()[0]!.revokedAt).toBeDefined();
      // Lambda initialises the environment again at the next invoke.
      const [a] = await invoke(w, fn, [db()]);
      expect(a!.status).toBe(200);
      await stopsClean(w, fn);
    });
  });

  describe("Extensions API failing", () => {
    it("register answers an error before anything was obtained (early registration): the extension exits, nothing was obtained; the next init works", async (ctx) => {
      const w = await cell(ctx);
      const fn = await w.lambda({ ...QUICK, ...DB });
      fn.addFault({ route: "register", status: 500, body: '{"errorType":"Internal","errorMessage":"injected"}' });
      const init = await fn.start();
      expect(init.ok).toBe(false);
      expect(w.vault.tokens()).toEqual([]);
      const [a] = await invoke(w, fn, [db()]);
      expect(a!.status).toBe(200);
      await stopsClean(w, fn);
    });

    for (const [what, failure] of [
      ["an error", { status: 500, body: '{"errorType":"Internal","errorMessage":"injected"}' }],
      ["garbage", { status: 200, body: "<html>not the Extensions API</html>" }],
    ] as const) {
      // Defect 2 (issue 10), before its fix: when register fails after the init work (a secret written
      // to a file registers late), the process exits without revoking or deleting anything.
      it(`register answers ${what} after the init work (file mode registers late): the token and the lease are revoked and the file deleted`, async (ctx) => {
        const w = await cell(ctx);
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-matrix-"));
        ctx.onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
        const file = path.join(dir, "secrets", "db.json");
        const fn = await w.lambda({ ...QUICK, ...DB, VAULT_SECRET_FILE_DB: file });
        fn.addFault({ route: "register", ...failure });
        const init = await fn.start();
        expect(init.ok).toBe(false);
        expect(w.vault.leases().length).toBe(1);
        expect(fs.existsSync(file)).toBe(false);
        expect(w.vault.liveTokens()).toEqual([]);
        expect(w.vault.liveLeases()).toEqual([]);
        await fn.kill();
      });

      // Defect 2 (issue 10), before its fix: a failing event/next makes the extension exit at once,
      // leaving what its init obtained alive in Vault.
      it(`event/next answers ${what} at the end of init: the extension revokes what the init obtained before it exits; nothing left`, async (ctx) => {
        const w = await cell(ctx);
        const fn = await w.lambda({ ...QUICK, ...DB });
        fn.addFault({ route: "event/next", ...failure });
        const init = await fn.start();
        expect(init.ok).toBe(false);
        expect(w.vault.leases().length).toBe(1);
        await stopsClean(w, fn);
      });

      // Defect 2 (issue 10), before its fix: a failing event/next makes the extension exit at once,
      // leaving its token and leases alive in Vault.
      it(`event/next answers ${what} mid-life: the extension revokes what it holds before it exits; nothing left`, async (ctx) => {
        const w = await cell(ctx);
        const fn = await started(w);
        await invoke(w, fn, [db()]);
        // Its `next` after this INVOKE gets the fault (the one waiting since init gets the INVOKE).
        fn.addFault({ route: "event/next", ...failure });
        const inv = await fn.invoke({ requests: [db()] });
        expect(inv.ok).toBe(false);
        const heldBefore = w.vault.tokens()[0]!;
        expect(heldBefore.revokedAt).toBeDefined();
        await stopsClean(w, fn);
      });
    }
  });
});
