/**
 * Issue 10, defects 4, 13 and 14, with the built layer under the Lambda emulator against the Vault
 * and STS test servers: a role whose tokens cannot call lookup-self (no login storm, every token
 * revoked at SHUTDOWN), leases no correct Vault gives (a Vault error, not a value, and not a new
 * database user per request), and a Vault that hangs past the refresh point (the handler gets the
 * valid value at once, the extension asks Vault once per backoff step, not at every INVOKE).
 * Time-sensitive checks assert order and counts, never short durations.
 */
import { describe, expect, it, type TestContext } from "vitest";
import { World, results, worldForTest, type ProbeResult } from "./harness.ts";
import { RewritingProxy } from "../peers/vault/rewriting-proxy.ts";
import type { InvokeResult } from "../peers/lambda/types.ts";

type Fn = Awaited<ReturnType<World["lambda"]>>;

const okLogins = (w: World) => w.vault.logins.filter((l) => l.ok).length;

/** The extension's JSON lines (the emulator keeps each process's output apart). */
function agentLines(fn: Fn): Array<Record<string, any>> {
  return fn
    .logs("vault-lambda-agent")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

/** After SHUTDOWN: no token the extension obtained and no lease it read is alive in Vault. */
function expectNothingLeftInVault(w: World): void {
  expect(w.vault.tokens().filter((t) => t.path === "auth/aws/login" && t.revokedAt === undefined).map((t) => t.accessor)).toEqual([]);
  expect(w.vault.leases().filter((l) => l.revokedAt === undefined).map((l) => l.leaseId)).toEqual([]);
}

async function readDb(fn: Fn, query = ""): Promise<ProbeResult> {
  const [r] = results(await fn.invoke({ requests: [{ path: `/secrets/db${query}` }] }));
  expect(r!.status, r!.text).toBe(200);
  return r!;
}

/** When Vault issued the lease behind an answer of /secrets/<name> (expires_at less its TTL). */
function issuedAt(answer: ProbeResult, ttlSeconds: number): number {
  return Date.parse(answer.json.expires_at) - ttlSeconds * 1000;
}

/** A role with `token_no_default_policy`: its live tokens are denied what only the default policy grants, lookup-self first. */
async function noDefaultPolicy(ctx: TestContext, opts: Parameters<typeof worldForTest>[0] = {}) {
  const w = await worldForTest({ ...opts, role: { token_no_default_policy: true } }, ctx);
  // The test server does not enforce ACLs: the denials a real Vault gives such a token are faults.
  w.vault.addFault({ path: "auth/token/lookup-self", status: 403 });
  return w;
}

describe.concurrent("refresh hardening (issue 10)", () => {
  describe("defect 4: a 403 when lookup-self is denied", () => {
    it("five denied proxy reads cost at most one extra login, and every token (replaced ones too) is revoked at SHUTDOWN", async (ctx) => {
      const w = await noDefaultPolicy(ctx);
      w.vault.addFault({ path: "secret/data/forbidden", status: 403 });
      const fn = await w.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" });
      expect((await fn.start()).ok).toBe(true);
      const before = okLogins(w);
      const denied = results(await fn.invoke({ requests: Array.from({ length: 5 }, () => ({ path: "/v1/secret/data/forbidden" })) }));
      expect(denied.map((r) => r.status)).toEqual([403, 403, 403, 403, 403]);
      expect(okLogins(w) - before).toBeLessThanOrEqual(1);
      // Nothing else broke: the declared secret is served (read again under the new token, if any).
      await readDb(fn);
      expect(w.vault.tokens().filter((t) => t.path === "auth/aws/login").length).toBe(okLogins(w));
      await fn.shutdown();
      expectNothingLeftInVault(w);
    });

    it("a denied lease renewal takes the same path: the secret is read again, at most one extra login, everything revoked at SHUTDOWN", async (ctx) => {
      const w = await noDefaultPolicy(ctx, { databaseRole: { default_ttl: "6s", max_ttl: "1m" } });
      w.vault.addFault({ path: "sys/leases/renew", status: 403 });
      const fn = await w.lambda({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s", VAULT_SECRET_PATH_DB: "database/creds/app" });
      expect((await fn.start()).ok).toBe(true);
      const before = okLogins(w);
      let answer = await readDb(fn);
      const usernames = new Set<string>([answer.json.data.username]);
      // Three refresh points (4 s into each 6 s lease), each renewal denied.
      for (let i = 0; i < 3; i++) {
        await fn.idle(Math.max(0, issuedAt(answer, 6) + 4_250 - Date.now()));
        await fn.invoke({});
        answer = await readDb(fn);
        usernames.add(answer.json.data.username);
      }
      expect(w.vault.requestLog.filter((e) => e.path === "sys/leases/renew").length).toBeGreaterThanOrEqual(3);
      expect(usernames.size).toBe(4);
      expect(okLogins(w) - before).toBeLessThanOrEqual(1);
      await fn.shutdown();
      expectNothingLeftInVault(w);
    });
  });

  describe("defect 13: leases no correct Vault gives", () => {
    it.for([0, "3600"])("lease_duration %j: a 502 in plain words (never a 200 of it), not one database user per request, and the lease revoked at SHUTDOWN", async (duration, ctx) => {
      const w = await worldForTest({}, ctx);
      const proxy = await RewritingProxy.start(w.vault.url);
      ctx.onTestFinished(() => proxy.close());
      const fn = await w.lambda({ VAULT_ADDR: proxy.url, VAULT_SECRET_PATH_DB: "database/creds/app" });
      expect((await fn.start()).ok).toBe(true);
      const first = await readDb(fn);
      proxy.onAnswer("database/creds/app", (json) => ({ ...json, lease_duration: duration }));
      const created = () => w.vault.leases().filter((l) => l.path === "database/creds/app").length;
      const before = created();

      const cached = { path: "/v1/database/creds/app", headers: { "x-vault-cache-control": "cache" } };
      const forced = { path: "/secrets/db?refresh=true" };
      const r = results(await fn.invoke({ requests: [cached, cached, cached, forced, forced, forced] }));
      // A cached proxy read with nothing held: Vault's error, in words.
      for (const a of r.slice(0, 3)) {
        expect(a.status).toBe(502);
        expect(a.json.errors[0]).toMatch(/lease that cannot be served: lease database\/creds\/app\/\S+ (is already expired|has no usable lease_duration)/);
      }
      // A declared secret still valid: the held value, STALE, never the odd one.
      for (const a of r.slice(3)) {
        expect(a.status).toBe(200);
        expect(a.xCache).toBe("STALE");
        expect(a.json.data.username).toBe(first.json.data.username);
      }
      // The next invocation's cached read is answered the same way (the failure outlives the INVOKE's
      // clean-up of cached proxy reads).
      const [again] = results(await fn.invoke({ requests: [cached] }));
      expect(again!.status).toBe(502);
      // Each key asked Vault once, not once per request: two users, not seven. (The backoff lasts 1 s;
      // on a machine slow enough to spread the requests wider, one more read per second is allowed.)
      const span = again!.at! - r[0]!.at!;
      expect(created() - before).toBeGreaterThanOrEqual(2);
      expect(created() - before).toBeLessThanOrEqual(2 + 2 * Math.floor(span / 1_000));
      await fn.shutdown();
      expectNothingLeftInVault(w);
    });
  });

  describe("defect 14: a Vault that hangs past the refresh point", () => {
    it(
      "handler requests get the valid value at once; Vault is asked once per backoff step, not at every INVOKE; STALE is logged once",
      async (ctx) => {
        // A 24 s lease: refresh point at 15.6–16 s, servable until 23 s (1 s grace).
        const w = await worldForTest({ databaseRole: { default_ttl: "24s", max_ttl: "5m" } }, ctx);
        const CLIENT_TIMEOUT_MS = 2_000;
        const fn = await w.lambda({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s", VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_CLIENT_TIMEOUT: "2s", VAULT_MAX_RETRIES: "0", VAULT_LOG_LEVEL: "info" });
        expect((await fn.start()).ok).toBe(true);
        const first = await readDb(fn);
        const issued = issuedAt(first, 24);
        await fn.idle(Math.max(0, issued + 16_250 - Date.now()));

        // Vault now hangs far longer than the client waits.
        const HANG_MS = 20_000;
        const hanging = /^(sys\/leases\/renew|database\/creds\/app)$/;
        w.vault.addFault({ path: hanging, latencyMs: HANG_MS });
        const invokes: Array<{ invoke: InvokeResult; answer: ProbeResult }> = [];
        while (Date.now() < issued + 21_000 && invokes.length < 60) {
          const invoke = await fn.invoke({ requests: [{ path: "/secrets/db" }] });
          invokes.push({ invoke, answer: results(invoke)[0]! });
          await fn.idle(100);
        }
        const asked = w.vault.requestLog.filter((e) => hanging.test(e.path) && e.startedAt >= invokes[0]!.invoke.startedAt);
        const askedDuring = (i: InvokeResult) => asked.filter((e) => e.startedAt >= i.startedAt && e.startedAt <= i.doneAt).length;

        expect(invokes.length).toBeGreaterThanOrEqual(4);
        // Every handler request got the valid value, none waited for Vault: the first one was
        // answered before the request Vault hung on had even been given up.
        for (const { answer } of invokes) {
          expect(answer.status, answer.text).toBe(200);
          expect(answer.json.data.username).toBe(first.json.data.username);
          expect(["HIT", "STALE"]).toContain(answer.xCache);
        }
        const firstAsked = asked[0]!;
        expect(firstAsked.endedAt).toBeDefined();
        expect(invokes[0]!.answer.at! + invokes[0]!.answer.ms!).toBeLessThan(firstAsked.endedAt!);
        // Vault was asked at the first INVOKE past the refresh point and then once per backoff step
        // (1 s, 2 s... after each failure), at most once per INVOKE: a handful, not one per INVOKE.
        expect(asked.length).toBeGreaterThanOrEqual(1);
        expect(asked.length).toBeLessThanOrEqual(3);
        for (const { invoke } of invokes) expect(askedDuring(invoke)).toBeLessThanOrEqual(1);
        // The other INVOKEs asked Vault nothing, and none of them waited out a Vault timeout.
        const quiet = invokes.filter(({ invoke }) => askedDuring(invoke) === 0);
        expect(quiet.length).toBeGreaterThanOrEqual(invokes.length - 3);
        for (const { invoke } of quiet) expect(invoke.extensionOverheadMs).toBeLessThan(CLIENT_TIMEOUT_MS);
        // Nothing to Vault was in flight across a freeze: a frozen process cannot close a socket, so
        // such a request would stay open on Vault's side until after the next thaw. (Its server-side
        // end may be seen a moment after the freeze began: the extension closed it before `next`,
        // in the same instant as the timeout.)
        const marks = fn.timeline.filter((t) => t.what === "freeze" || t.what === "thaw");
        for (const r of asked) {
          for (const [i, m] of marks.entries()) {
            const thaw = marks.slice(i + 1).find((t) => t.what === "thaw");
            if (m.what !== "freeze" || !thaw) continue;
            expect(r.startedAt < m.at && (r.endedAt === undefined || r.endedAt >= thaw.at), `${r.path} open across a freeze`).toBe(false);
          }
        }
        const lines = agentLines(fn);
        expect(lines.filter((l) => l.message === "serving a still-valid value as STALE while its refresh fails")).toHaveLength(1);
        expect(lines.filter((l) => l.message === "refreshing a secret failed").length).toBe(asked.length);

        w.vault.clearFaults();
        await fn.shutdown();
        expectNothingLeftInVault(w);
      },
      60_000,
    );

    it("on Lambda Managed Instances (a timer, no INVOKE, no freeze) the same backoff: callers reading all through a failing refresh get the valid value, Vault is asked a few times, not once per read", async (ctx) => {
      // A 9 s lease: refresh point at 5.55–6 s, servable until 8 s (1 s grace).
      const w = await worldForTest({ databaseRole: { default_ttl: "9s", max_ttl: "1m" } }, ctx);
      const fn = await w.lambda({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s", VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_MAX_RETRIES: "0" }, { mode: "lambda-managed-instances", maxConcurrency: 5, timeoutMs: 30_000 });
      expect((await fn.start()).ok).toBe(true);
      const first = await readDb(fn);
      const issued = issuedAt(first, 9);
      const failing = /^(sys\/leases\/renew|database\/creds\/app)$/;
      w.vault.addFault({ path: failing, status: 503 });
      const from = Date.now();
      const answers: ProbeResult[] = [];
      const caller = async (): Promise<void> => {
        while (Date.now() < issued + 7_700) {
          answers.push(...results(await fn.invoke({ requests: [{ path: "/secrets/db" }] })));
          await new Promise((r) => setTimeout(r, 50));
        }
      };
      await Promise.all(Array.from({ length: 5 }, caller));
      const asked = w.vault.requestLog.filter((e) => failing.test(e.path) && e.startedAt >= from);
      // Answers before the value's end: all the valid value.
      expect(answers.length).toBeGreaterThan(10);
      for (const a of answers.filter((x) => x.at! + x.ms! < issued + 8_000)) {
        expect(a.status, a.text).toBe(200);
        expect(a.json.data.username).toBe(first.json.data.username);
      }
      expect(answers.some((a) => a.xCache === "STALE")).toBe(true);
      // At the refresh point, then 1 s later, then (capped) at the value's end: not once per read.
      expect(asked.length).toBeGreaterThanOrEqual(1);
      expect(asked.length).toBeLessThanOrEqual(3);
      w.vault.clearFaults();
      await fn.shutdown();
      expectNothingLeftInVault(w);
    }, 60_000);
  });
});
