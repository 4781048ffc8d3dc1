/**
 * Fidelity: the same requests against the project's Vault test server and against OpenBao, compared
 * on status, shape, error texts and warnings (conformance.ts). Each case lists the differences that
 * stay, with the reason; any other difference — or a listed one that went away — fails the case.
 * Every difference found was fixed in the peer unless listed here (and in test/peers/vault/README.md).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { StsTestServer, makeIdentity } from "../peers/sts/server.ts";
import { VaultTestServer } from "../peers/vault/server.ts";
import { seedVault } from "../peers/vault/seed.ts";
import { login, loginBody, vault, type VaultResponse } from "../peers/vault/testing.ts";
import { ACCOUNT, BaoWorld, FUNCTION_ROLE_ARN, FUNCTION_SESSION_ARN, IAM_SERVER_ID, LOGIN_BRIDGED } from "./bao-world.ts";
import { differences, type Answer } from "./conformance.ts";

interface Target {
  name: "peer" | "openbao";
  addr: string;
  root: string;
  /** A token as the function gets it: an AWS IAM login of role fn-role. */
  login(): Promise<{ token: string; accessor: string }>;
  /** A fresh database lease under a fresh function token. */
  dbLease(): Promise<{ token: string; leaseId: string }>;
}

let peerSts: StsTestServer;
let peerVault: VaultTestServer;
let bao: BaoWorld;
const targets: Target[] = [];
const identity = makeIdentity({ arn: FUNCTION_SESSION_ARN, account: ACCOUNT });

const DB_ROLE = { default_ttl: "1h", max_ttl: "2h" };
const TOKEN_ROLE = { token_ttl: "1h", token_max_ttl: "2h" };

beforeAll(async () => {
  peerSts = await StsTestServer.start({ identities: [identity] });
  peerVault = await VaultTestServer.start({ defaultStsEndpoint: peerSts.url });
  await seedVault(peerVault.url, peerVault.rootToken, {
    authMounts: [{ path: "aws", config: { sts_endpoint: peerSts.url, iam_server_id_header_value: IAM_SERVER_ID }, roles: { "fn-role": { auth_type: "iam", bound_iam_principal_arn: [FUNCTION_ROLE_ARN], resolve_aws_unique_ids: false, token_policies: ["app"], ...TOKEN_ROLE } } }],
    kv: [
      { mount: "secret", version: 2, secrets: { "app/config": { api_key: "kv-api-key-7f3a9c", region: "eu-west-1" } } },
      { mount: "kv1", version: 1, secrets: { "app/config": { api_key: "kv-api-key-7f3a9c", region: "eu-west-1" } } },
    ],
    database: { roles: { app: DB_ROLE } },
  });
  bao = await BaoWorld.start({ databaseRole: DB_ROLE, role: TOKEN_ROLE });
  await bao.bao.must("POST", "sys/mounts/kv1", { type: "kv", options: { version: "1" } });
  await bao.bao.must("POST", "kv1/app/config", { api_key: "kv-api-key-7f3a9c", region: "eu-west-1" });
  const loginAt = async (addr: string) => {
    const r = await login(addr, addr === peerVault.url ? identity : bao.identity, { role: "fn-role", serverId: IAM_SERVER_ID });
    return { token: r.token, accessor: r.accessor };
  };
  const peer: Target = {
    name: "peer",
    addr: peerVault.url,
    root: peerVault.rootToken,
    login: () => loginAt(peerVault.url),
    async dbLease() {
      const { token } = await loginAt(peerVault.url);
      const r = await vault(peerVault.url, "GET", "database/creds/app", { token });
      return { token, leaseId: r.json.lease_id };
    },
  };
  const openbao: Target = {
    name: "openbao",
    addr: bao.front.url,
    root: bao.bao.rootToken,
    login: () => loginAt(bao.front.url),
    async dbLease() {
      const { token } = await loginAt(bao.front.url);
      const r = await vault(bao.front.url, "GET", "database/creds/app", { token });
      return { token, leaseId: r.json.lease_id };
    },
  };
  targets.push(peer, openbao);
});

