/**
 * The Vault test server's secrets engines and plumbing: KV v2 and v1 response shapes
 * (vault-wire-protocol.md §4), mounts and KV version detection, role validation, the seed, and
 * Vault's generic errors (no handler for route, unsupported path/operation, bad JSON, wrapping).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedVault } from "./vault/seed.ts";
import { VaultTestServer } from "./vault/server.ts";
import { vault } from "./vault/testing.ts";

let server: VaultTestServer;
let addr: string;
const root = () => server.rootToken;
const call = (method: string, path: string, body?: unknown) => vault(addr, method, path, { token: root(), body });

beforeAll(async () => {
  server = await VaultTestServer.start({ defaultLeaseTtlSeconds: 7200, maxLeaseTtlSeconds: 86400 });
  addr = server.url;
  await seedVault(addr, root(), {
    kv: [
      { mount: "secret", version: 2, secrets: { "app/config": { api_key: "kv2-api-key-1", port: 5432 } } },
      { mount: "kv1", version: 1, secrets: { plain: { password: "kv1-password-1" }, "with-ttl": { value: "kv1-ttl-value", ttl: "90s" } } },
    ],
  });
});

afterAll(async () => {
  await server?.close();
});

describe("KV v2", () => {
  it("reads data.data and data.metadata with no lease", async () => {
    const res = await call("GET", "secret/data/app/config");
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, mount_type: "kv", auth: null, wrap_info: null, warnings: null });
    expect(res.json.data.data).toEqual({ api_key: "kv2-api-key-1", port: 5432 });
    expect(res.json.data.metadata).toEqual({ created_time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/), custom_metadata: null, deletion_time: "", destroyed: false, version: 1 });
  });

  it("versions writes, reads ?version=N, soft-deletes with a 404 that carries the body", async () => {
    const w1 = await call("POST", "secret/data/svc", { data: { v: "one-value" } });
    expect(w1.json.data).toMatchObject({ version: 1, deletion_time: "", destroyed: false, custom_metadata: null });
    const w2 = await call("PUT", "secret/data/svc", { data: { v: "two-value" }, options: { cas: 1 } });
    expect(w2.json.data.version).toBe(2);
    expect((await call("POST", "secret/data/svc", { data: { v: "x" }, options: { cas: 1 } })).json).toEqual({
      errors: ["check-and-set parameter did not match the current version"],
    });
    expect((await call("GET", "secret/data/svc")).json.data.data).toEqual({ v: "two-value" });
    expect((await call("GET", "secret/data/svc?version=1")).json.data.data).toEqual({ v: "one-value" });
    expect((await call("GET", "secret/data/svc?version=9")).json).toEqual({ errors: [] });
    expect((await call("DELETE", "secret/data/svc")).status).toBe(204);
    const deleted = await call("GET", "secret/data/svc");
    expect(deleted.status).toBe(404);
    expect(deleted.json.data.data).toBeNull();
    expect(deleted.json.data.metadata).toMatchObject({ version: 2, destroyed: false, deletion_time: expect.stringMatching(/Z$/) });
    expect((await call("POST", "secret/undelete/svc", { versions: [2] })).status).toBe(204);
    expect((await call("GET", "secret/data/svc")).status).toBe(200);
    const meta = await call("GET", "secret/metadata/svc");
    expect(meta.json.data).toMatchObject({ current_version: 2, oldest_version: 0, versions: { "1": { destroyed: false }, "2": { deletion_time: "" } } });
    expect((await call("DELETE", "secret/metadata/svc")).status).toBe(204);
    expect((await call("GET", "secret/data/svc")).json).toEqual({ errors: [] });
  });

  it("answers a missing secret with 404 {errors: []}, lists, and rejects writes without data", async () => {
    const missing = await call("GET", "secret/data/nope");
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ errors: [] });
    expect((await call("GET", "secret/metadata/app?list=true")).json.data.keys).toEqual(["config"]);
    expect((await call("GET", "secret/metadata/?list=true")).json.data.keys).toContain("app/");
    expect((await call("POST", "secret/data/x", { value: 1 })).json).toEqual({ errors: ["no data provided"] });
    // A path without data/ is a 404 whose only words are a warning (as OpenBao and Vault answer it).
    const bare = await call("GET", "secret/app/config");
    expect(bare.status).toBe(404);
    expect(bare.json).toMatchObject({ data: null, lease_id: "", auth: null });
    expect(bare.json.errors).toBeUndefined();
    expect(bare.json.warnings).toEqual([
      "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.",
    ]);
    expect((await call("POST", "secret/app/config", { data: { a: "b" } })).json.warnings[0]).toContain("use 'vault kv put' for this operation");
  });
});

describe("KV v1", () => {
  it("reads the stored map with the mount default lease_duration and no lease", async () => {
    const res = await call("GET", "kv1/plain");
    expect(res.json).toMatchObject({ lease_id: "", renewable: false, lease_duration: 7200, data: { password: "kv1-password-1" }, mount_type: "kv" });
    expect(server.leases()).toEqual([]);
  });
  it("uses the secret's own ttl key", async () => {
    expect((await call("GET", "kv1/with-ttl")).json.lease_duration).toBe(90);
  });
  it("writes (204), lists, deletes, and 404s", async () => {
    expect((await call("PUT", "kv1/dir/a", { k: "v1-written-value" })).status).toBe(204);
    expect((await call("GET", "kv1/dir?list=true")).json.data.keys).toEqual(["a"]);
    expect((await call("DELETE", "kv1/dir/a")).status).toBe(204);
    expect((await call("GET", "kv1/dir/a")).json).toEqual({ errors: [] });
  });
  it("records written values for the leak scan (shorter than 6 characters excepted)", () => {
    const secrets = server.issuedSecrets();
    for (const v of ["kv2-api-key-1", "kv1-password-1", "v1-written-value", root()]) expect(secrets).toContain(v);
    expect(secrets).not.toContain("90s");
  });
});

describe("mounts, detection and configuration", () => {
  it("reports the KV version through sys/internal/ui/mounts", async () => {
    expect((await call("GET", "sys/internal/ui/mounts/secret/data/app/config")).json.data).toMatchObject({ type: "kv", options: { version: "2" }, path: "secret/" });
    expect((await call("GET", "sys/internal/ui/mounts/kv1/plain")).json.data).toMatchObject({ type: "kv", options: { version: "1" }, path: "kv1/" });
    expect((await call("GET", "sys/internal/ui/mounts/nope/x")).status).toBe(403);
  });

  it("enables, tunes and refuses duplicate mounts", async () => {
    expect((await call("POST", "sys/mounts/db2", { type: "database", config: { default_lease_ttl: "10m", max_lease_ttl: "1h" } })).status).toBe(204);
    expect((await call("GET", "sys/mounts/db2/tune")).json.data).toMatchObject({ default_lease_ttl: 600, max_lease_ttl: 3600 });
    expect((await call("POST", "sys/mounts/db2", { type: "database" })).json).toEqual({ errors: ["path is already in use at db2/"] });
    expect((await call("POST", "sys/mounts/x", { type: "pki" })).json).toEqual({ errors: ["plugin not found in the catalog: pki"] });
    await call("POST", "db2/roles/r", { db_name: "d" });
    expect((await call("GET", "db2/creds/r")).json.lease_duration).toBe(600);
    expect((await call("POST", "sys/mounts/db2/tune", { default_lease_ttl: "2m" })).status).toBe(204);
    expect((await call("GET", "db2/creds/r")).json.lease_duration).toBe(120);
    expect((await call("GET", "sys/mounts")).json.data["db2/"]).toMatchObject({ type: "database", config: { default_lease_ttl: 120, max_lease_ttl: 3600 } });
    expect((await call("DELETE", "sys/mounts/db2")).status).toBe(204);
    expect(server.leases().filter((l) => l.path === "db2/creds/r").map((l) => l.revokeReason)).toEqual(["mount-disabled", "mount-disabled"]);
  });

  it("validates AWS auth roles with Vault's messages", async () => {
    await call("POST", "sys/auth/aws", { type: "aws" });
    const arn = "arn:aws:iam::123456789012:role/fn";
    const cases: Array<[Record<string, unknown>, string]> = [
      [{ token_policies: "app" }, "at least one bound parameter should be specified on the role"],
      [{ bound_iam_principal_arn: arn, ttl: "2h", max_ttl: "1h" }, "ttl should be shorter than max ttl"],
      [{ bound_iam_principal_arn: arn, token_ttl: "2h", token_max_ttl: "1h" }, "'token_ttl' cannot be greater than 'token_max_ttl'"],
      [{ bound_iam_principal_arn: arn, auth_type: "saml" }, "unrecognized auth_type: saml"],
      [{ bound_ami_id: "ami-1" }, "specified bound_ami_id but not specifying ec2 auth_type or inferring ec2_instance"],
      [{ bound_iam_principal_arn: arn, token_type: "weird" }, "invalid 'token_type' value \"weird\""],
      [{ bound_iam_principal_arn: arn, token_ttl: "ten" }, 'Field validation failed: error converting input for field "token_ttl": time: invalid duration "ten"'],
    ];
    for (const [body, message] of cases) {
      const res = await call("POST", "auth/aws/role/r", body);
      expect(res.json, JSON.stringify(body)).toEqual({ errors: [message] });
    }
    expect((await call("POST", "auth/aws/role/ok", { bound_iam_principal_arn: `${arn}, ${arn}2`, token_ttl: "1m30s", token_max_ttl: 600 })).status).toBe(204);
    expect((await call("GET", "auth/aws/role/OK")).json.data).toMatchObject({
      auth_type: "iam",
      bound_iam_principal_arn: [arn, `${arn}2`],
      token_ttl: 90,
      token_max_ttl: 600,
      resolve_aws_unique_ids: true,
      role_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect((await call("GET", "auth/aws/roles?list=true")).json.data.keys).toEqual(["ok"]);
    expect((await call("POST", "auth/aws/role/ok", { auth_type: "ec2" })).json).toEqual({ errors: ["changing auth_type on a role is not allowed"] });
  });

  it("stores config/client, canonicalising allowed_sts_header_values and hiding secret_key", async () => {
    await call("POST", "auth/aws/config/client", { sts_endpoint: "http://127.0.0.1:1", allowed_sts_header_values: "x-amz-user-agent", secret_key: "config-secret-1" });
    const res = await call("GET", "auth/aws/config/client");
    expect(res.json.data).toMatchObject({ sts_endpoint: "http://127.0.0.1:1", allowed_sts_header_values: ["X-Amz-User-Agent"], max_retries: -1, use_sts_region_from_client: false });
    expect(res.json.data).not.toHaveProperty("secret_key");
  });

  it("validates AWS secrets roles and config/lease", async () => {
    await call("POST", "sys/mounts/aws", { type: "aws" });
    expect((await call("POST", "aws/roles/r", { policy_arns: "x" })).json).toEqual({ errors: ["did not supply credential_type"] });
    expect((await call("POST", "aws/roles/r", { credential_type: "iam_user", role_arns: "arn:aws:iam::1:role/x" })).json).toEqual({
      errors: ["cannot supply role_arns when credential_type isn't assumed_role"],
    });
    expect((await call("POST", "aws/config/lease", { lease: "3600", lease_max: "1h" })).json).toEqual({ errors: ['Invalid lease: time: missing unit in duration "3600"'] });
    expect((await call("POST", "aws/config/lease", { lease: "1h", lease_max: "24h" })).status).toBe(204);
    expect((await call("GET", "aws/config/lease")).json.data).toEqual({ lease: "1h0m0s", lease_max: "24h0m0s" });
    expect((await call("GET", "aws/creds/missing")).json).toEqual({ errors: ['Role "missing" not found'] });
  });
});

describe("generic errors", () => {
  it("404s unknown mounts with Vault's router message", async () => {
    const res = await call("GET", "nothing/here");
    expect(res.status).toBe(404);
    expect(res.json).toEqual({ errors: ['no handler for route "nothing/here". route entry not found.'] });
  });
  it("405s unsupported operations", async () => {
    // A Go error: it reaches the client through the core's multierror, as on OpenBao and Vault.
    expect((await call("DELETE", "auth/token/lookup-self")).json).toEqual({ errors: ["1 error occurred:\n\t* unsupported operation\n\n"] });
    expect((await vault(addr, "GET", "auth/aws/login")).status).toBe(405);
  });
  it("400s bad JSON", async () => {
    const res = await vault(addr, "POST", "secret/data/x", { token: root(), body: "{nope" });
    expect(res.status).toBe(400);
    expect(res.json.errors[0]).toMatch(/^failed to parse JSON input: /);
  });
  it("refuses response wrapping", async () => {
    const res = await vault(addr, "GET", "secret/data/app/config", { token: root(), headers: { "X-Vault-Wrap-TTL": "5m" } });
    expect(res.json).toEqual({ errors: ["wrapping not supported by the test server"] });
  });
});

describe("seedVault", () => {
  it("is idempotent and refuses a conflicting mount", async () => {
    const seed = { kv: [{ mount: "secret", version: 2 as const, secrets: { again: { a: "seeded-again" } } }] };
    await seedVault(addr, root(), seed);
    await seedVault(addr, root(), seed);
    expect((await call("GET", "secret/metadata/again")).json.data.current_version).toBe(2);
    await expect(seedVault(addr, root(), { kv: [{ mount: "secret", version: 1, secrets: {} }] })).rejects.toThrow(/already mounted as kv \(version 2\)/);
  });
  it("reports Vault's error for a bad request without leaking the token", async () => {
    const err = await seedVault(addr, root(), { aws: { roles: { bad: { credential_type: "nope" } } } }).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain("unrecognized credential_type: nope");
    expect((err as Error).message).not.toContain(root());
  });
});
