/**
 * The built layer, as a separate process under the Lambda emulator (which freezes it between
 * invocations), against real OpenBao and a real PostgreSQL behind OpenBao's database secrets engine.
 * TTLs are seconds; every freeze aims at the middle of its window, and what OpenBao and PostgreSQL do
 * on their own schedule (revoking an expired lease, dropping its user) is polled for, bounded.
 */
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { BaoWorld, LAYER_DIR, LOGIN_MODE } from "./bao-world.ts";

const worlds: BaoWorld[] = [];
async function world(opts: Parameters<typeof BaoWorld.start>[0] = {}): Promise<BaoWorld> {
  const w = await BaoWorld.start(opts);
  worlds.push(w);
  return w;
}

beforeAll(() => {
  if (!fs.existsSync(path.join(LAYER_DIR, "extensions"))) throw new Error("layer/ is not built: run npm run build (npm run test:real does)");
});

afterEach(async () => {
  for (const w of worlds.splice(0)) {
    try {
      w.leakScan();
    } finally {
      await w.close();
    }
  }
});

const FAST = { VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" };
const SECRETS = { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_PATH_CONFIG: "secret/data/app/config" };

type Fn = Awaited<ReturnType<BaoWorld["lambda"]>>;

async function selectOne(fn: Fn): Promise<{ username: string; leaseId: string; expiresAt: number }> {
  const r = (await fn.invoke({ selectOne: true })) as any;
  expect(r.ok, JSON.stringify(r.error)).toBe(true);
  const out = r.response;
  expect(out.db.status, out.db.text).toBe(200);
  expect(out.selectError).toBeUndefined();
  expect(out.select).toEqual({ one: 1, who: out.db.json.data.username });
  return { username: out.db.json.data.username, leaseId: out.db.json.lease_id, expiresAt: Date.parse(out.db.json.expires_at) };
}

async function roleNames(w: BaoWorld): Promise<string[]> {
  return (await w.pg.dynamicRoles()).map((r) => r.rolname);
}

describe(`OpenBao + PostgreSQL ${LOGIN_MODE}`, () => {
  it("cold start: a KV v2 secret and a database secret; the handler runs SELECT 1 as the served user", async () => {
    const w = await world();
    const fn = await w.lambda(SECRETS);
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const r = (await fn.invoke({ requests: ["/secrets/config"] })) as any;
    const [config] = r.response.results;
    expect(config.status, config.text).toBe(200);
    expect(config.json.data).toEqual({ api_key: "kv-api-key-7f3a9c", region: "eu-west-1" });
    const db = await selectOne(fn);
    expect(await roleNames(w)).toEqual([db.username]);
    expect(w.logins.filter((l) => l.ok)).toHaveLength(1);
    await fn.shutdown();
  });

  it("a freeze past the database lease: new credentials, and the old user is dropped in PostgreSQL once its lease ends", async () => {
    const w = await world({ databaseRole: { default_ttl: "5s", max_ttl: "1m" } });
    const fn = await w.lambda({ ...FAST, ...SECRETS });
    expect((await fn.start()).ok).toBe(true);
    const first = await selectOne(fn);
    await fn.idle(Math.max(0, first.expiresAt - Date.now()) + 1_500);
    const second = await selectOne(fn);
    expect(second.username).not.toBe(first.username);
    expect(second.expiresAt).toBeGreaterThan(Date.now());
    await w.eventually(`user ${first.username} dropped`, async () => !(await roleNames(w)).includes(first.username));
    expect(await w.leaseTtl(first.leaseId)).toBeUndefined();
    await fn.shutdown();
  });

  it("renewal at the refresh point: the same user, with a later VALID UNTIL in PostgreSQL", async () => {
    // 20 s lease, 1 s grace: the refresh point is at about two thirds (≈ 12.4–13.3 s), the grace
    // period starts at 19 s; the freeze ends in the middle, at 16 s.
    const w = await world({ databaseRole: { default_ttl: "20s", max_ttl: "5m" } });
    const fn = await w.lambda({ ...FAST, ...SECRETS });
    expect((await fn.start()).ok).toBe(true);
    const first = await selectOne(fn);
    const [before] = await w.pg.dynamicRoles();
    await fn.idle(Math.max(0, first.expiresAt - 20_000 + 16_000 - Date.now()));
    await fn.invoke({});
    const second = await selectOne(fn);
    expect(second.username).toBe(first.username);
    expect(second.expiresAt).toBeGreaterThan(first.expiresAt + 3_000);
    expect(w.front.records.some((r) => r.path === "sys/leases/renew" && r.status === 200)).toBe(true);
    const [after] = await w.pg.dynamicRoles();
    expect(after!.rolname).toBe(before!.rolname);
    expect(after!.rolvaliduntil!.getTime()).toBeGreaterThan(before!.rolvaliduntil!.getTime() + 3_000);
    await fn.shutdown();
  });

  it("a freeze past the token's max TTL: one new login, and the secret read again under the new token", async () => {
    const w = await world({ role: { token_ttl: "4s", token_max_ttl: "6s" } });
    const fn = await w.lambda({ ...FAST, ...SECRETS });
    expect((await fn.start()).ok).toBe(true);
    const first = await selectOne(fn);
    const loginsBefore = w.logins.filter((l) => l.ok).length;
    const firstLogin = w.logins.find((l) => l.ok)!;
    await fn.idle(Math.max(0, firstLogin.at + 7_500 - Date.now()));
    const second = await selectOne(fn);
    expect(w.logins.filter((l) => l.ok).length).toBe(loginsBefore + 1);
    expect(second.username).not.toBe(first.username);
    const newest = w.logins.filter((l) => l.ok).at(-1)!;
    const read = w.front.records.filter((r) => r.path === "database/creds/app").at(-1)!;
    expect(read.tokenAccessor).toBe(newest.accessor);
    expect(await w.tokenAlive(firstLogin.accessor!)).toBe(false);
    await fn.shutdown();
  });

  it("the token revoked from outside (bao token revoke): one login, and the handler is still served", async () => {
    const w = await world();
    const fn = await w.lambda(SECRETS);
    expect((await fn.start()).ok).toBe(true);
    const first = await selectOne(fn);
    const login = w.logins.find((l) => l.ok)!;
    const revoke = w.bao.cli(["token", "revoke", ...(w.namespace ? [`-namespace=${w.namespace}`] : []), "-accessor", login.accessor!]);
    expect(revoke.status, revoke.stderr).toBe(0);
    expect(await w.tokenAlive(login.accessor!)).toBe(false);
    const loginsBefore = w.logins.filter((l) => l.ok).length;
    const r = (await fn.invoke({ requests: ["/v1/secret/data/app/config"] })) as any;
    const [proxied] = r.response.results;
    expect(proxied.status, proxied.text).toBe(200);
    expect(proxied.json.data.data.api_key).toBe("kv-api-key-7f3a9c");
    // The old token's lease died with it (OpenBao revoked it, PostgreSQL dropped the user).
    const second = await selectOne(fn);
    expect(second.username).not.toBe(first.username);
    expect(w.logins.filter((l) => l.ok).length).toBe(loginsBefore + 1);
    await w.eventually(`user ${first.username} dropped`, async () => !(await roleNames(w)).includes(first.username));
    await fn.shutdown();
  });

  it("OpenBao sealed (bao operator seal): STALE while the lease is valid, 502 with OpenBao's reason after", async () => {
    const w = await world({ databaseRole: { default_ttl: "6s", max_ttl: "1m" } });
    const fn = await w.lambda({ ...FAST, ...SECRETS, VAULT_MAX_RETRIES: "1", VAULT_CLIENT_TIMEOUT: "2s" });
    expect((await fn.start()).ok).toBe(true);
    const first = await selectOne(fn);
    const seal = w.bao.cli(["operator", "seal"]);
    expect(seal.status, seal.stderr).toBe(0);
    const r = (await fn.invoke({ requests: ["/secrets/db?refresh=true"] })) as any;
    const [stale] = r.response.results;
    expect(stale.status, stale.text).toBe(200);
    expect(stale.xCache).toBe("STALE");
    expect(stale.json.data.username).toBe(first.username);
    await fn.idle(Math.max(0, first.expiresAt - Date.now()) + 1_000);
    const after = (await fn.invoke({ requests: ["/secrets/db"] })) as any;
    const [gone] = after.response.results;
    expect(gone.status, gone.text).toBe(502);
    expect(gone.json.errors[0]).toMatch(/sealed/i);
    await fn.shutdown();
  });

  it("a namespace: every request the extension makes carries it, and everything works inside it", async () => {
    const w = await world({ namespace: "team-a" });
    const fn = await w.lambda(SECRETS);
    expect((await fn.start()).ok).toBe(true);
    await selectOne(fn);
    const r = (await fn.invoke({ requests: ["/secrets/config", "/v1/secret/data/app/config"] })) as any;
    for (const res of r.response.results) expect(res.status, res.text).toBe(200);
    await fn.shutdown();
    expect(w.front.records.length).toBeGreaterThan(3);
    for (const rec of w.front.records) expect(rec.namespace, `${rec.method} ${rec.path}`).toBe("team-a");
    // The lease and the token are revoked in parallel: when revoke-self lands first, OpenBao revokes
    // the token's leases in the background, so the user is dropped a moment after SHUTDOWN ends.
    await w.eventually("every database user dropped", async () => (await roleNames(w)).length === 0, 30_000);
  });

  it("SHUTDOWN: the token and every lease revoked in OpenBao, the database users dropped in PostgreSQL", async () => {
    const w = await world();
    const fn = await w.lambda(SECRETS);
    expect((await fn.start()).ok).toBe(true);
    const db = await selectOne(fn);
    const login = w.logins.find((l) => l.ok)!;
    expect(await w.leaseTtl(db.leaseId)).toBeGreaterThan(0);
    expect(await roleNames(w)).toEqual([db.username]);
    const sd = await fn.shutdown();
    expect(sd.killed ?? []).toEqual([]);
    expect(await w.tokenAlive(login.accessor!)).toBe(false);
    // Lease and token are revoked in parallel; when revoke-self lands first, OpenBao revokes the
    // token's leases in the background (they look up as ttl 0 for a moment).
    await w.eventually("the lease revoked", async () => (await w.leaseTtl(db.leaseId)) === undefined, 30_000);
    await w.eventually("every database user dropped", async () => (await roleNames(w)).length === 0, 30_000);
  });
});