afterAll(async () => {
  await bao?.close();
  await Promise.allSettled([peerVault?.close(), peerSts?.close()]);
});

type Step = (t: Target) => Promise<VaultResponse>;

/** Vault answers `mount_type` on logical responses; OpenBao dropped the field. The peer speaks as Vault. */
const MOUNT_TYPE = { 'shape mount_type: "string" ≠ absent': "Vault's mount_type field, which OpenBao does not send" };
/**
 * Vault formats durations in TTL warnings with Go's Duration.String ("5h0m0s"); OpenBao 2.7 prints
 * "5h". The peer speaks as Vault.
 */
const CAPPED = (kind: "token" | "lease") => ({
  'warnings: ["TTL of \\"5h0m0s\\" exceeded the effective max_ttl of \\"2h0m0s\\"; TTL value is capped accordingly"] ≠ ["TTL of \\"5h\\" exceeded the effective max_ttl of \\"2h\\"; TTL value is capped accordingly"]': `Go's Duration.String in Vault's ${kind} TTL warning; OpenBao shortens it`,
});
/**
 * While the login goes through the test bridge, the token is OpenBao's `auth/token/create-orphan`
 * with the bridge's metadata, not the AWS auth plugin's: its metadata keys differ from the peer's
 * (which follows the plugin). These lines disappear when the plugin is installed.
 */
const BRIDGED_TOKEN = (where: "data.meta" | "auth.metadata") =>
  LOGIN_BRIDGED
    ? {
        [`shape ${where}.auth_type: "string" ≠ absent`]: "bridge",
        [`shape ${where}.canonical_arn: absent ≠ "string"`]: "bridge",
        [`shape ${where}.role: absent ≠ "string"`]: "bridge",
        [`shape ${where}.role_id: "string" ≠ absent`]: "bridge",
        ...(where === "data.meta" ? { 'shape data.role: "string" ≠ absent': "bridge: the plugin's token lookup names its role" } : {}),
      }
    : {};

/** Polls a lookup until it answers 400 (bounded): OpenBao revokes a dead token's leases in the background. */
async function untilGone(t: Target, leaseId: string): Promise<VaultResponse> {
  const until = Date.now() + 20_000;
  for (;;) {
    const r = await vault(t.addr, "PUT", "sys/leases/lookup", { token: t.root, body: { lease_id: leaseId } });
    if (r.status !== 200 || Date.now() > until) return r;
    await new Promise((res) => setTimeout(res, 100));
  }
}

/** Runs `step` against both and returns the differences. */
async function both(step: Step): Promise<{ diffs: string[]; peer: Answer; openbao: Answer }> {
  const [peer, openbao] = [await step(targets[0]!), await step(targets[1]!)];
  return { diffs: differences(peer, openbao), peer, openbao };
}

/** A case: the differences that stay are listed with their reason; nothing else may differ. */
function conform(name: string, step: Step, stays: Record<string, string> = {}): void {
  it(name, async () => {
    const { diffs, peer, openbao } = await both(step);
    expect([...diffs].sort(), `peer ${JSON.stringify(peer.json)}\nopenbao ${JSON.stringify(openbao.json)}`).toEqual(Object.keys(stays).sort());
  });
}

