/**
 * The secret cache against a fake Vault and a fake clock: serving, single-flight, renewal at the
 * refresh point, capped renewals, expiry past a freeze, failures and STALE, the lease bounded by its
 * token, KV values re-read behind the served one, INVOKE freshening, eviction and revocation.
 * No sleeps: time moves when the test moves it (the one real timer is the short wait bound).
 */
import { describe, expect, it } from "vitest";
import { SecretCache, type EntrySpec } from "../../src/cache/secret-cache.ts";
import type { SecretRecord } from "../../src/cache/record.ts";
import { kindOf } from "../../src/errors.ts";
import type { VaultRequest } from "../../src/vault/client.ts";
import { TokenManager } from "../../src/vault/token.ts";
import { answer, FakeAuth, FakeClock, FakeVault, MINUTE, SECOND, settle, T0, testLogger, unreachable } from "../vault/fakes.ts";

const GRACE = 10 * SECOND;
const LEASE_S = 3_600; // refresh point at 40 min (no jitter), grace from 60 min − 10 s
const DB: EntrySpec = { key: "db", label: "DB", path: "database/creds/app", kind: "declared", staticTtlMs: 5 * MINUTE };
const KV: EntrySpec = { key: "config", label: "CONFIG", path: "secret/data/app", kind: "declared", staticTtlMs: 5 * MINUTE };

function setup(opts: { tokenTtlS?: number; waitMs?: number; onStored?: () => void } = {}) {
  const clock = new FakeClock();
  const vault = new FakeVault();
  const auth = new FakeAuth(opts.tokenTtlS ?? 4 * 3_600);
  const { log, lines, redactor } = testLogger();
  const tokens = new TokenManager({ client: vault, auth, graceMs: GRACE, log, clock: clock.now, random: () => 0 });
  const cache = new SecretCache({ client: vault, tokens, log, redactor, graceMs: GRACE, waitMs: opts.waitMs ?? 1_000, clock: clock.now, random: () => 0, onStored: opts.onStored });
  let users = 0;
  const leases = new Map<string, string>();
  // A database engine: a new user per read, leases renewable for what is asked.
  vault.on("GET", DB.path, (req) => {
    const id = `database/creds/app/lease-${++users}`;
    leases.set(id, req.token!);
    return answer(200, { lease_id: id, lease_duration: LEASE_S, renewable: true, data: { username: `v-app-${users}`, password: `pw-${users}-secret` } });
  });
  vault.on("PUT", "sys/leases/renew", (req) => {
    const body = req.body as { lease_id: string; increment: number };
    return answer(200, { lease_id: body.lease_id, lease_duration: body.increment, renewable: true });
  });
  let version = 0;
  vault.on("GET", KV.path, () => answer(200, { data: { data: { api_key: `key-v${++version}` }, metadata: { version } } }));
  const changes: SecretRecord[] = [];
  cache.define({ ...DB, onChange: (r) => changes.push(r) });
  cache.define(KV);
  return { clock, vault, auth, tokens, cache, lines, redactor, changes };
}

const renewals = (vault: FakeVault): VaultRequest[] => vault.calls.filter((c) => c.path === "sys/leases/renew");

/** What an INVOKE does: freshen what is due, and wait for it. */
const invoke = (cache: SecretCache, clock: FakeClock) => cache.freshen(clock.t + 1_000);

describe("serving", () => {
  it("reads once, then serves from the cache until the refresh point", async () => {
    const { clock, vault, cache } = setup();
    const first = await cache.get("db");
    expect(first.status).toBe("MISS");
    expect(first.record.data).toEqual({ username: "v-app-1", password: "pw-1-secret" });
    clock.advance(40 * MINUTE - 1);
    expect(cache.fresh("db")).toBe(first.record);
    expect(await cache.get("db")).toEqual({ record: first.record, status: "HIT" });
    expect(vault.count("GET", DB.path)).toBe(1);
  });

  it("concurrent requests for a missing value share one read", async () => {
    const { vault, cache } = setup();
    const answers = await Promise.all(Array.from({ length: 10 }, () => cache.get("db")));
    expect(vault.count("GET", DB.path)).toBe(1);
    expect(new Set(answers.map((a) => a.record)).size).toBe(1);
    expect(answers.every((a) => a.status === "MISS")).toBe(true);
  });

  it("a forced read always goes to Vault", async () => {
    const { vault, cache } = setup();
    await cache.get("db");
    const forced = await cache.get("db", { force: true });
    expect(forced.status).toBe("MISS");
    expect(forced.record.data.username).toBe("v-app-2");
    expect(vault.count("GET", DB.path)).toBe(2);
  });

  it("registers every value it reads with the redactor", async () => {
    const { cache, redactor } = setup();
    await cache.get("db");
    expect(redactor.scrub("password is pw-1-secret")).toBe("password is [redacted]");
  });

  it("unwraps KV v2 and keeps its metadata", async () => {
    const { cache } = setup();
    const { record } = await cache.get("config");
    expect(record.data).toEqual({ api_key: "key-v1" });
    expect(record.metadata).toEqual({ version: 1 });
    expect(record.leaseId).toBe("");
  });
});

