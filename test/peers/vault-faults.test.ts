/**
 * The Vault test server's fault injection (latency, N failures with a status, dropped
 * connections), sealing, sys/health, and the request log (start/end times, overlap, redaction).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { seedVault } from "./vault/seed.ts";
import { VaultTestServer } from "./vault/server.ts";
import { vault } from "./vault/testing.ts";

let server: VaultTestServer;
let addr: string;
const root = () => server.rootToken;
const read = (path = "secret/data/app") => vault(addr, "GET", path, { token: root() });

beforeAll(async () => {
  server = await VaultTestServer.start({ version: "1.15.6" });
  addr = server.url;
  await seedVault(addr, root(), {
    kv: [{ mount: "secret", version: 2, secrets: { app: { password: "fault-test-password" } } }],
    database: { roles: { app: { default_ttl: "1h", max_ttl: "2h" } } },
  });
});

afterAll(async () => {
  await server?.close();
});

beforeEach(() => {
  server.clearFaults();
  server.unseal();
});

describe("fault injection", () => {
  it("delays matching requests by latencyMs; the log shows it", async () => {
    server.addFault({ path: "secret/data/app", latencyMs: 150 });
    const t0 = Date.now();
    expect((await read()).status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(145);
    const rec = server.requestLog.at(-1)!;
    expect(rec).toMatchObject({ method: "GET", path: "secret/data/app", status: 200 });
    expect(rec.endedAt! - rec.startedAt).toBeGreaterThanOrEqual(145);
    // Other paths are not affected: one sent while a delayed one waits is answered first (an
    // order, not a duration, so CPU load cannot fail it).
    server.clearFaults();
    server.addFault({ path: "secret/data/app", latencyMs: 1_000 });
    const order: string[] = [];
    const delayed = read().then(() => order.push("delayed"));
    await read("secret/data/other").then(() => order.push("other"));
    await delayed;
    expect(order).toEqual(["other", "delayed"]);
    expect(server.requestLog.find((r) => r.path === "secret/data/other")).toBeDefined();
  });

  it("fails the next N requests with a status, then lets them through", async () => {
    server.addFault({ path: "database/creds/app", status: 503, times: 2 });
    const a = await read("database/creds/app");
    const b = await read("database/creds/app");
    const c = await read("database/creds/app");
    expect([a.status, b.status, c.status]).toEqual([503, 503, 200]);
    expect(a.json).toEqual({ errors: ["Vault is sealed"] });
    expect(server.requestLog.slice(-3).map((r) => r.faulted ?? false)).toEqual([true, true, false]);
  });

  it("answers custom errors, matches by method and RegExp, and can be removed", async () => {
    const remove = server.addFault({ path: /^secret\/data\//, method: "POST", status: 500, errors: ["boom"] });
    expect((await read()).status).toBe(200);
    const w = await vault(addr, "POST", "secret/data/x", { token: root(), body: { data: { a: "b" } } });
    expect(w.status).toBe(500);
    expect(w.json).toEqual({ errors: ["boom"] });
    remove();
    expect((await vault(addr, "POST", "secret/data/x", { token: root(), body: { data: { a: "b" } } })).status).toBe(200);
  });

  it("drops the connection without an answer", async () => {
    server.addFault({ path: "secret/data/app", drop: true, times: 1 });
    await expect(read()).rejects.toThrow();
    const rec = server.requestLog.at(-1)!;
    expect(rec).toMatchObject({ dropped: true, faulted: true });
    expect(rec.status).toBeUndefined();
    expect(rec.endedAt).toEqual(expect.any(Number));
    expect((await read()).status).toBe(200);
  });

  it("matches the namespace-qualified path too", async () => {
    server.addFault({ path: "team9/secret/data/app", status: 429, times: 1 });
    const res = await vault(addr, "GET", "secret/data/app", { token: root(), namespace: "team9" });
    expect(res.status).toBe(429);
    expect(res.json.errors[0]).toContain("rate limit quota exceeded");
  });
});

describe("sealed", () => {
  it("answers 503 Vault is sealed to everything but health", async () => {
    server.seal();
    expect((await read()).json).toEqual({ errors: ["Vault is sealed"] });
    expect((await read()).status).toBe(503);
    expect((await vault(addr, "POST", "auth/aws/login", { body: {} })).status).toBe(503);
    const health = await vault(addr, "GET", "sys/health");
    expect(health.status).toBe(503);
    expect(health.json).toMatchObject({ initialized: true, sealed: true, standby: true });
    expect((await vault(addr, "GET", "sys/health?sealedcode=200")).status).toBe(200);
    expect((await vault(addr, "GET", "sys/seal-status")).json).toMatchObject({ sealed: true, type: "shamir" });
    server.unseal();
    expect((await read()).status).toBe(200);
  });
});

describe("sys/health", () => {
  it("answers 200 with Vault's body, no token needed", async () => {
    const res = await vault(addr, "GET", "sys/health");
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      initialized: true,
      sealed: false,
      standby: false,
      performance_standby: false,
      replication_performance_mode: "disabled",
      replication_dr_mode: "disabled",
      version: "1.15.6",
      cluster_name: expect.stringMatching(/^vault-cluster-/),
      cluster_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect(Math.abs(res.json.server_time_utc - Date.now() / 1000)).toBeLessThan(5);
  });
  it("honours activecode, rejects a bad code with 400, answers HEAD without a body", async () => {
    expect((await vault(addr, "GET", "sys/health?activecode=299")).status).toBe(299);
    const bad = await vault(addr, "GET", "sys/health?activecode=abc");
    expect(bad.status).toBe(400);
    expect(bad.json).toEqual({ errors: [] });
    const head = await fetch(`${addr}/v1/sys/health`, { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe("");
  });
});

describe("request log", () => {
  it("records overlapping requests with their own start and end", async () => {
    server.addFault({ path: "database/creds/app", latencyMs: 120 });
    const before = server.requestLog.length;
    await Promise.all([read("database/creds/app"), read("database/creds/app")]);
    const [a, b] = server.requestLog.slice(before);
    expect(a!.startedAt).toBeLessThan(b!.endedAt!);
    expect(b!.startedAt).toBeLessThan(a!.endedAt!);
    expect(a!.tokenAccessor).toEqual(expect.any(String));
  });

  it("keeps a redacted body summary: key names and non-secret fields only", async () => {
    await vault(addr, "POST", "secret/data/logged", { token: root(), body: { data: { password: "should-not-be-logged" } } });
    await vault(addr, "PUT", "sys/leases/renew", { token: root(), body: { lease_id: "database/creds/app/x", increment: 60 } });
    const [write, renew] = server.requestLog.slice(-2);
    expect(write!.body).toEqual({ keys: ["data"] });
    expect(renew!.body).toEqual({ keys: ["lease_id", "increment"], lease_id: "database/creds/app/x", increment: 60 });
    expect(JSON.stringify(server.requestLog)).not.toContain("should-not-be-logged");
    expect(JSON.stringify(server.requestLog)).not.toContain(root());
  });

  it("records the namespace header and 404s outside /v1/", async () => {
    await vault(addr, "GET", "secret/data/app", { token: root(), namespace: "team1" });
    expect(server.requestLog.at(-1)).toMatchObject({ namespace: "team1", path: "secret/data/app" });
    const res = await fetch(`${addr}/ui/`);
    expect(res.status).toBe(404);
  });
});