describe("KV", () => {
  conform("KV v2 read", (t) => vault(t.addr, "GET", "secret/data/app/config", { token: t.root }), MOUNT_TYPE);
  conform("KV v2 read of a missing secret", (t) => vault(t.addr, "GET", "secret/data/app/missing", { token: t.root }));
  conform("KV v2 path without data/ (read)", (t) => vault(t.addr, "GET", "secret/app/config", { token: t.root }), MOUNT_TYPE);
  conform("KV v2 path without data/ (write)", (t) => vault(t.addr, "POST", "secret/app/config", { token: t.root, body: { data: { a: "b" } } }), MOUNT_TYPE);
  conform("KV v2 metadata", (t) => vault(t.addr, "GET", "secret/metadata/app/config", { token: t.root }), {
    ...MOUNT_TYPE,
    'shape data.current_metadata_version: absent ≠ "number"': "OpenBao's own metadata versioning (not in Vault)",
    'shape data.metadata_cas_required: absent ≠ "boolean"': "OpenBao's own metadata check-and-set (not in Vault)",
  });
  conform("KV v1 read", (t) => vault(t.addr, "GET", "kv1/app/config", { token: t.root }), MOUNT_TYPE);
  conform("KV v1 read of a missing secret", (t) => vault(t.addr, "GET", "kv1/app/missing", { token: t.root }));
  conform("an operation the path does not support", (t) => vault(t.addr, "GET", "sys/leases/lookup", { token: t.root }));
  conform("no mount at the path", (t) => vault(t.addr, "GET", "nowhere/app/config", { token: t.root }));
  conform("no token", (t) => vault(t.addr, "GET", "secret/data/app/config"));
  conform("an unknown token", (t) => vault(t.addr, "GET", "secret/data/app/config", { token: "hvs.CAESIJunkJunkJunkJunkJunkJunk" }));
});

describe("tokens", () => {
  conform("lookup-self", async (t) => vault(t.addr, "GET", "auth/token/lookup-self", { token: (await t.login()).token }), { ...MOUNT_TYPE, ...BRIDGED_TOKEN("data.meta") });
  conform("renew-self", async (t) => vault(t.addr, "POST", "auth/token/renew-self", { token: (await t.login()).token, body: { increment: "30m" } }), { ...MOUNT_TYPE, ...BRIDGED_TOKEN("auth.metadata") });
  conform("renew-self past the max TTL", async (t) => vault(t.addr, "POST", "auth/token/renew-self", { token: (await t.login()).token, body: { increment: "5h" } }), {
    ...MOUNT_TYPE,
    ...BRIDGED_TOKEN("auth.metadata"),
    ...CAPPED("token"),
  });
  conform("revoke-self", async (t) => vault(t.addr, "POST", "auth/token/revoke-self", { token: (await t.login()).token }));
  conform("lookup-self after revoke-self", async (t) => {
    const { token } = await t.login();
    await vault(t.addr, "POST", "auth/token/revoke-self", { token });
    return vault(t.addr, "GET", "auth/token/lookup-self", { token });
  });
  conform("lookup-accessor", async (t) => vault(t.addr, "POST", "auth/token/lookup-accessor", { token: t.root, body: { accessor: (await t.login()).accessor } }), { ...MOUNT_TYPE, ...BRIDGED_TOKEN("data.meta") });
  conform("lookup-accessor of an unknown accessor", (t) => vault(t.addr, "POST", "auth/token/lookup-accessor", { token: t.root, body: { accessor: "nonexistentaccessor00000" } }));
});