describe("renewal", () => {
  it("renews at the refresh point: the same value, with the first duration as increment, counted from now", async () => {
    const { clock, vault, cache, changes } = setup();
    const first = await cache.get("db");
    clock.advance(40 * MINUTE);
    expect(cache.fresh("db")).toBeUndefined();
    await invoke(cache, clock);
    const renewed = await cache.get("db");
    expect(renewed.status).toBe("HIT");
    expect(renewed.record.data.username).toBe("v-app-1");
    expect(renewals(vault).map((r) => r.body)).toEqual([{ lease_id: first.record.leaseId, increment: LEASE_S }]);
    expect(cache.effectiveLease(renewed.record).expiresAt).toBe(clock.t + LEASE_S * SECOND);
    expect(changes).toHaveLength(2); // the read and the renewal
  });

  it("a renewal capped by the max TTL is not renewed again: the next refresh point reads a new secret", async () => {
    const { clock, vault, cache } = setup();
    vault.on("PUT", "sys/leases/renew", () => answer(200, { lease_duration: 900, renewable: true }));
    await cache.get("db");
    clock.advance(40 * MINUTE);
    await invoke(cache, clock);
    const capped = await cache.get("db");
    expect(capped.record.lease.renewable).toBe(false);
    clock.advance(10 * MINUTE); // 2/3 of the 15 min that were left
    await invoke(cache, clock);
    const next = await cache.get("db");
    expect(next.record.data.username).toBe("v-app-2");
    expect(renewals(vault)).toHaveLength(1);
  });

  it("a renewal capped to nothing reads a new secret at once; one capped to seconds, at its refresh point", async () => {
    const { clock, vault, cache } = setup();
    vault.on("PUT", "sys/leases/renew", () => answer(200, { lease_duration: 0, renewable: true }));
    await cache.get("db");
    clock.advance(40 * MINUTE);
    await invoke(cache, clock);
    expect((await cache.get("db")).record.data.username).toBe("v-app-2");
    vault.on("PUT", "sys/leases/renew", () => answer(200, { lease_duration: 5, renewable: true }));
    clock.advance(40 * MINUTE);
    await invoke(cache, clock);
    // 5 s left: the grace shrinks to a third of it, and 2/3 of it is the refresh point.
    expect((await cache.get("db")).record.data.username).toBe("v-app-2");
    clock.advance(3_400);
    await invoke(cache, clock);
    expect((await cache.get("db")).record.data.username).toBe("v-app-3");
    expect(renewals(vault)).toHaveLength(2);
  });

  it("a renewal Vault refuses for good (the lease is gone) reads the secret again", async () => {
    const { clock, vault, cache, auth } = setup();
    vault.on("PUT", "sys/leases/renew", () => answer(400, { errors: ["lease not found"] }));
    await cache.get("db");
    clock.advance(41 * MINUTE);
    await invoke(cache, clock);
    expect((await cache.get("db")).record.data.username).toBe("v-app-2");
    expect(auth.logins).toBe(1);
  });

  it("a renewal answered 403 by a dead token (Vault says invalid token): a new login, and the secret read under the new token", async () => {
    const { clock, vault, cache, auth, tokens } = setup();
    vault.on("PUT", "sys/leases/renew", (req) => answer(req.token === "token-1" ? 403 : 400, { errors: req.token === "token-1" ? ["permission denied", "invalid token"] : ["lease not found"] }));
    vault.on("GET", "auth/token/lookup-self", () => answer(403, { errors: ["permission denied", "invalid token"] }));
    const first = await cache.get("db");
    clock.advance(41 * MINUTE);
    await invoke(cache, clock);
    const second = await cache.get("db");
    expect(first.record.token.dead).toBe(true);
    expect(auth.logins).toBe(2);
    expect(second.record.token).toBe(tokens.current);
    expect(vault.calls.filter((c) => c.path === DB.path).map((c) => c.token)).toEqual(["token-1", "token-2"]);
  });

  it("a renewal a live token's policy denies (lookup-self answers): no login, the secret read again", async () => {
    const { clock, vault, cache, auth } = setup();
    vault.on("PUT", "sys/leases/renew", () => answer(403, { errors: ["permission denied"] }));
    vault.on("GET", "auth/token/lookup-self", () => answer(200, { data: {} }));
    await cache.get("db");
    clock.advance(41 * MINUTE);
    await invoke(cache, clock);
    expect((await cache.get("db")).record.data.username).toBe("v-app-2");
    expect(auth.logins).toBe(1);
  });
});

