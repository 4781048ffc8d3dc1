/**
 * Init failures as Lambda reports them, the login variants (assumed role, regional STS, server-ID
 * header), file mode, and revocation at SHUTDOWN.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ACCOUNT, World, freePort, results, useWorld } from "./harness.ts";

let world: World;

useWorld((w) => (world = w));

// Independent environments against a Vault they do not change (but for a role of their own): at
// once, so that the unreachable case's retries until the init budget do not hold up the rest.
describe.concurrent("init errors", () => {
  async function initError(env: Record<string, string>) {
    const fn = await world.lambda(env);
    const init = await fn.start();
    expect(init.ok).toBe(false);
    const ext = init.extensions.find((e) => e.name === "vault-lambda-agent")!;
    await fn.kill();
    return { init, ext };
  }

  it("Extension.ConfigInvalid names the variable and the fix", async () => {
    const { init } = await initError({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten" });
    expect(init.error?.type).toBe("Extension.ConfigInvalid");
    expect(init.error?.message).toContain('VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten" is not a duration (try "10s")');
  });

  it("Extension.VaultUnreachable, inside Lambda's 10 s init limit", async () => {
    const closedPort = await freePort();
    const { init } = await initError({ VAULT_ADDR: `http://127.0.0.1:${closedPort}` });
    // The extension's own error type: the emulator enforces Lambda's 10 s init limit and would
    // report its own timeout had the extension retried past it.
    expect(init.error?.type).toBe("Extension.VaultUnreachable");
    expect(init.error?.message).toMatch(/ECONNREFUSED/);
  });

  it("Extension.AuthFailed with Vault's reason: unknown role", async () => {
    const { init } = await initError({ VAULT_AUTH_ROLE: "nope" });
    expect(init.error?.type).toBe("Extension.AuthFailed");
    expect(init.error?.message).toContain("entry for role nope not found");
    expect(init.error?.message).toContain("VAULT_AUTH_ROLE");
  });

  it("Extension.AuthFailed with Vault's reason: an ARN the role does not bind", async () => {
    await fetch(`${world.vault.url}/v1/auth/aws/role/other`, {
      method: "POST",
      headers: { "x-vault-token": world.vault.rootToken },
      body: JSON.stringify({ auth_type: "iam", bound_iam_principal_arn: [`arn:aws:iam::${ACCOUNT}:role/someone-else`] }),
    });
    const { init } = await initError({ VAULT_AUTH_ROLE: "other" });
    expect(init.error?.type).toBe("Extension.AuthFailed");
    expect(init.error?.message).toContain('does not belong to the role "other"');
    expect(init.error?.message).toContain("bound_iam_principal_arn");
  });

  it("Extension.SecretReadFailed names the variable, the path and Vault's answer", async () => {
    const { init } = await initError({ VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_PATH_MISSING: "secret/data/not/there" });
    expect(init.error?.type).toBe("Extension.SecretReadFailed");
    expect(init.error?.message).toContain("VAULT_SECRET_PATH_MISSING");
    expect(init.error?.message).toContain("secret/data/not/there");
    expect(init.error?.message).not.toContain("VAULT_SECRET_PATH_DB");
  });
});

describe("login variants", () => {
  it("VAULT_ASSUMED_ROLE_ARN: Vault sees the assumed-role ARN", async () => {
    world.sts.addRole({ arn: `arn:aws:iam::${ACCOUNT}:role/vault-login`, roleId: "AROAVAULTLOGINEXAMPLE" });
    await fetch(`${world.vault.url}/v1/auth/aws/role/vault-login`, {
      method: "POST",
      headers: { "x-vault-token": world.vault.rootToken },
      body: JSON.stringify({ auth_type: "iam", bound_iam_principal_arn: [`arn:aws:iam::${ACCOUNT}:role/vault-login`], token_ttl: "1h" }),
    });
    const fn = await world.lambda({
      VAULT_AUTH_ROLE: "vault-login",
      VAULT_ASSUMED_ROLE_ARN: `arn:aws:iam::${ACCOUNT}:role/vault-login`,
      AWS_ENDPOINT_URL_STS: await world.sts.endpoint("eu-west-1"),
    });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const login = world.vault.logins.filter((l) => l.ok).at(-1)!;
    expect(login.arn).toBe(`arn:aws:sts::${ACCOUNT}:assumed-role/vault-login/orders-api`);
    await fn.shutdown();
  });

  it("regional STS signing is accepted by a Vault configured for that endpoint, and refused by one on the global endpoint", async () => {
    const regional = await World.start({ authConfig: { sts_endpoint: await world.sts.endpoint("eu-west-1") } });
    try {
      // The regional world's STS is its own; point its auth config at its own regional listener.
      await fetch(`${regional.vault.url}/v1/auth/aws/config/client`, {
        method: "POST",
        headers: { "x-vault-token": regional.vault.rootToken },
        body: JSON.stringify({ sts_endpoint: await regional.sts.endpoint("eu-west-1") }),
      });
      const ok = await regional.lambda({ VAULT_STS_ENDPOINT_REGION: "eu-west-1" });
      const okInit = await ok.start();
      expect(okInit.ok, JSON.stringify(okInit.error)).toBe(true);
      await ok.shutdown();
      const wrong = await world.lambda({ VAULT_STS_ENDPOINT_REGION: "eu-west-1" });
      const wrongInit = await wrong.start();
      expect(wrongInit.ok).toBe(false);
      expect(wrongInit.error?.type).toBe("Extension.AuthFailed");
      expect(wrongInit.error?.message).toContain("SignatureDoesNotMatch");
      expect(wrongInit.error?.message).toContain("VAULT_STS_ENDPOINT_REGION");
      await wrong.kill();
      regional.leakScan();
    } finally {
      await regional.close();
    }
  });

  it("the server-ID header: refused when absent, accepted when signed", async () => {
    const w = await World.start({ authConfig: { iam_server_id_header_value: "vault.example.com" } });
    try {
      const absent = await w.lambda({});
      const absentInit = await absent.start();
      expect(absentInit.error?.type).toBe("Extension.AuthFailed");
      expect(absentInit.error?.message).toContain('missing header "X-Vault-AWS-IAM-Server-ID"');
      expect(absentInit.error?.message).toContain("VAULT_IAM_SERVER_ID");
      await absent.kill();
      const signed = await w.lambda({ VAULT_IAM_SERVER_ID: "vault.example.com" });
      const signedInit = await signed.start();
      expect(signedInit.ok, JSON.stringify(signedInit.error)).toBe(true);
      await signed.shutdown();
      w.leakScan();
    } finally {
      await w.close();
    }
  });
});

describe("shutdown", () => {
  it("revokes every lease and token it held, deletes its files, and exits 0 inside the deadline", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-files-"));
    const fn = await world.lambda({
      VAULT_SECRET_PATH_DB: "database/creds/app",
      VAULT_SECRET_FILE_DB: path.join(dir, "db.json"),
      VAULT_SECRET_PATH_DEPLOY: "aws/creds/deploy",
      VAULT_SECRET_PATH_CONFIG: "secret/data/app/config",
      VAULT_SECRET_FILE_CONFIG: path.join(dir, "config.json"),
    });
    expect((await fn.start()).ok).toBe(true);
    // File mode: 0600 in a 0700 directory, the same JSON as /secrets/<name>.
    const file = path.join(dir, "db.json");
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    const [served] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
    const onDisk = JSON.parse(fs.readFileSync(file, "utf8"));
    expect(onDisk.data).toEqual(served!.json.data);
    expect(onDisk.lease_id).toBe(served!.json.lease_id);
    const accessor = world.vault.tokens().filter((t) => t.path === "auth/aws/login" && !t.revokedAt).at(-1)!.accessor;
    const result = await fn.shutdown();
    expect(result.exitCodes["vault-lambda-agent"]).toBe(0);
    // Nothing killed: the extension finished inside the emulator's 2 s shutdown budget.
    expect(result.killed).toEqual([]);
    const token = world.vault.tokens().find((t) => t.accessor === accessor)!;
    expect(token.revokedAt).toBeDefined();
    const leases = world.vault.leases().filter((l) => l.tokenAccessor === accessor);
    expect(leases.length).toBe(2);
    for (const l of leases) expect(l.revokedAt, l.path).toBeDefined();
    expect(leases.some((l) => l.revokeReason === "explicit")).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(path.join(dir, "config.json"))).toBe(false);
  });

  it("VAULT_REVOKE_ON_SHUTDOWN=false leaves the token alive", async () => {
    const fn = await world.lambda({ VAULT_REVOKE_ON_SHUTDOWN: "false" });
    expect((await fn.start()).ok).toBe(true);
    const accessor = world.vault.tokens().filter((t) => t.path === "auth/aws/login").at(-1)!.accessor;
    const result = await fn.shutdown("timeout");
    expect(result.exitCodes["vault-lambda-agent"]).toBe(0);
    expect(world.vault.tokens().find((t) => t.accessor === accessor)!.revokedAt).toBeUndefined();
  });
});
