/**
 * Tokens and leases across time, with the environment really frozen (SIGSTOP) between invocations:
 * expiry past a freeze, renewal at the refresh point, capped renewals, non-renewable leases, a token
 * revoked from outside, Vault going away and coming back. TTLs are a few seconds; Vault counts in
 * whole seconds, as the real one does.
 */
import { describe, expect, it, type TestContext } from "vitest";
import { World, results, type ProbeResult, worldForTest } from "./harness.ts";

const world = worldForTest;

const FAST = { VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" };

/**
 * When to wake a 9 s lease for its renewal, after it was issued: just past its refresh point
 * (6.0 s at the latest). The extension decides from the wall clock, so it can be late (a loaded
 * machine) but never early.
 */
const RENEW_AT = 6_250;

/** A 9 s database lease read once, then the environment frozen until just past its refresh point. */
async function atRefreshPoint(ctx: TestContext, maxTtl: string, env: Record<string, string> = FAST) {
  const w = await world({ databaseRole: { default_ttl: "9s", max_ttl: maxTtl } }, ctx);
  const fn = await w.lambda({ ...env, VAULT_SECRET_PATH_DB: "database/creds/app" });
  expect((await fn.start()).ok).toBe(true);
  const first = await readDb(fn);
  await idleUntil(fn, issuedAt(first, 9) + RENEW_AT);
  return { w, fn, first };
}

async function readDb(fn: Awaited<ReturnType<World["lambda"]>>, query = "") {
  const [r] = results(await fn.invoke({ requests: [{ path: `/secrets/db${query}` }] }));
  expect(r!.status, r!.text).toBe(200);
  return r!;
}

/** When Vault issued the lease behind an answer of /secrets/<name> (expires_at less its TTL). */
function issuedAt(answer: ProbeResult, ttlSeconds: number): number {
  return Date.parse(answer.json.expires_at) - ttlSeconds * 1000;
}

/** Keeps the environment frozen until a wall-clock instant (aim at the middle of a window). */
async function idleUntil(fn: Awaited<ReturnType<World["lambda"]>>, at: number): Promise<void> {
  await fn.idle(Math.max(0, at - Date.now()));
}

// Each test has a world of its own (Vault, STS, the emulator) and spends most of its time with the
// environment frozen, so they all run at once: the file takes about as long as its longest test.
describe.concurrent("tokens and leases across time", () => {
  describe("across a freeze", () => {
    it("a freeze longer than a dynamic lease: the next invocation gets live credentials, never the expired ones", async (ctx) => {
      const w = await world({ databaseRole: { default_ttl: "3s", max_ttl: "1m" } }, ctx);
      const fn = await w.lambda({ ...FAST, VAULT_SECRET_PATH_DB: "database/creds/app" });
      expect((await fn.start()).ok).toBe(true);
      const first = await readDb(fn);
      await fn.idle(3_500);
      const second = await readDb(fn);
      expect(second.json.data.username).not.toBe(first.json.data.username);
      const live = w.vault.leases().find((l) => l.leaseId === second.json.lease_id)!;
      expect(live.expiresAt).toBeGreaterThan(Date.now());
      expect(new Date(second.json.expires_at).getTime()).toBeGreaterThan(Date.now());
      await fn.shutdown();
    });

    it("a freeze longer than the token's max TTL: a new login, and the secrets read again under the new token", async (ctx) => {
      const w = await world({ role: { token_ttl: "2s", token_max_ttl: "3s" } }, ctx);
      const fn = await w.lambda({ ...FAST, VAULT_SECRET_PATH_DB: "database/creds/app" });
      expect((await fn.start()).ok).toBe(true);
      const first = await readDb(fn);
      const loginsBefore = w.vault.logins.filter((l) => l.ok).length;
      await fn.idle(3_500);
      const second = await readDb(fn);
      expect(w.vault.logins.filter((l) => l.ok).length).toBe(loginsBefore + 1);
      expect(second.json.data.username).not.toBe(first.json.data.username);
      const tokens = w.vault.tokens().filter((t) => t.path === "auth/aws/login");
      const newest = tokens.at(-1)!;
      const read = w.vault.requestLog.filter((e) => e.path === "database/creds/app").at(-1)!;
      expect(read.tokenAccessor).toBe(newest.accessor);
      await fn.shutdown();
    });
  });

  describe("at the refresh point", () => {
    it("renews a renewable lease: same username, later expiry", async (ctx) => {
      // 9 s lease, 1 s grace: renew between the refresh point (5.55–6.0 s) and the grace period
      // (8.0 s). Nothing can make the extension look early, so aim just past the refresh point and
      // leave the 1.75 s that follow for a loaded machine to be late in.
      const { w, fn, first } = await atRefreshPoint(ctx, "1m");
      await fn.invoke({});
      const second = await readDb(fn);
      expect(second.json.data.username).toBe(first.json.data.username);
      expect(new Date(second.json.expires_at).getTime()).toBeGreaterThan(new Date(first.json.expires_at).getTime() + 3_000);
      expect(w.vault.requestLog.some((e) => e.path === "sys/leases/renew" && e.status === 200)).toBe(true);
      await fn.shutdown();
    });

    it("finishes the renewal before calling next: no request to Vault spans a freeze", async (ctx) => {
      const { w, fn } = await atRefreshPoint(ctx, "1m");
      w.vault.addFault({ path: "sys/leases/renew", latencyMs: 400 });
      const invoke = await fn.invoke({}); // the handler answers at once; the renewal takes 400 ms
      w.vault.clearFaults();
      const renew = w.vault.requestLog.find((e) => e.path === "sys/leases/renew")!;
      expect(renew.endedAt).toBeDefined();
      // The invoke ends when the extension is back in next: after the renewal, not before.
      expect(invoke.extensionOverheadMs).toBeGreaterThanOrEqual(300);
      const freezes = fn.timeline.filter((t) => t.what === "freeze").map((t) => t.at);
      for (const r of w.vault.requestLog) {
        for (const f of freezes) expect(r.startedAt < f && (r.endedAt === undefined || r.endedAt > f), `${r.path} spans a freeze`).toBe(false);
      }
      await fn.shutdown();
    });

    it("a renewal capped by the max TTL leads to a new read", async (ctx) => {
      // 9 s lease, 10 s max, 300 ms grace: a renewal in [6.0 s, 8.7 s) gets what is left of the max
      // TTL (under 4 s), less than asked for. At 9.5 s that capped lease is past its refresh point
      // (or expired) and not renewable: a new read, never a second renewal, however late we are.
      const { w, fn, first } = await atRefreshPoint(ctx, "10s", { VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "300ms" });
      await fn.invoke({});
      const renewals = w.vault.requestLog.filter((e) => e.path === "sys/leases/renew" && e.status === 200);
      expect(renewals).toHaveLength(1);
      await idleUntil(fn, issuedAt(first, 9) + 9_500);
      // The INVOKE reads it again; a handler request at the same moment may still get the capped
      // value at once, while it is valid (stale-while-revalidate), so the new one is read after it.
      await fn.invoke({});
      const second = await readDb(fn);
      expect(second.json.data.username).not.toBe(first.json.data.username);
      expect(w.vault.requestLog.filter((e) => e.path === "sys/leases/renew")).toHaveLength(1);
      await fn.shutdown();
    });

    it("re-reads a non-renewable AWS assumed_role lease", async (ctx) => {
      const w = await world({}, ctx);
      await fetch(`${w.vault.url}/v1/aws/roles/uploader`, {
        method: "POST",
        headers: { "x-vault-token": w.vault.rootToken },
        body: JSON.stringify({ credential_type: "assumed_role", role_arns: ["arn:aws:iam::123456789012:role/uploader"], default_sts_ttl: "3s", max_sts_ttl: "1h" }),
      });
      const fn = await w.lambda({ ...FAST, VAULT_SECRET_PATH_UPLOAD: "aws/sts/uploader" });
      expect((await fn.start()).ok).toBe(true);
      const [a] = results(await fn.invoke({ requests: [{ path: "/aws/credentials/upload" }] }));
      expect(a!.status, a!.text).toBe(200);
      expect(a!.json.Token).not.toBe("");
      await fn.idle(2_200);
      const [b] = results(await fn.invoke({ requests: [{ path: "/aws/credentials/upload" }] }));
      expect(b!.json.AccessKeyId).not.toBe(a!.json.AccessKeyId);
      expect(w.vault.requestLog.some((e) => e.path === "sys/leases/renew")).toBe(false);
      await fn.shutdown();
    });
  });

  describe("failures", () => {
    it("a token revoked in Vault from outside: one new login, and the handler still succeeds", async (ctx) => {
      const w = await world({}, ctx);
      const fn = await w.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" });
      expect((await fn.start()).ok).toBe(true);
      const token = w.vault.tokens().find((t) => t.path === "auth/aws/login" && !t.revokedAt)!;
      w.vault.revokeToken(token.accessor);
      const loginsBefore = w.vault.logins.filter((l) => l.ok).length;
      const [proxied, db] = results(await fn.invoke({ requests: [{ path: "/v1/secret/data/app/config" }, { path: "/secrets/db" }] }));
      expect(proxied!.status, proxied!.text).toBe(200);
      expect(proxied!.json.data.data.api_key).toBe("kv-api-key-7f3a9c");
      // The old token's lease died with it; the secret is read again under the new token.
      expect(db!.status).toBe(200);
      const lease = w.vault.leases().find((l) => l.leaseId === db!.json.lease_id)!;
      expect(lease.revokedAt).toBeUndefined();
      expect(w.vault.logins.filter((l) => l.ok).length).toBe(loginsBefore + 1);
      await fn.shutdown();
    });

    it("Vault down mid-life: STALE while valid, 502 with Vault's reason once expired, fresh again when back", async (ctx) => {
      const w = await world({ databaseRole: { default_ttl: "4s", max_ttl: "1m" } }, ctx);
      const fn = await w.lambda({ ...FAST, VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_MAX_RETRIES: "1", VAULT_CLIENT_TIMEOUT: "1s" });
      expect((await fn.start()).ok).toBe(true);
      const first = await readDb(fn);
      w.vault.seal();
      const [stale] = results(await fn.invoke({ requests: [{ path: "/secrets/db?refresh=true" }] }));
      expect(stale!.status).toBe(200);
      expect(stale!.xCache).toBe("STALE");
      expect(stale!.json.data.username).toBe(first.json.data.username);
      await fn.idle(4_000);
      const [gone] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
      expect(gone!.status).toBe(502);
      expect(gone!.json.errors[0]).toMatch(/sealed/i);
      w.vault.unseal();
      const [back] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
      expect(back!.status).toBe(200);
      expect(back!.json.data.username).not.toBe(first.json.data.username);
      await fn.shutdown();
    });
  });
});