describe("expiry", () => {
  it("past expiry (a thaw after a long freeze): a new read, never a renewal, never the expired value", async () => {
    const { clock, vault, cache } = setup();
    await cache.get("db");
    clock.advance(2 * 60 * MINUTE);
    expect(cache.fresh("db")).toBeUndefined();
    const next = await cache.get("db");
    expect(next).toMatchObject({ status: "MISS", record: { data: { username: "v-app-2" } } });
    expect(renewals(vault)).toHaveLength(0);
  });

  it("a value's lease ends with the token that read it", async () => {
    const { clock, cache, auth } = setup({ tokenTtlS: 30 * 60 });
    const first = await cache.get("db");
    expect(cache.effectiveLease(first.record).expiresAt).toBe(T0 + 30 * MINUTE);
    clock.advance(30 * MINUTE - GRACE - 1);
    expect(cache.fresh("db")).toBe(first.record);
    clock.advance(1);
    const next = await cache.get("db");
    expect(next.record.data.username).toBe("v-app-2");
    expect(auth.logins).toBe(2);
  });

  it("a value read under a replaced token is read again", async () => {
    const { cache, tokens } = setup();
    await cache.get("db");
    await tokens.login();
    expect(cache.fresh("db")).toBeUndefined();
    expect((await cache.get("db")).record.data.username).toBe("v-app-2");
  });
});

describe("failures", () => {
  it("Vault failing while the value is valid: STALE; once it expires: the error, with Vault's reason", async () => {
    const { clock, vault, cache, lines } = setup();
    await cache.get("db");
    vault.on("PUT", "sys/leases/renew", () => answer(503, { errors: ["Vault is sealed"] }));
    vault.on("GET", DB.path, () => answer(503, { errors: ["Vault is sealed"] }));
    clock.advance(45 * MINUTE);
    await invoke(cache, clock);
    const stale = await cache.get("db");
    expect(stale).toMatchObject({ status: "STALE", record: { data: { username: "v-app-1" } } });
    expect(lines.filter((l) => l.level === "WARN" && l.message === "serving a still-valid value as STALE while its refresh fails")).toMatchObject([{ secret: "DB", validForS: 15 * 60 }]);
    clock.advance(15 * MINUTE);
    const err = await cache.get("db").catch((e: unknown) => e);
    expect(kindOf(err)).toBe("vault-transient");
    expect((err as Error).message).toContain("Vault is sealed");
  });

  it("nothing held and Vault unreachable: the error", async () => {
    const { vault, cache } = setup();
    vault.on("GET", DB.path, unreachable);
    expect(kindOf(await cache.get("db").catch((e: unknown) => e))).toBe("vault-transient");
  });

  it("a 404 without Vault's words says which path has no secret", async () => {
    const { vault, cache } = setup();
    vault.on("GET", DB.path, () => answer(404, {}));
    const err = (await cache.get("db").catch((e: unknown) => e)) as Error;
    expect(err.message).toContain("no secret at database/creds/app");
    expect(kindOf(err)).toBe("vault-permanent");
  });

  it("a caller waits at most waitMs for Vault: then the still-valid value, else a timeout", async () => {
    const { clock, vault, cache } = setup({ waitMs: 5 });
    await cache.get("db");
    vault.on("GET", DB.path, () => new Promise(() => undefined));
    vault.on("PUT", "sys/leases/renew", () => new Promise(() => undefined));
    clock.advance(41 * MINUTE);
    expect((await cache.get("db", { force: true })).status).toBe("STALE");
    vault.on("GET", KV.path, () => new Promise(() => undefined));
    const err = await cache.get("config").catch((e: unknown) => e);
    expect(kindOf(err)).toBe("timeout");
    expect((err as Error).message).toBe("Vault did not answer the read of CONFIG within 5 ms");
  });
});

