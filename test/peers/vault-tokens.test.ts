/**
 * The Vault test server's tokens (vault-wire-protocol.md §2): lookup-self, renew-self with TTL
 * capping at the max TTL measured from issue time (and Vault's warning), periodic tokens, the
 * AWS auth re-check on renewal, revoke-self, expiry by the wall clock, batch tokens, namespaces
 * and the root-only configuration endpoints.
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
const role = (extra: Record<string, unknown>) => ({ bound_iam_principal_arn: [FN_ROLE_ARN], token_policies: ["app"], ...extra });

beforeAll(async () => {
  sts = await StsTestServer.start({ identities: [fn] });
  server = await VaultTestServer.start({ defaultStsEndpoint: sts.url });
  addr = server.url;
  await seedVault(addr, root(), {
    authMounts: [
      {
        path: "aws",
        roles: {
          long: role({ token_ttl: "1h", token_max_ttl: "4h" }),
          capped: role({ token_ttl: 2, token_max_ttl: 3 }),
          short: role({ token_ttl: 1 }),
          periodic: role({ token_period: "30m" }),
          batch: role({ token_type: "batch", token_ttl: "10m" }),
          legacy: { bound_iam_principal_arn: FN_ROLE_ARN, policies: "a,B", ttl: "5m", max_ttl: "10m" },
          rebind: role({ token_ttl: "1h" }),
          doomed: role({ token_ttl: "1h" }),
        },
      },
    ],
  });
});

afterAll(async () => {
  await Promise.allSettled([server?.close(), sts?.close()]);
});

describe("auth/token/lookup-self", () => {
  it("describes the token (§2)", async () => {
    const { token, accessor } = await login(addr, fn, { role: "long" });
    const res = await vault(addr, "GET", "auth/token/lookup-self", { token });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, auth: null, warnings: null, wrap_info: null });
    const d = res.json.data;
    expect(d).toMatchObject({
      accessor,
      creation_ttl: 3600,
      display_name: "aws-fn-role/orders-api",
      explicit_max_ttl: 0,
      id: token,
      num_uses: 0,
      orphan: true,
      path: "auth/aws/login",
      policies: ["app", "default"],
      renewable: true,
      type: "service",
    });
    expect(d.ttl).toBeGreaterThanOrEqual(3599);
    expect(d.ttl).toBeLessThanOrEqual(3600);
    expect(Number.isInteger(d.creation_time)).toBe(true);
    expect(Date.parse(d.expire_time) - Date.parse(d.issue_time)).toBe(3600_000);
    expect(d.meta).toMatchObject({ account_id: ACCOUNT, auth_type: "iam" });
  });

  it("accepts Authorization: Bearer when X-Vault-Token is absent", async () => {
    const { token } = await login(addr, fn, { role: "long" });
    const res = await vault(addr, "GET", "auth/token/lookup-self", { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
  });

  it("maps legacy role fields (policies, ttl, max_ttl) to the token fields", async () => {
    const { response } = await login(addr, fn, { role: "legacy" });
    expect(response.json.auth.policies).toEqual(["a", "b", "default"]);
    expect(response.json.auth.lease_duration).toBe(300);
  });

  it("refuses unknown tokens and requests without a token with 403 permission denied", async () => {
    for (const token of [undefined, "hvs.nope"]) {
      const res = await vault(addr, "GET", "auth/token/lookup-self", token === undefined ? {} : { token });
      expect(res.status).toBe(403);
      expect(res.json).toEqual({ errors: ["permission denied"] });
    }
  });
});

describe("auth/token/renew-self", () => {
  it("renews from now and caps at the max TTL measured from issue time, with Vault's warning", async () => {
    const { token, response } = await login(addr, fn, { role: "capped" });
    expect(response.json.auth.lease_duration).toBe(2);
    const issuedAt = server.tokens().find((t) => t.accessor === response.json.auth.accessor)!.issuedAt;
    // Just after the next whole second, 3 - elapsed(whole seconds) remain until the max.
    await waitUntil(Math.floor(issuedAt / 1000) * 1000 + 1050);
    const res = await vault(addr, "POST", "auth/token/renew-self", { token, body: { increment: "1m" } });
    expect(res.status).toBe(200);
    expect(res.json.data).toBeNull();
    // 2 s remain of the 3 s max (1 s if this machine is so slow that another second began).
    const granted = res.json.auth.lease_duration as number;
    expect([2, 1]).toContain(granted);
    expect(res.json.auth).toMatchObject({ client_token: token, accessor: response.json.auth.accessor, renewable: true });
    expect(res.json.warnings).toEqual([`TTL of "1m0s" exceeded the effective max_ttl of "${granted}s"; TTL value is capped accordingly`]);
    const info = server.tokens().find((t) => t.accessor === response.json.auth.accessor)!;
    expect(info.renewals).toBe(1);
    expect(info.expiresAt).toBeLessThanOrEqual(Math.floor(issuedAt / 1000) * 1000 + 3000 + 1000);
  });

  it("uses the role's token_ttl when no increment is given", async () => {
    const { token } = await login(addr, fn, { role: "long" });
    const res = await vault(addr, "PUT", "auth/token/renew-self", { token });
    expect(res.json.auth.lease_duration).toBe(3600);
    expect(res.json.warnings).toBeNull();
  });

  it("renews a periodic token to its period", async () => {
    const { token, response } = await login(addr, fn, { role: "periodic" });
    expect(response.json.auth.lease_duration).toBe(1800);
    const res = await vault(addr, "POST", "auth/token/renew-self", { token, body: { increment: 10 } });
    expect(res.json.auth.lease_duration).toBe(1800);
    const self = await vault(addr, "GET", "auth/token/lookup-self", { token });
    expect(self.json.data.period).toBe(1800);
    expect(self.json.data.last_renewal).toEqual(expect.any(String));
  });

  it("re-checks the role binding: no longer bound → 500", async () => {
    const { token } = await login(addr, fn, { role: "rebind" });
    await vault(addr, "POST", "auth/aws/role/rebind", { token: root(), body: { bound_iam_principal_arn: [`arn:aws:iam::${ACCOUNT}:role/other`] } });
    const res = await vault(addr, "POST", "auth/token/renew-self", { token });
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ errors: [`failed to renew entry: role "rebind" no longer bound to ARN "${FN_ROLE_ARN}"`] });
  });

  it("re-checks the role: deleted → 500", async () => {
    const { token } = await login(addr, fn, { role: "doomed" });
    expect((await vault(addr, "DELETE", "auth/aws/role/doomed", { token: root() })).status).toBe(204);
    const res = await vault(addr, "POST", "auth/token/renew-self", { token });
    expect(res.status).toBe(500);
    expect(res.json).toEqual({ errors: ["failed to renew entry: role entry not found"] });
  });

  it("refuses batch tokens, which have no accessor and cannot be revoked either", async () => {
    const { token, response } = await login(addr, fn, { role: "batch" });
    expect(token).toMatch(/^hvb\./);
    expect(response.json.auth).toMatchObject({ accessor: "", renewable: false, token_type: "batch" });
    expect((await vault(addr, "POST", "auth/token/renew-self", { token })).json).toEqual({ errors: ["batch tokens cannot be renewed"] });
    expect((await vault(addr, "POST", "auth/token/revoke-self", { token })).json).toEqual({ errors: ["batch tokens cannot be revoked"] });
  });

  it("rejects an increment that is not a duration", async () => {
    const { token } = await login(addr, fn, { role: "long" });
    const res = await vault(addr, "POST", "auth/token/renew-self", { token, body: { increment: "soon" } });
    expect(res.status).toBe(400);
    expect(res.json.errors[0]).toBe('Field validation failed: error converting input for field "increment": time: invalid duration "soon"');
  });
});

describe("token death", () => {
  it("revoke-self answers 204, then the token is refused", async () => {
    const { token, accessor } = await login(addr, fn, { role: "long" });
    const res = await vault(addr, "POST", "auth/token/revoke-self", { token });
    expect(res.status).toBe(204);
    expect(res.text).toBe("");
    expect((await vault(addr, "GET", "auth/token/lookup-self", { token })).status).toBe(403);
    expect(server.tokens().find((t) => t.accessor === accessor)).toMatchObject({ revokeReason: "explicit", revokedAt: expect.any(Number) });
  });

  it("revocation from outside (by accessor) is effective at once", async () => {
    const { token, accessor } = await login(addr, fn, { role: "long" });
    expect(server.revokeToken(accessor)).toBe(true);
    expect((await vault(addr, "GET", "auth/token/lookup-self", { token })).json).toEqual({ errors: ["permission denied"] });
    expect(server.tokens().find((t) => t.accessor === accessor)?.revokeReason).toBe("external");
    // lookup-accessor of a dead token: a Go error, so wrapped by the core's multierror (as OpenBao answers).
    const looked = await vault(addr, "POST", "auth/token/lookup-accessor", { token: server.rootToken, body: { accessor } });
    expect(looked.status).toBe(400);
    expect(looked.json).toEqual({ errors: ["1 error occurred:\n\t* invalid accessor\n\n"] });
  });

  it("an expired token is refused (wall clock, no timers)", async () => {
    const { token, accessor } = await login(addr, fn, { role: "short" });
    const info = server.tokens().find((t) => t.accessor === accessor)!;
    expect(info.expiresAt! - info.issuedAt).toBe(1000);
    expect((await vault(addr, "GET", "auth/token/lookup-self", { token })).status).toBe(200);
    await waitUntil(info.expiresAt! + 5);
    expect((await vault(addr, "GET", "auth/token/lookup-self", { token })).status).toBe(403);
    expect(server.tokens().find((t) => t.accessor === accessor)).toMatchObject({ revokeReason: "expired", revokedAt: info.expiresAt });
  });
});

describe("permissions and namespaces", () => {
  it("keeps configuration endpoints to the root token", async () => {
    const { token } = await login(addr, fn, { role: "long" });
    for (const [method, path] of [
      ["GET", "sys/mounts"],
      ["POST", "sys/mounts/kv2"],
      ["GET", "sys/auth"],
      ["GET", "auth/aws/role/long"],
      ["POST", "auth/aws/config/client"],
    ] as const) {
      const res = await vault(addr, method, path, { token, body: method === "POST" ? { type: "kv" } : undefined });
      expect(res.status, `${method} ${path}`).toBe(403);
    }
    expect((await vault(addr, "GET", "sys/mounts", { token: root() })).status).toBe(200);
  });

  it("binds tokens to their namespace (and its children); root works everywhere", async () => {
    await seedVault(addr, root(), {
      namespace: "team1",
      authMounts: [{ path: "aws", config: { sts_endpoint: sts.url }, roles: { "fn-role": role({ token_ttl: "1h" }) } }],
      kv: [{ mount: "kv", version: 2, secrets: { app: { key: "team1-value-1" } } }],
    });
    await seedVault(addr, root(), { namespace: "team1/sub", kv: [{ mount: "kv", version: 1, secrets: { app: { key: "sub-value-1" } } }] });
    const { token } = await login(addr, fn, { role: "fn-role", namespace: "team1" });
    expect(token).toMatch(/^hvs\.[A-Za-z0-9]+\.[A-Za-z0-9]{5}$/);
    // Header and path-prefix forms are equivalent.
    expect((await vault(addr, "GET", "kv/data/app", { token, namespace: "team1" })).json.data.data).toEqual({ key: "team1-value-1" });
    expect((await vault(addr, "GET", "team1/kv/data/app", { token })).json.data.data).toEqual({ key: "team1-value-1" });
    expect((await vault(addr, "GET", "kv/app", { token, namespace: "team1/sub" })).json.data).toEqual({ key: "sub-value-1" });
    // Outside its namespace the token is refused.
    expect((await vault(addr, "GET", "auth/token/lookup-self", { token })).status).toBe(403);
    const self = await vault(addr, "GET", "auth/token/lookup-self", { token, namespace: "team1" });
    expect(self.json.data.namespace_path).toBe("team1/");
    // A root-namespace token is valid in team1 too; the root token everywhere.
    const rootNs = await login(addr, fn, { role: "long" });
    expect((await vault(addr, "GET", "kv/data/app", { token: rootNs.token, namespace: "team1" })).status).toBe(200);
    expect((await vault(addr, "GET", "kv/app", { token: root(), namespace: "team1/sub" })).status).toBe(200);
    // Mounts are per namespace.
    expect((await vault(addr, "GET", "kv/data/app", { token: root() })).json).toEqual({ errors: ['no handler for route "kv/data/app". route entry not found.'] });
    expect(server.logins.at(-2)).toMatchObject({ namespace: "team1/", ok: true });
  });
});
