/**
 * The built layer in each execution mode (README, "Execution modes"): the mode named in the first
 * log line, SnapStart's credentials from the container-credentials endpoint, Managed Instances'
 * SHUTDOWN-only registration.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, results } from "./harness.ts";

let world: World;

beforeAll(async () => {
  world = await World.start();
});

afterAll(async () => {
  world.leakScan();
  await world.close();
});

function firstLine(lines: string[]): Record<string, unknown> {
  return JSON.parse(lines[0]!) as Record<string, unknown>;
}

describe("on-demand", () => {
  it("names the mode and the init budget in its first log line", async () => {
    const fn = await world.lambda({});
    expect((await fn.start()).ok).toBe(true);
    expect(firstLine(fn.logs("vault-lambda-agent"))).toMatchObject({ message: "starting", mode: "on-demand", initBudgetMs: 6_500 });
    await fn.shutdown();
  });
});

describe("snap-start: credentials from the container-credentials endpoint", () => {
  it("signs the login with the endpoint's key pair (no keys in the environment) and serves", async () => {
    const keys = world.newCredentials("snap-endpoint");
    const fn = await world.lambda({ VAULT_SECRET_PATH_CONFIG: "secret/data/app/config" }, { mode: "snap-start", credentials: keys });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    expect(firstLine(fn.logs("vault-lambda-agent"))).toMatchObject({ message: "starting", mode: "snap-start" });
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

describe("lambda-managed-instances", () => {
  it("registers SHUTDOWN only, serves, and revokes at SHUTDOWN", async () => {
    const fn = await world.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" }, { mode: "lambda-managed-instances" });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    expect(init.extensions.find((e) => e.name === "vault-lambda-agent")!.events).toEqual(["SHUTDOWN"]);
    expect(firstLine(fn.logs("vault-lambda-agent"))).toMatchObject({ message: "starting", mode: "lambda-managed-instances" });
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