describe("an outage past the refresh point (stale-while-revalidate, backoff)", () => {
  const hang = () => new Promise<never>(() => undefined);

  it("every request gets the still-valid value at once, and one refresh runs behind all of them", async () => {
    const { clock, vault, cache } = setup({ waitMs: 60_000 });
    const first = await cache.get("db");
    vault.on("PUT", "sys/leases/renew", hang);
    clock.advance(41 * MINUTE);
    const answers: Array<{ status: string }> = [];
    for (let i = 0; i < 10; i++) void cache.get("db").then((a) => answers.push(a));
    await settle();
    // Nothing waited for the hanging renewal.
    expect(answers).toHaveLength(10);
    expect(answers.every((a) => a.status === "HIT")).toBe(true);
    expect((await cache.get("db")).record).toBe(first.record);
    expect(renewals(vault)).toHaveLength(1);
  });

  it("a failed refresh is retried after 1 s, 2 s, 4 s... by the wall clock, not at every INVOKE; STALE meanwhile; never past the value's end", async () => {
    const { clock, vault, cache, lines } = setup();
    await cache.get("db");
    vault.on("PUT", "sys/leases/renew", unreachable);
    vault.on("GET", DB.path, unreachable);
    clock.advance(41 * MINUTE);
    const attempts = () => renewals(vault).length + vault.count("GET", DB.path) - 1;
    expect(await invoke(cache, clock)).toEqual({ refreshed: 0, failed: 1 });
    expect(attempts()).toBe(1);
    // INVOKEs every 250 ms for 7.5 s: Vault is asked at +1 s, +3 s, +7 s only.
    for (let i = 0; i < 30; i++) {
      clock.advance(250);
      await invoke(cache, clock);
      expect((await cache.get("db")).status).toBe("STALE");
    }
    expect(attempts()).toBe(4);
    expect(lines.filter((l) => l.message === "refreshing a secret failed").map((l) => l.retryInS)).toEqual([1, 2, 4, 8]);
    expect(lines.filter((l) => l.message === "serving a still-valid value as STALE while its refresh fails")).toHaveLength(1);
    // Many failures later the step is 30 s at most, and never past the moment the value stops being served.
    clock.advance(60 * MINUTE - GRACE - (clock.t - T0) - 20 * SECOND);
    for (let i = 0; i < 6; i++) {
      clock.advance(SECOND);
      await invoke(cache, clock);
    }
    const last = lines.filter((l) => l.message === "refreshing a secret failed").at(-1)!;
    expect(last.retryInS).toBeLessThanOrEqual(30);
    // At the value's end (start of its grace period) it is tried once more, and then it is gone.
    clock.t = T0 + 60 * MINUTE - GRACE;
    const before = attempts();
    await invoke(cache, clock);
    expect(attempts()).toBe(before + 1);
    expect(kindOf(await cache.get("db").catch((e: unknown) => e))).toBe("vault-transient");
  });

  it("a refresh ahead of need (at INVOKE, or behind a served value) makes one attempt; a request with nothing to serve uses VAULT_MAX_RETRIES", async () => {
    const { clock, vault, cache } = setup();
    await cache.get("db");
    expect(vault.calls.at(-1)!.retries).toBeUndefined();
    clock.advance(41 * MINUTE);
    await invoke(cache, clock);
    expect(renewals(vault).map((r) => r.retries)).toEqual([0]);
    clock.advance(41 * MINUTE);
    await cache.get("db");
    await settle();
    expect(renewals(vault).map((r) => r.retries)).toEqual([0, 0]);
  });

  it("an expired value during an outage waits for Vault: a request with nothing else to serve asks again", async () => {
    const { clock, vault, cache } = setup();
    await cache.get("db");
    vault.on("PUT", "sys/leases/renew", unreachable);
    vault.on("GET", DB.path, unreachable);
    clock.advance(2 * 60 * MINUTE);
    await invoke(cache, clock);
    const before = vault.count("GET", DB.path);
    await expect(cache.get("db")).rejects.toThrow(/could not reach Vault/);
    expect(vault.count("GET", DB.path)).toBe(before + 1);
  });

  it("back again: the next attempt after the backoff refreshes, and the value is HIT again", async () => {
    const { clock, vault, cache } = setup();
    await cache.get("db");
    vault.on("PUT", "sys/leases/renew", unreachable);
    clock.advance(41 * MINUTE);
    await invoke(cache, clock);
    vault.on("PUT", "sys/leases/renew", (req) => answer(200, { lease_id: (req.body as { lease_id: string }).lease_id, lease_duration: LEASE_S, renewable: true }));
    expect((await cache.get("db")).status).toBe("STALE");
    clock.advance(SECOND);
    // The request is served at once and renews behind it (the backoff has passed).
    expect((await cache.get("db")).status).toBe("STALE");
    await settle();
    expect((await cache.get("db")).status).toBe("HIT");
    expect(cache.fresh("db")).toBeDefined();
  });

  it("outside the refresh window (the extension may be frozen any moment) nothing starts behind a served value; the next INVOKE refreshes it", async () => {
    const clock = new FakeClock();
    const vault = new FakeVault();
    const { log, redactor } = testLogger();
    const tokens = new TokenManager({ client: vault, auth: new FakeAuth(4 * 3_600), graceMs: GRACE, log, clock: clock.now, random: () => 0 });
    let open = true;
    const cache = new SecretCache({ client: vault, tokens, log, redactor, graceMs: GRACE, waitMs: 1_000, clock: clock.now, random: () => 0, mayRefreshBehind: () => open });
    vault.on("GET", KV.path, () => answer(200, { data: { data: { k: "v" }, metadata: { version: 1 } } }));
    cache.define(KV);
    await cache.get("config");
    open = false;
    clock.advance(6 * MINUTE);
    expect((await cache.get("config")).status).toBe("HIT");
    await settle();
    expect(vault.count("GET", KV.path)).toBe(1);
    await cache.freshen(clock.t + 1_000);
    expect(vault.count("GET", KV.path)).toBe(2);
  });
});

