/**
 * The Vault test server's leases (vault-wire-protocol.md §3): renewals counted from now and capped
 * at the max TTL from issue time with Vault's warning, Vault's error strings, revocation, and the
 * rule that a lease dies with the token that created it (revoked or expired).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeIdentity, StsTestServer } from "./sts/server.ts";
import { seedVault } from "./vault/seed.ts";
import { VaultTestServer } from "./vault/server.ts";
import { login, vault, waitUntil } from "./vault/testing.ts";

const ACCOUNT = "123456789012";
const FN_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/fn-role`;
const fn = makeIdentity({ arn: `arn:aws:sts::${ACCOUNT}:assumed-role/fn-role/orders-api` });

let sts: StsTestServer;
let server: VaultTestServer;
let addr: string;
const root = () => server.rootToken;

beforeAll(async () => {
  sts = await StsTestServer.start({ identities: [fn] });
  server = await VaultTestServer.start({ defaultStsEndpoint: sts.url });
  addr = server.url;
  await seedVault(addr, root(), {
    authMounts: [
      {
        path: "aws",
        roles: {
          "fn-role": { bound_iam_principal_arn: [FN_ROLE_ARN], token_ttl: "1h" },
          "short-token": { bound_iam_principal_arn: [FN_ROLE_ARN], token_ttl: 1 },
          batch: { bound_iam_principal_arn: [FN_ROLE_ARN], token_type: "batch", token_ttl: 2 },
        },
      },
    ],
    database: {
      roles: {
        app: { default_ttl: "1h", max_ttl: "24h", db_name: "orders", creation_statements: ["CREATE ROLE ..."] },
        capped: { default_ttl: 2, max_ttl: 3 },
        lowered: { default_ttl: 3600, max_ttl: 7200 },
        brief: { default_ttl: 1, max_ttl: 60 },
      },
    },
    aws: {
      lease: { lease: "30m", lease_max: "2h" },
      roles: {
        deploy: { credential_type: "iam_user", policy_arns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"] },
        uploader: { credential_type: "assumed_role", role_arns: [`arn:aws:iam::${ACCOUNT}:role/uploader`], default_sts_ttl: "15m", max_sts_ttl: "1h" },
      },
    },
  });
});

afterAll(async () => {
  await Promise.allSettled([server?.close(), sts?.close()]);
});

const renew = (token: string, body: Record<string, unknown>, path = "sys/leases/renew") => vault(addr, "PUT", path, { token, body });

describe("issuing", () => {
  it("database creds: a new random user per read, renewable lease database/creds/<role>/<id>", async () => {
    const { token, accessor } = await login(addr, fn, { role: "fn-role" });
    const a = await vault(addr, "GET", "database/creds/app", { token });
    const b = await vault(addr, "GET", "database/creds/app", { token });
    expect(a.status).toBe(200);
    expect(a.json).toMatchObject({ renewable: true, lease_duration: 3600, mount_type: "database", auth: null });
    expect(a.json.lease_id).toMatch(/^database\/creds\/app\/[A-Za-z0-9]{24}$/);
    expect(a.json.data.username).toMatch(/^v-aws-fn-r-app-[A-Za-z0-9]{20}-\d{10}$/);
    expect(a.json.data.password).toMatch(/^(?=.*[a-z])(?=.*[A-Z])(?=.*\d)(?=.*-)[A-Za-z0-9-]{20}$/);
    expect(b.json.data.username).not.toBe(a.json.data.username);
    expect(b.json.lease_id).not.toBe(a.json.lease_id);
    expect(server.issuedSecrets()).toContain(a.json.data.password);
    const lease = server.leases().find((l) => l.leaseId === a.json.lease_id)!;
    expect(lease).toMatchObject({ path: "database/creds/app", renewable: true, ttlSeconds: 3600, data: a.json.data, tokenAccessor: accessor });
    expect(lease.expiresAt - lease.issuedAt).toBe(3600_000);
  });

  it("keeps role configuration to the root token; any token reads creds", async () => {
    const { token } = await login(addr, fn, { role: "fn-role" });
    expect((await vault(addr, "POST", "database/roles/mine", { token, body: { default_ttl: 60 } })).status).toBe(403);
    expect((await vault(addr, "GET", "database/roles/app", { token })).status).toBe(403);
    expect((await vault(addr, "GET", "aws/roles/deploy", { token })).status).toBe(403);
    expect((await vault(addr, "GET", "database/roles/app", { token: root() })).json.data).toMatchObject({ db_name: "orders", default_ttl: 3600, max_ttl: 86400 });
  });

  it("answers an unknown database role with Vault's error", async () => {
    const res = await vault(addr, "GET", "database/creds/nope", { token: root() });
    expect(res.json).toEqual({ errors: ["unknown role: nope"] });
  });

  it("AWS iam_user: renewable lease from config/lease", async () => {
    const res = await vault(addr, "GET", "aws/creds/deploy", { token: root() });
    expect(res.json).toMatchObject({ renewable: true, lease_duration: 1800 });
    expect(res.json.lease_id).toMatch(/^aws\/creds\/deploy\/[A-Za-z0-9]{24}$/);
    expect(res.json.data.access_key).toMatch(/^AKIA[A-Z0-9]{16}$/);
    expect(res.json.data.secret_key).toHaveLength(40);
    expect(res.json.data.security_token).toBeNull();
  });

  it("AWS assumed_role: session credentials, not renewable, TTL from ttl/default_sts_ttl capped at max_sts_ttl", async () => {
    const dflt = await vault(addr, "GET", "aws/creds/uploader", { token: root() });
    expect(dflt.json).toMatchObject({ renewable: false, lease_duration: 899 });
    expect(dflt.json.data).toMatchObject({ access_key: expect.stringMatching(/^ASIA/), security_token: expect.any(String), ttl: 899 });
    expect(dflt.json.data.arn).toMatch(new RegExp(`^arn:aws:sts::${ACCOUNT}:assumed-role/uploader/vault-root-uploader-`));
    const asked = await vault(addr, "POST", "aws/sts/uploader", { token: root(), body: { ttl: "5m" } });
    expect(asked.json.lease_duration).toBe(299);
    expect(asked.json.lease_id).toMatch(/^aws\/sts\/uploader\//);
    const capped = await vault(addr, "GET", "aws/creds/uploader?ttl=7200", { token: root() });
    expect(capped.json.lease_duration).toBe(3599);
  });
});

describe("sys/leases/renew", () => {
  it("counts the increment from now (it replaces the remaining time)", async () => {
    const { token } = await login(addr, fn, { role: "fn-role" });
    const creds = await vault(addr, "GET", "database/creds/app", { token });
    const res = await renew(token, { lease_id: creds.json.lease_id, increment: 600 });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ lease_id: creds.json.lease_id, renewable: true, lease_duration: 600, data: null, warnings: null });
    const lease = server.leases().find((l) => l.leaseId === creds.json.lease_id)!;
    expect(lease.expiresAt - lease.lastRenewedAt!).toBe(600_000);
    expect(lease.renewals).toBe(1);
    // Also with the ID in the path, and through the legacy sys/renew.
    expect((await renew(token, { increment: "1m" }, `sys/leases/renew/${creds.json.lease_id}`)).json.lease_duration).toBe(60);
    expect((await renew(token, { lease_id: creds.json.lease_id }, "sys/renew")).json.lease_duration).toBe(3600);
  });

  it("caps at the role's max_ttl from issue time, with Vault's warning", async () => {
    const creds = await vault(addr, "GET", "database/creds/capped", { token: root() });
    expect(creds.json.lease_duration).toBe(2);
    const issuedAt = server.leases().find((l) => l.leaseId === creds.json.lease_id)!.issuedAt;
    await waitUntil(Math.floor(issuedAt / 1000) * 1000 + 1050);
    const res = await renew(root(), { lease_id: creds.json.lease_id, increment: 3600 });
    const granted = res.json.lease_duration as number;
    expect([2, 1]).toContain(granted);
    expect(res.json.warnings).toEqual([`TTL of "1h0m0s" exceeded the effective max_ttl of "${granted}s"; TTL value is capped accordingly`]);
  });

  it("refuses to renew past a max TTL that was lowered since issue", async () => {
    const creds = await vault(addr, "GET", "database/creds/lowered", { token: root() });
    const issuedAt = server.leases().find((l) => l.leaseId === creds.json.lease_id)!.issuedAt;
    await vault(addr, "POST", "database/roles/lowered", { token: root(), body: { default_ttl: 1, max_ttl: 1 } });
    await waitUntil(Math.floor(issuedAt / 1000) * 1000 + 2050);
    expect((await renew(root(), { lease_id: creds.json.lease_id })).json).toEqual({ errors: ["past the max TTL, cannot renew"] });
  });

  it("renews AWS iam_user leases within lease_max", async () => {
    const creds = await vault(addr, "GET", "aws/creds/deploy", { token: root() });
    const res = await renew(root(), { lease_id: creds.json.lease_id, increment: "3h" });
    expect(res.json.lease_duration).toBeGreaterThanOrEqual(7199);
    expect(res.json.lease_duration).toBeLessThanOrEqual(7200);
    expect(res.json.warnings[0]).toMatch(/^TTL of "3h0m0s" exceeded the effective max_ttl of "(1h59m59s|2h0m0s)"; TTL value is capped accordingly$/);
  });

  it("answers Vault's errors", async () => {
    const sts = await vault(addr, "GET", "aws/creds/uploader", { token: root() });
    expect((await renew(root(), { lease_id: sts.json.lease_id })).json).toEqual({ errors: ["lease is not renewable"] });
    expect((await renew(root(), {})).json).toEqual({ errors: ["lease_id must be specified"] });
    expect((await renew(root(), { lease_id: "database/creds/app/nope" })).json).toEqual({ errors: ["lease not found"] });
    expect((await vault(addr, "PUT", "sys/leases/lookup", { token: root(), body: { lease_id: "nope" } })).json).toEqual({ errors: ["invalid lease"] });
    expect((await vault(addr, "PUT", "sys/leases/lookup", { token: root(), body: {} })).json).toEqual({ errors: ["lease_id must be specified"] });
    expect((await renew("hvs.nope", { lease_id: sts.json.lease_id })).status).toBe(403);
  });

  it("lets any valid token renew (Vault checks ACLs, not ownership)", async () => {
    const creds = await vault(addr, "GET", "database/creds/app", { token: root() });
    const { token } = await login(addr, fn, { role: "fn-role" });
    expect((await renew(token, { lease_id: creds.json.lease_id, increment: 60 })).json.lease_duration).toBe(60);
  });
});

describe("lookup and revoke", () => {
  it("looks a lease up, revokes it (204), then it is gone", async () => {
    const creds = await vault(addr, "GET", "database/creds/app", { token: root() });
    const id = creds.json.lease_id;
    const look = await vault(addr, "PUT", "sys/leases/lookup", { token: root(), body: { lease_id: id } });
    expect(look.json.data).toMatchObject({ id, renewable: true, last_renewal: null, ttl: 3600, path: "database/creds/app" });
    expect(Date.parse(look.json.data.expire_time) - Date.parse(look.json.data.issue_time)).toBe(3600_000);
    const rev = await vault(addr, "PUT", "sys/leases/revoke", { token: root(), body: { lease_id: id } });
    expect(rev.status).toBe(204);
    expect(server.leases().find((l) => l.leaseId === id)?.revokeReason).toBe("explicit");
    expect((await renew(root(), { lease_id: id })).json).toEqual({ errors: ["lease not found"] });
    expect((await vault(addr, "PUT", "sys/leases/lookup", { token: root(), body: { lease_id: id } })).json).toEqual({ errors: ["invalid lease"] });
    // Revoking again, or an unknown lease, is a no-op 204; sync=false answers 202.
    expect((await vault(addr, "PUT", `sys/leases/revoke/${id}`, { token: root() })).status).toBe(204);
    expect((await vault(addr, "PUT", "sys/leases/revoke", { token: root(), body: { lease_id: "x/y", sync: false } })).status).toBe(202);
  });
});

describe("a lease dies with the token that created it", () => {
  it("revoke-self revokes the token's leases", async () => {
    const { token, accessor } = await login(addr, fn, { role: "fn-role" });
    const a = await vault(addr, "GET", "database/creds/app", { token });
    const b = await vault(addr, "GET", "aws/creds/deploy", { token });
    const other = await vault(addr, "GET", "database/creds/app", { token: root() });
    expect((await vault(addr, "POST", "auth/token/revoke-self", { token })).status).toBe(204);
    const leases = server.leases();
    for (const id of [a.json.lease_id, b.json.lease_id]) {
      expect(leases.find((l) => l.leaseId === id)).toMatchObject({ revokeReason: "token-revoked", tokenAccessor: accessor, revokedAt: expect.any(Number) });
    }
    expect(leases.find((l) => l.leaseId === other.json.lease_id)?.revokedAt).toBeUndefined();
    expect((await renew(root(), { lease_id: a.json.lease_id })).json).toEqual({ errors: ["lease not found"] });
  });

  it("revocation from outside revokes them too", async () => {
    const { token, accessor } = await login(addr, fn, { role: "fn-role" });
    const a = await vault(addr, "GET", "database/creds/app", { token });
    server.revokeToken(token);
    expect(server.leases().find((l) => l.leaseId === a.json.lease_id)?.revokeReason).toBe("token-revoked");
    expect(server.tokens().find((t) => t.accessor === accessor)?.revokeReason).toBe("external");
  });

  it("token expiry revokes them at the token's expiry; a lease's own expiry is 'expired'", async () => {
    const { token, accessor } = await login(addr, fn, { role: "short-token" });
    const a = await vault(addr, "GET", "database/creds/app", { token });
    const tokenInfo = server.tokens().find((t) => t.accessor === accessor)!;
    const brief = await vault(addr, "GET", "database/creds/brief", { token: root() });
    const briefLease = server.leases().find((l) => l.leaseId === brief.json.lease_id)!;
    await waitUntil(Math.max(tokenInfo.expiresAt!, briefLease.expiresAt) + 5);
    const leases = server.leases();
    expect(leases.find((l) => l.leaseId === a.json.lease_id)).toMatchObject({ revokeReason: "token-expired", revokedAt: tokenInfo.expiresAt });
    expect(leases.find((l) => l.leaseId === brief.json.lease_id)).toMatchObject({ revokeReason: "expired", revokedAt: briefLease.expiresAt });
    expect((await renew(root(), { lease_id: a.json.lease_id })).json).toEqual({ errors: ["lease not found"] });
  });

  it("caps leases read with a batch token at the token's remaining life", async () => {
    const { token } = await login(addr, fn, { role: "batch" });
    const res = await vault(addr, "GET", "database/creds/app", { token });
    expect(res.json.lease_duration).toBeLessThanOrEqual(2);
  });

  it("answers `lease expired` while a revocation is pending (leaseRevocationDelayMs)", async () => {
    const slow = await VaultTestServer.start({ defaultStsEndpoint: sts.url, leaseRevocationDelayMs: 60_000 });
    try {
      await seedVault(slow.url, slow.rootToken, { database: { roles: { app: { default_ttl: 1, max_ttl: 60 } } } });
      const creds = await vault(slow.url, "GET", "database/creds/app", { token: slow.rootToken });
      const lease = slow.leases().find((l) => l.leaseId === creds.json.lease_id)!;
      await waitUntil(lease.expiresAt + 5);
      const res = await vault(slow.url, "PUT", "sys/leases/renew", { token: slow.rootToken, body: { lease_id: creds.json.lease_id } });
      expect(res.json).toEqual({ errors: ["lease expired"] });
      expect(slow.leases()[0]?.revokedAt).toBeUndefined();
    } finally {
      await slow.close();
    }
  });
});