describe("database credentials and leases", () => {
  conform("database/creds", async (t) => vault(t.addr, "GET", "database/creds/app", { token: (await t.login()).token }), MOUNT_TYPE);
  conform("database/creds of an unknown role", async (t) => vault(t.addr, "GET", "database/creds/nope", { token: t.root }));
  conform("sys/leases/lookup", async (t) => vault(t.addr, "PUT", "sys/leases/lookup", { token: t.root, body: { lease_id: (await t.dbLease()).leaseId } }), MOUNT_TYPE);
  conform("sys/leases/renew", async (t) => {
    const { token, leaseId } = await t.dbLease();
    return vault(t.addr, "PUT", "sys/leases/renew", { token, body: { lease_id: leaseId, increment: 1800 } });
  }, MOUNT_TYPE);
  conform("sys/leases/renew past the max TTL", async (t) => {
    const { token, leaseId } = await t.dbLease();
    return vault(t.addr, "PUT", "sys/leases/renew", { token, body: { lease_id: leaseId, increment: 18000 } });
  }, { ...MOUNT_TYPE, ...CAPPED("lease") });
  conform("sys/leases/renew of an unknown lease", async (t) => vault(t.addr, "PUT", "sys/leases/renew", { token: t.root, body: { lease_id: "database/creds/app/nope" } }));
  conform("sys/leases/revoke", async (t) => {
    const { token, leaseId } = await t.dbLease();
    return vault(t.addr, "PUT", "sys/leases/revoke", { token, body: { lease_id: leaseId } });
  });
  conform("sys/leases/lookup after revoke", async (t) => {
    const { token, leaseId } = await t.dbLease();
    await vault(t.addr, "PUT", "sys/leases/revoke", { token, body: { lease_id: leaseId } });
    return vault(t.addr, "PUT", "sys/leases/lookup", { token: t.root, body: { lease_id: leaseId } });
  });
  conform("a lease dies with its token", async (t) => {
    const { token, leaseId } = await t.dbLease();
    await vault(t.addr, "POST", "auth/token/revoke-self", { token });
    return untilGone(t, leaseId);
  });
});

// The login-error cases compare our Vault test server with OpenBao's AWS auth plugin, so they cannot
// run without it (against the test bridge they would compare our checks with themselves). While
// they wait, what is checked is that the plugin really was refused by the registry, as the installer
// recorded it, and not left out by a missing install step.
it.runIf(LOGIN_BRIDGED)("the login-error cases wait on OpenBao's AWS auth plugin, which the Go module proxy refused", () => {
  expect(LOGIN_BRIDGED).toMatch(/go install github\.com\/openbao\/openbao-plugins\/auth\/aws\/cmd@/);
  expect(LOGIN_BRIDGED).toMatch(/403 Forbidden|not available/);
});

describe.skipIf(LOGIN_BRIDGED)(`AWS auth IAM login errors${LOGIN_BRIDGED ? " (waits on OpenBao's AWS auth plugin: the Go proxy refused it)" : ""}`, () => {
  const attempt = (t: Target, change: (body: Record<string, unknown>) => void, sign: Parameters<typeof loginBody>[1] = {}) => {
    const body = loginBody(t.name === "peer" ? identity : bao.identity, { role: "fn-role", serverId: IAM_SERVER_ID, ...sign });
    change(body);
    return vault(t.addr, "POST", "auth/aws/login", { body });
  };
  conform("an unknown role", (t) => attempt(t, (b) => (b["role"] = "nope")));
  conform("no iam_http_request_method", (t) => attempt(t, (b) => delete b["iam_http_request_method"]));
  conform("a GET method", (t) => attempt(t, (b) => (b["iam_http_request_method"] = "GET")));
  conform("an iam_request_url that is not base64", (t) => attempt(t, (b) => (b["iam_request_url"] = "%%%")));
  conform("a body other than GetCallerIdentity", (t) => attempt(t, () => {}, { body: "Action=GetSessionToken&Version=2011-06-15" }));
  conform("headers that are not base64 JSON", (t) => attempt(t, (b) => (b["iam_request_headers"] = "bm90IGpzb24=")));
  conform("no server-ID header", (t) => attempt(t, () => {}, { serverId: undefined as unknown as string }));
  conform("a wrong server-ID header", (t) => attempt(t, () => {}, { serverId: "other.example.com" }));
  conform("a tampered signature", (t) =>
    attempt(t, (b) => {
      const headers = JSON.parse(Buffer.from(String(b["iam_request_headers"]), "base64").toString("utf8"));
      headers.Authorization = [String(headers.Authorization[0]).replace(/Signature=[0-9a-f]{4}/, "Signature=0000")];
      b["iam_request_headers"] = Buffer.from(JSON.stringify(headers)).toString("base64");
    }),
  );
});