describe("leases Vault gives that cannot be served (lease_duration 0, negative, null, a string)", () => {
  it.each([0, -30, null, "3600"])("lease_duration %j: a Vault error in plain words, never served, not read again at every request, and the lease revoked at shutdown", async (duration) => {
    const { clock, vault, cache } = setup();
    let users = 0;
    vault.on("GET", DB.path, () => answer(200, { lease_id: `database/creds/app/odd-${++users}`, lease_duration: duration, renewable: true, data: { username: `v-odd-${users}`, password: "pw" } }));
    const failures = [];
    for (let i = 0; i < 3; i++) failures.push(await cache.get("db").catch((e: unknown) => e));
    // Three requests, one database user.
    expect(users).toBe(1);
    for (const err of failures) {
      expect(kindOf(err)).toBe("vault-permanent");
      expect((err as Error).message).toMatch(/lease that cannot be served: lease database\/creds\/app\/odd-1 (is already expired|has no usable lease_duration)/);
    }
    // An INVOKE in between does not forget the failure (a cached proxy read would be dropped with it).
    cache.evictExpired(() => true);
    expect(cache.has("db")).toBe(true);
    await cache.get("db").catch(() => undefined);
    expect(users).toBe(1);
    // Asked again once the backoff has passed.
    clock.advance(SECOND);
    await cache.get("db").catch(() => undefined);
    expect(users).toBe(2);
    // Never served, but revoked when the extension stops: Vault may hold a user behind it.
    vault.on("PUT", "sys/leases/revoke", () => answer(204));
    expect((await cache.revokeAll(clock.t + 1_000)).revoked).toBe(2);
  });
});

describe("values without a lease (KV)", () => {
  it("past the static TTL: served at once, read again behind it, once", async () => {
    const { clock, vault, cache } = setup();
    const first = await cache.get("config");
    clock.advance(6 * MINUTE);
    const [a, b] = await Promise.all([cache.get("config"), cache.get("config")]);
    expect(a).toEqual({ record: first.record, status: "HIT" });
    expect(b.record).toBe(first.record);
    await settle();
    expect(vault.count("GET", KV.path)).toBe(2);
    expect((await cache.get("config")).record.data).toEqual({ api_key: "key-v2" });
  });
});

