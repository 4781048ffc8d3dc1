/**
 * The built layer under the Lambda emulator, against the Vault and STS test servers: what a handler
 * reads and how (init ordering: early-registration.test.ts), the caller-token guard, request coalescing.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, results, useWorld } from "./harness.ts";

let world: World;

useWorld((w) => (world = w));

const THREE_SECRETS = {
  VAULT_SECRET_PATH_CONFIG: "secret/data/app/config",
  VAULT_SECRET_PATH_DB: "database/creds/app",
  VAULT_SECRET_PATH_DEPLOY: "aws/creds/deploy",
};

describe("handler reads", () => {
  let fn: Awaited<ReturnType<World["lambda"]>>;

  beforeAll(async () => {
    fn = await world.lambda(THREE_SECRETS);
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
  });

  afterAll(async () => {
    await fn.shutdown();
  });

  it("serves /secrets/<name> with the unwrapped data, lease metadata and time left", async () => {
    const [kv, db, dbUpper] = results(await fn.invoke({ requests: [{ path: "/secrets/config" }, { path: "/secrets/db" }, { path: "/secrets/DB" }] }));
    expect(kv!.status).toBe(200);
    expect(kv!.json).toMatchObject({ name: "CONFIG", path: "secret/data/app/config", data: { api_key: "kv-api-key-7f3a9c" }, lease_id: "", lease_duration: 0, expires_at: null });
    expect(kv!.json.metadata.version).toBe(1);
    expect(db!.json.lease_id).toMatch(/^database\/creds\/app\//);
    expect(db!.json.lease_duration).toBeGreaterThan(3500);
    expect(db!.json.lease_duration).toBeLessThanOrEqual(3600);
    expect(db!.json.renewable).toBe(true);
    expect(new Date(db!.json.expires_at).getTime()).toBeGreaterThan(Date.now());
    expect(db!.xCache).toBe("HIT");
    expect(dbUpper!.json.data).toEqual(db!.json.data);
  });

  it("serves one field as text/plain, 404 for a missing field or an undeclared name", async () => {
    const [field, missing, undeclared, badName] = results(
      await fn.invoke({
        requests: [{ path: "/secrets/config?field=api_key" }, { path: "/secrets/config?field=nope" }, { path: "/secrets/other" }, { path: "/secrets/a-b" }],
      }),
    );
    expect(field!.status).toBe(200);
    expect(field!.contentType).toMatch(/^text\/plain/);
    expect(field!.text).toBe("kv-api-key-7f3a9c");
    expect(missing!.status).toBe(404);
    expect(undeclared!.status).toBe(404);
    expect(undeclared!.json.errors[0]).toMatch(/VAULT_SECRET_PATH_OTHER/);
    expect(badName!.status).toBe(400);
  });

  it("answers 50 concurrent requests for a cold key with one Vault read, and coalesces forced refreshes", async () => {
    const count = () => world.vault.requestLog.filter((e) => e.path === "database/creds/app").length;
    world.vault.addFault({ path: "database/creds/app", latencyMs: 200 });
    // A cold key: a cached proxy read nobody made before.
    let before = count();
    const cold = results(await fn.invoke({ parallel: Array.from({ length: 50 }, () => ({ path: "/v1/database/creds/app", headers: { "x-vault-cache-control": "cache" } })) }));
    expect(cold.map((x) => x.status)).toEqual(Array(50).fill(200));
    expect(new Set(cold.map((x) => x.json.data.username)).size).toBe(1);
    expect(count() - before).toBe(1);
    // A declared secret, every caller asking for a fresh read at once.
    before = count();
    const forced = results(await fn.invoke({ parallel: Array.from({ length: 50 }, () => ({ path: "/secrets/db?refresh=true" })) }));
    world.vault.clearFaults();
    expect(forced.every((x) => x.status === 200)).toBe(true);
    expect(count() - before).toBe(1);
  });
});

describe("real clients in a handler", () => {
  it("hands AWS credentials to the AWS SDK's own HTTP credential provider, proxies an ordinary Vault client, and serves the package's client", async () => {
    const fn = await world.lambda(THREE_SECRETS, { handler: "sdk-clients.handler" });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const r = await fn.invoke({ awsCredentials: "deploy", vaultRead: "secret/data/app/config", client: { name: "db", field: "password", aws: "deploy" } });
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    const out = r.response as { aws: any; vault: any; client: any };
    const issued = world.vault.leases().filter((l) => l.path.startsWith("aws/creds/deploy") && !l.revokedAt).at(-1)!;
    expect(out.aws.accessKeyId).toMatch(/^AKIA/);
    expect(out.aws.accessKeyId).toBe((issued.data as any).access_key);
    expect(out.aws.sessionToken).toBe("");
    expect(new Date(out.aws.expiration).getTime()).toBeGreaterThan(Date.now() + 3000_000);
    expect(out.vault.data.data).toEqual({ api_key: "kv-api-key-7f3a9c", region: "eu-west-1" });
    // The proxy used the extension's Vault token, not the caller's session token.
    const proxied = world.vault.requestLog.filter((e) => e.path === "secret/data/app/config").at(-1)!;
    expect(proxied.tokenAccessor).toBeTruthy();
    expect(out.client.data.username).toMatch(/^v-/);
    expect(out.client.field).toBe(out.client.data.password);
    expect(out.client.aws.accessKeyId).toBe(out.aws.accessKeyId);
    await fn.shutdown();
  });
});

describe("namespace", () => {
  it("sends VAULT_NAMESPACE on every request, proxied ones included, replacing the caller's", async () => {
    const w = await World.start({ namespace: "team1" });
    try {
      const seeded = w.vault.requestLog.length;
      const fn = await w.lambda({ VAULT_NAMESPACE: "team1", VAULT_SECRET_PATH_CONFIG: "secret/data/app/config" });
      const init = await fn.start();
      expect(init.ok, JSON.stringify(init.error)).toBe(true);
      const [secret, proxied] = results(
        await fn.invoke({ requests: [{ path: "/secrets/config" }, { path: "/v1/secret/data/app/config", headers: { "x-vault-namespace": "elsewhere" } }] }),
      );
      expect(secret!.json.data.api_key).toBe("kv-api-key-7f3a9c");
      expect(proxied!.status).toBe(200);
      expect(proxied!.json.data.data.api_key).toBe("kv-api-key-7f3a9c");
      await fn.shutdown();
      const ours = w.vault.requestLog.slice(seeded);
      // login, the read, the proxied read, and the revocation at shutdown
      expect(ours.map((r) => r.path)).toEqual(expect.arrayContaining(["auth/aws/login", "secret/data/app/config", "auth/token/revoke-self"]));
      for (const r of ours) expect(r.namespace, r.path).toBe("team1");
      w.leakScan();
    } finally {
      await w.close();
    }
  });
});

describe("caller-token guard", () => {
  it("403 without or with a wrong token, 400 for a forwarded request, /health open and secret-free", async () => {
    const fn = await world.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" });
    expect((await fn.start()).ok).toBe(true);
    const [none, wrong, forwarded, health, bearer, sdkHeader] = results(
      await fn.invoke({
        requests: [
          { path: "/secrets/db", token: false },
          { path: "/secrets/db", headers: { "x-vault-token": "not-the-session-token" } },
          { path: "/secrets/db", headers: { "x-forwarded-for": "203.0.113.9" } },
          { path: "/health", token: false },
          { path: "/secrets/db", token: false, headers: { authorization: `Bearer ${world.sessionToken}` } },
          { path: "/secrets/db", token: false, headers: { "x-aws-parameters-secrets-token": world.sessionToken } },
        ],
      }),
    );
    expect(none!.status).toBe(403);
    expect(wrong!.status).toBe(403);
    expect(forwarded!.status).toBe(400);
    expect(bearer!.status).toBe(200);
    expect(sdkHeader!.status).toBe(200);
    expect(health!.status).toBe(200);
    expect(health!.json).toMatchObject({ status: "ok", secrets: { DB: { path: "database/creds/app", stale: false } }, leases: 1 });
    expect(health!.json.token.ttl_seconds).toBeGreaterThan(0);
    for (const secret of world.vault.issuedSecrets()) expect(health!.text).not.toContain(secret);
    await fn.shutdown();
  });
});
