/**
 * The built layer in each execution mode (README, "Execution modes"): the mode named in the first
 * log line, SnapStart's credentials from the container-credentials endpoint, Managed Instances'
 * SHUTDOWN-only registration.
 */
import { describe, expect, it } from "vitest";
import { World, freePort, results, useWorld } from "./harness.ts";

let world: World;

useWorld((w) => (world = w));

function firstLine(lines: string[]): Record<string, unknown> {
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe("on-demand", () => {
  it("names the mode and the init budget in its first log line", async () => {
    const fn = await world.lambda({});
    expect((await fn.start()).ok).toBe(true);
    expect(firstLine(fn.logs("vault-lambda-agent"))).toMatchObject({ message: "vault-lambda-agent starting", mode: "on-demand", initBudgetMs: 6_500 });
    await fn.shutdown();
  });
});

describe("snap-start: credentials from the container-credentials endpoint", () => {
  it("signs the login with the endpoint's key pair (no keys in the environment) and serves", async () => {
    const keys = world.newCredentials("snap-endpoint");
    const fn = await world.lambda({ VAULT_SECRET_PATH_CONFIG: "secret/data/app/config" }, { mode: "snap-start", credentials: keys });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    expect(firstLine(fn.logs("vault-lambda-agent"))).toMatchObject({ message: "vault-lambda-agent starting", mode: "snap-start" });
    expect(world.vault.logins.filter((l) => l.ok && l.arn === keys.arn)).toHaveLength(1);
    expect(fn.timeline.filter((t) => t.what === "credentials").map((t) => t.detail)).toEqual([keys.accessKeyId]);
    // The handler presents AWS_CONTAINER_AUTHORIZATION_TOKEN: there is no AWS_SESSION_TOKEN.
    const [config] = results(await fn.invoke({ requests: [{ path: "/secrets/config" }] }));
    expect(config!.status).toBe(200);
    expect(config!.json.data.api_key).toBe("kv-api-key-7f3a9c");
    expect((await fn.shutdown()).exitCodes["vault-lambda-agent"]).toBe(0);
  });

  it("credentials already expired: Extension.AuthFailed that names both sources", async () => {
    const keys = world.newCredentials("snap-expired");
    const fn = await world.lambda({}, { mode: "snap-start", credentials: { ...keys, expiresAt: Date.now() - 60_000 } });
    const init = await fn.start();
    expect(init.ok).toBe(false);
    expect(init.error?.type).toBe("Extension.AuthFailed");
    expect(init.error?.message).toContain("AWS_ACCESS_KEY_ID is not set, and the container-credentials endpoint AWS_CONTAINER_CREDENTIALS_FULL_URI");
    expect(init.error?.message).toContain("answered credentials that expired at");
    await fn.kill();
  });

  it("Vault refuses a login signed with credentials STS has expired", async () => {
    const keys = world.newCredentials("snap-revoked");
    world.sts.expire(keys.accessKeyId);
    const fn = await world.lambda({}, { mode: "snap-start", credentials: keys });
    const init = await fn.start();
    expect(init.ok).toBe(false);
    expect(init.error?.type).toBe("Extension.AuthFailed");
    expect(init.error?.message).toMatch(/ExpiredToken|expired/i);
    expect(world.vault.logins.filter((l) => l.arn === keys.arn && l.ok)).toEqual([]);
    await fn.kill();
  });
});

describe("snap-start: nothing live in the snapshot, each restore its own token and users", () => {
  const SECRETS = { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_PATH_CONFIG: "secret/data/app/config" };

  /** Init in snap-start mode with its own key pair; returns the environment and the init's token accessor. */
  async function snapshot(session: string, opts: { freezeBetweenInvokes?: boolean; port?: number } = {}) {
    const keys = world.newCredentials(session);
    const env = opts.port ? { ...SECRETS, VAULT_AGENT_PORT: String(opts.port) } : SECRETS;
    const fn = await world.lambda(env, { mode: "snap-start", credentials: keys, ...(opts.freezeBetweenInvokes === false ? { freezeBetweenInvokes: false } : {}) });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const logins = world.vault.logins.filter((l) => l.ok && l.arn === keys.arn);
    expect(logins).toHaveLength(1);
    return { fn, keys, initAccessor: logins[0]!.accessor! };
  }

  /** Restores with new credentials (the old ones expired), invokes, reads the database secret. */
  async function restoreAndRead(fn: Awaited<ReturnType<typeof snapshot>>["fn"], session: string, old: { accessKeyId: string }) {
    world.sts.expire(old.accessKeyId);
    const keys = world.newCredentials(session);
    await fn.restore(keys, 1_000);
    const restoredAt = Date.now();
    const [db] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
    expect(db!.status).toBe(200);
    const logins = world.vault.logins.filter((l) => l.ok && l.arn === keys.arn);
    expect(logins).toHaveLength(1);
    return { keys, restoredAt, accessor: logins[0]!.accessor!, leaseId: db!.json.lease_id as string, username: db!.json.data.username as string };
  }

  it("at the end of init no token or lease of the extension is alive in Vault, and /health holds none", async () => {
    const port = await freePort();
    const { fn, initAccessor } = await snapshot("snap-health", { freezeBetweenInvokes: false, port });
    expect(world.vault.tokens().find((t) => t.accessor === initAccessor)!.revokedAt).toBeDefined();
    const initLeases = world.vault.leases().filter((l) => l.tokenAccessor === initAccessor);
    expect(initLeases.length).toBeGreaterThanOrEqual(1);
    for (const l of initLeases) expect(l.revokedAt, l.path).toBeDefined();
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as { token: unknown; leases: number };
    expect(health).toMatchObject({ token: null, leases: 0 });
    expect(fn.logs("vault-lambda-agent").some((l) => l.includes("revoked everything before the snapshot"))).toBe(true);
    await fn.shutdown();
  });

  it("after a restore with new credentials: a new token signed with the new key, a new database user, no pre-snapshot token on the wire", async () => {
    const { fn, keys, initAccessor } = await snapshot("snap-init");
    const initUser = world.vault.leases().find((l) => l.tokenAccessor === initAccessor && l.path === "database/creds/app")!.data.username;
    const restored = await restoreAndRead(fn, "snap-restored", keys);
    expect(restored.accessor).not.toBe(initAccessor);
    expect(restored.username).not.toBe(initUser);
    expect(world.vault.leases().find((l) => l.leaseId === restored.leaseId)!.tokenAccessor).toBe(restored.accessor);
    // The handler's request and the extension's own restore shared one read of each secret.
    expect(world.vault.leases().filter((l) => l.tokenAccessor === restored.accessor && l.path === "database/creds/app")).toHaveLength(1);
    // Every request after the restore is the new login or carries the new token.
    const after = world.vault.requestLog.filter((r) => r.startedAt >= restored.restoredAt);
    expect(after.length).toBeGreaterThan(1);
    for (const r of after) if (r.path !== "auth/aws/login") expect(r.tokenAccessor, `${r.method} ${r.path} (${r.status})`).toBe(restored.accessor);
    // The credentials endpoint was asked once at init and once after the restore: never reused.
    expect(fn.timeline.filter((t) => t.what === "credentials").map((t) => t.detail)).toEqual([keys.accessKeyId, restored.keys.accessKeyId]);
    const result = await fn.shutdown();
    expect(result.exitCodes["vault-lambda-agent"]).toBe(0);
    expect(world.vault.tokens().find((t) => t.accessor === restored.accessor)!.revokedAt).toBeDefined();
  });

  it("a read from the function's own init is refused with the reason, not served by a new login that would go into the snapshot", async () => {
    const keys = world.newCredentials("snap-init-read");
    const fn = await world.lambda({ ...SECRETS, PROBE_INIT_READ: "db", VAULT_CLIENT_TIMEOUT: "1s" }, { mode: "snap-start", credentials: keys });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    // One login at init (the validation), revoked; nothing live when the snapshot is taken.
    const logins = world.vault.logins.filter((l) => l.ok && l.arn === keys.arn);
    expect(logins).toHaveLength(1);
    expect(world.vault.tokens().find((t) => t.accessor === logins[0]!.accessor)!.revokedAt).toBeDefined();
    world.sts.expire(keys.accessKeyId);
    const restoredKeys = world.newCredentials("snap-init-read-restored");
    await fn.restore(restoredKeys, 500);
    const r = await fn.invoke({ initRead: true, requests: [{ path: "/secrets/db" }] });
    const early = (r.response as { initRead: { status: number; json?: { errors?: string[] } } }).initRead;
    expect(early.status).toBe(503);
    expect(early.json?.errors?.[0]).toMatch(/^SnapStart: secrets are served after the restore/);
    const [db] = results(r);
    expect(db!.status, db!.text).toBe(200);
    expect(world.vault.logins.filter((l) => l.ok && l.arn === restoredKeys.arn)).toHaveLength(1);
    await fn.shutdown();
  });

  it("two environments restored from the same init get two different tokens and database users", async () => {
    const a = await snapshot("snap-twin-a");
    const b = await snapshot("snap-twin-b");
    const [ra, rb] = [await restoreAndRead(a.fn, "snap-twin-a-restored", a.keys), await restoreAndRead(b.fn, "snap-twin-b-restored", b.keys)];
    expect(ra.accessor).not.toBe(rb.accessor);
    expect(ra.username).not.toBe(rb.username);
    await Promise.all([a.fn.shutdown(), b.fn.shutdown()]);
  });
});

describe("provisioned-concurrency", () => {
  it("init, then a frozen idle longer than every lease: the first invocation is served fresh", async () => {
    const short = await World.start({ role: { token_ttl: "3s", token_max_ttl: "1h" }, databaseRole: { default_ttl: "3s", max_ttl: "1h" } });
    try {
      const fn = await short.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" }, { mode: "provisioned-concurrency" });
      const init = await fn.start();
      expect(init.ok, JSON.stringify(init.error)).toBe(true);
      expect(firstLine(fn.logs("vault-lambda-agent"))).toMatchObject({ message: "vault-lambda-agent starting", mode: "provisioned-concurrency", initBudgetMs: 60_000 });
      const initLease = short.vault.leases().find((l) => l.path === "database/creds/app")!;
      expect(fn.frozen).toBe(true);
      // Frozen past the end of the token and of the lease: nothing ran meanwhile.
      await fn.idle(4_000);
      const idleEnd = Date.now();
      expect(short.vault.tokens().filter((t) => t.path === "auth/aws/login")).toHaveLength(1);
      const [db] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
      expect(db!.status).toBe(200);
      expect(db!.json.lease_id).not.toBe(initLease.leaseId);
      const served = short.vault.leases().find((l) => l.leaseId === db!.json.lease_id)!;
      expect(served.issuedAt).toBeGreaterThanOrEqual(idleEnd);
      expect(Date.parse(db!.json.expires_at)).toBeGreaterThan(Date.now());
      // The token expired while frozen: a new login, not a renewal of the dead one.
      expect(short.vault.logins.filter((l) => l.ok)).toHaveLength(2);
      await fn.shutdown();
      short.leakScan();
    } finally {
      await short.close();
    }
  });
});

describe("lambda-managed-instances", () => {
  it("registers SHUTDOWN only, serves, and revokes at SHUTDOWN", async () => {
    const fn = await world.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" }, { mode: "lambda-managed-instances" });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    expect(init.extensions.find((e) => e.name === "vault-lambda-agent")!.events).toEqual(["SHUTDOWN"]);
    expect(firstLine(fn.logs("vault-lambda-agent"))).toMatchObject({ message: "vault-lambda-agent starting", mode: "lambda-managed-instances" });
    const [db] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
    expect(db!.status).toBe(200);
    const accessor = world.vault.tokens().filter((t) => t.path === "auth/aws/login" && !t.revokedAt).at(-1)!.accessor;
    const result = await fn.shutdown();
    expect(result.exitCodes["vault-lambda-agent"]).toBe(0);
    expect(result.killed).toEqual([]);
    expect(world.vault.tokens().find((t) => t.accessor === accessor)!.revokedAt).toBeDefined();
    for (const l of world.vault.leases().filter((l) => l.tokenAccessor === accessor)) expect(l.revokedAt, l.path).toBeDefined();
  });
});

describe("/health in every execution mode", () => {
  const MODES = ["on-demand", "provisioned-concurrency", "snap-start", "lambda-managed-instances"] as const;
  for (const mode of MODES) {
    it(`${mode}: names the mode, ok once a secret was served, and holds no secret`, async () => {
      const opts = mode === "snap-start" ? { mode, credentials: world.newCredentials(`health-${mode}`) } : { mode };
      const fn = await world.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" }, opts);
      const init = await fn.start();
      expect(init.ok, JSON.stringify(init.error)).toBe(true);
      // The secret first (after a SnapStart restore it is what logs in again), then /health.
      const [db, health] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }, { path: "/health", token: false }] }));
      expect(db!.status, db!.text).toBe(200);
      expect(health!.status).toBe(200);
      expect(health!.json).toMatchObject({ status: "ok", reasons: [], mode, flavor: "slim" });
      expect(Object.keys(health!.json.secrets).map((n: string) => n.toLowerCase()), health!.text).toEqual(["db"]);
      for (const s of world.vault.issuedSecrets()) expect(health!.text).not.toContain(s);
      expect((await fn.shutdown()).exitCodes["vault-lambda-agent"]).toBe(0);
    });
  }
});