describe("freshen at INVOKE", () => {
  it("renews and re-reads what is due, concurrently, and leaves the rest", async () => {
    const { clock, vault, cache } = setup();
    await Promise.all([cache.get("db"), cache.get("config")]);
    clock.advance(MINUTE);
    expect(await cache.freshen(clock.t + 1_000)).toEqual({ refreshed: 0, failed: 0 });
    clock.advance(40 * MINUTE);
    expect(await cache.freshen(clock.t + 1_000)).toEqual({ refreshed: 2, failed: 0 });
    expect(renewals(vault)).toHaveLength(1);
    expect(vault.count("GET", KV.path)).toBe(2);
  });

  it("counts failures, and leaves cached proxy reads without a lease alone", async () => {
    const { clock, vault, cache, lines } = setup();
    cache.define({ key: "proxy:a", label: "/v1/a", path: "a", kind: "proxy", staticTtlMs: MINUTE });
    vault.on("GET", "a", () => answer(200, { data: { x: 1 } }));
    await Promise.all([cache.get("db"), cache.get("proxy:a")]);
    vault.on("PUT", "sys/leases/renew", unreachable);
    clock.advance(41 * MINUTE);
    expect(await cache.freshen(clock.t + 1_000)).toEqual({ refreshed: 0, failed: 1 });
    expect(vault.count("GET", "a")).toBe(1);
    expect(lines.filter((l) => l.message === "refreshing a secret failed")).toMatchObject([{ level: "WARN", secret: "DB", path: DB.path, action: "renew", failures: 1 }]);
    expect(lines.find((l) => l.message === "refreshing a secret failed")!.error).toMatch(/could not reach Vault.*ECONNREFUSED/);
  });
});

describe("eviction and revocation", () => {
  it("drops disposable entries that can no longer be served", async () => {
    const { clock, vault, cache } = setup();
    cache.define({ key: "proxy:a", label: "/v1/a", path: "a", kind: "proxy", staticTtlMs: MINUTE });
    vault.on("GET", "a", () => answer(200, { data: { x: 1 } }));
    await Promise.all([cache.get("proxy:a"), cache.get("db")]);
    const disposable = (key: string) => key.startsWith("proxy:");
    cache.evictExpired(disposable);
    expect(cache.has("proxy:a")).toBe(true);
    clock.advance(MINUTE);
    cache.evictExpired(disposable);
    expect(cache.has("proxy:a")).toBe(false);
    expect(cache.has("db")).toBe(true);
  });

  it("revokes every live lease with the current token; a lease whose token is gone (403) is no longer held, but not counted as revoked", async () => {
    const { clock, vault, cache, tokens } = setup();
    await cache.get("db");
    await tokens.login();
    await cache.get("db"); // read again under token-2; the first lease is still held
    expect(cache.liveLeases.map((l) => l.leaseId)).toEqual(["database/creds/app/lease-1", "database/creds/app/lease-2"]);
    vault.on("PUT", "sys/leases/revoke", (req) => answer((req.body as { lease_id: string }).lease_id.endsWith("-1") ? 403 : 204));
    expect(await cache.revokeAll(clock.t + 1_000)).toEqual({ revoked: 1, alreadyGone: 1, failed: 0 });
    expect(vault.calls.filter((c) => c.path === "sys/leases/revoke").map((c) => c.token)).toEqual(["token-2", "token-2"]);
    expect(cache.liveLeases).toEqual([]);
  });

  it("forgetAll (SnapStart, before the snapshot): no value, no lease, proxy reads dropped; the next ask reads under the next token", async () => {
    const { vault, cache, tokens } = setup();
    cache.define({ key: "proxy:a", label: "/v1/a", path: "a", kind: "proxy", staticTtlMs: MINUTE });
    vault.on("GET", "a", () => answer(200, { data: { x: 1 } }));
    await Promise.all([cache.get("proxy:a"), cache.get("db"), cache.get("config")]);
    cache.forgetAll();
    tokens.forgetAll();
    expect(cache.has("proxy:a")).toBe(false);
    expect(cache.has("db")).toBe(true);
    expect(cache.fresh("db")).toBeUndefined();
    expect(cache.liveLeases).toEqual([]);
    expect(cache.leases()).toEqual([]);
    const again = await cache.get("db");
    expect(again.status).toBe("MISS");
    expect(again.record.data.username).toBe("v-app-2");
    expect(vault.calls.filter((c) => c.path === DB.path).map((c) => c.token)).toEqual(["token-1", "token-2"]);
  });

  it("onStored is called after every read and every renewal (Managed Instances' timer re-arms on it)", async () => {
    let stored = 0;
    const { clock, cache } = setup({ onStored: () => stored++ });
    await cache.get("db");
    expect(stored).toBe(1);
    clock.advance(40 * MINUTE);
    await cache.freshen(clock.t + 1_000);
    expect(stored).toBe(2);
    await cache.get("db");
    expect(stored).toBe(2);
  });

  it("refreshedLeases leaves out cached proxy reads without a lease (nothing refreshes them ahead)", async () => {
    const { vault, cache } = setup();
    cache.define({ key: "proxy:a", label: "/v1/a", path: "a", kind: "proxy", staticTtlMs: MINUTE });
    cache.define({ key: "proxy:leased", label: "/v1/b", path: "b", kind: "proxy", staticTtlMs: MINUTE });
    vault.on("GET", "a", () => answer(200, { data: { x: 1 } }));
    vault.on("GET", "b", () => answer(200, { lease_id: "b/1", lease_duration: 60, renewable: true, data: { x: 2 } }));
    await Promise.all([cache.get("proxy:a"), cache.get("proxy:leased"), cache.get("db")]);
    expect(cache.leases()).toHaveLength(3);
    expect(cache.refreshedLeases()).toHaveLength(2);
  });
});

describe("outcomes and log lines, for /health and the operator", () => {
  it("keeps the last refresh, the last error and the failures in a row; STALE is logged once per outage, and again in the next one", async () => {
    const { clock, vault, cache, lines } = setup();
    await cache.get("db");
    expect(cache.health("db")).toMatchObject({ outcomes: { lastSuccessAt: T0, consecutiveFailures: 0, lastError: undefined }, stale: false });
    expect(cache.health("db").lease!.expiresAt).toBe(T0 + LEASE_S * 1000);
    expect(lines.filter((l) => l.message === "read secret")).toMatchObject([{ level: "INFO", secret: "DB", path: DB.path }]);

    const sealed = () => answer(503, { errors: ["Vault is sealed"] });
    vault.on("PUT", "sys/leases/renew", sealed);
    clock.advance(45 * MINUTE);
    const staleLines = () => lines.filter((l) => l.message === "serving a still-valid value as STALE while its refresh fails");
    for (let i = 0; i < 3; i++) expect((await cache.get("db", { force: true })).status).toBe("STALE");
    expect(staleLines()).toHaveLength(1);
    expect(lines.filter((l) => l.message === "refreshing a secret failed")).toHaveLength(3);
    const during = cache.health("db");
    expect(during.stale).toBe(true);
    expect(during.outcomes.consecutiveFailures).toBe(3);
    expect(during.outcomes.lastError).toEqual({ at: T0 + 45 * MINUTE, message: expect.stringContaining("Vault is sealed") });

    vault.on("PUT", "sys/leases/renew", (req) => answer(200, { lease_id: (req.body as { lease_id: string }).lease_id, lease_duration: LEASE_S, renewable: true }));
    clock.advance(MINUTE);
    await invoke(cache, clock);
    expect((await cache.get("db")).status).toBe("HIT");
    expect(lines.filter((l) => l.message === "renewed lease")).toMatchObject([{ level: "INFO", secret: "DB" }]);
    expect(lines.some((l) => l.message === "refreshed again after an outage; no longer serving STALE" && l.secret === "DB")).toBe(true);
    const after = cache.health("db");
    expect(after).toMatchObject({ stale: false, outcomes: { lastSuccessAt: T0 + 46 * MINUTE, consecutiveFailures: 0 } });
    // The last error stays on record after the recovery.
    expect(after.outcomes.lastError?.message).toContain("Vault is sealed");

    vault.on("PUT", "sys/leases/renew", sealed);
    clock.advance(45 * MINUTE);
    await invoke(cache, clock);
    expect((await cache.get("db")).status).toBe("STALE");
    expect(staleLines()).toHaveLength(2);
  });

  it("a proxied read that Vault refuses is the handler's answer, not a failing refresh", async () => {
    const { vault, cache, lines } = setup();
    cache.define({ key: "proxy:missing", label: "/v1/missing", path: "missing?x=1", kind: "proxy", staticTtlMs: MINUTE });
    vault.on("GET", "missing?x=1", () => answer(404, { errors: [] }));
    await expect(cache.get("proxy:missing")).rejects.toThrow();
    expect(lines.filter((l) => l.level === "WARN")).toEqual([]);
    expect(cache.health("proxy:missing").outcomes.consecutiveFailures).toBe(1);
  });
});
