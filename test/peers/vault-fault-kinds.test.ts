/**
 * The Vault test server's fault kinds for the fault matrix (vault/faults.ts): hang, huge streamed
 * answer, redirect, reset mid-answer, slow drip, down/up; and the live token/lease counters.
 */
import http from "node:http";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { makeIdentity } from "./sts/server.ts";
import { StsTestServer } from "./sts/server.ts";
import { seedVault } from "./vault/seed.ts";
import { VaultTestServer } from "./vault/server.ts";
import { login, vault } from "./vault/testing.ts";

let sts: StsTestServer;
let server: VaultTestServer;
const identity = makeIdentity({ arn: "arn:aws:sts::123456789012:assumed-role/fn-role/f", account: "123456789012" });

beforeAll(async () => {
  sts = await StsTestServer.start({ identities: [identity] });
  server = await VaultTestServer.start({ defaultStsEndpoint: sts.url });
  await seedVault(server.url, server.rootToken, {
    authMounts: [{ path: "aws", config: { sts_endpoint: sts.url }, roles: { "fn-role": { auth_type: "iam", bound_iam_principal_arn: ["arn:aws:iam::123456789012:role/fn-role"], token_ttl: "1h" } } }],
    database: { roles: { app: { default_ttl: "1h", max_ttl: "2h" } } },
  });
});

afterAll(async () => {
  await server?.close();
  await sts?.close();
});

beforeEach(() => server.clearFaults());

/** A raw GET with node:http: status, bytes received, and how it ended. */
function rawGet(path: string, token: string, timeoutMs = 5_000): Promise<{ status?: number; headers?: http.IncomingHttpHeaders; bytes: number; ended: "end" | "error" | "timeout" }> {
  return new Promise((resolve) => {
    let bytes = 0;
    let status: number | undefined;
    let headers: http.IncomingHttpHeaders | undefined;
    const req = http.get(`${server.url}/v1/${path}`, { headers: { "x-vault-token": token } }, (res) => {
      status = res.statusCode;
      headers = res.headers;
      res.on("data", (c: Buffer) => (bytes += c.length));
      res.on("end", () => resolve({ status, headers, bytes, ended: "end" }));
      res.on("error", () => resolve({ status, headers, bytes, ended: "error" }));
    });
    req.on("error", () => resolve({ status, headers, bytes, ended: "error" }));
    req.setTimeout(timeoutMs, () => {
      req.destroy();
      resolve({ status, headers, bytes, ended: "timeout" });
    });
  });
}

describe("fault kinds", () => {
  it("hang: no answer until the client gives up; nothing is handled", async () => {
    server.addFault({ path: "database/creds/app", hang: true, times: 1 });
    const before = server.leases().length;
    const r = await rawGet("database/creds/app", server.rootToken, 300);
    expect(r.ended).toBe("timeout");
    expect(server.leases().length).toBe(before);
    expect(server.requestLog.at(-1)).toMatchObject({ path: "database/creds/app", faulted: true });
  });

  it("huge: a streamed 64 MiB JSON answer with its Content-Length (written in 64 KiB chunks, never held whole)", async () => {
    const size = 64 * 1024 * 1024;
    server.addFault({ path: "secret/data/huge", hugeBytes: size, times: 1 });
    const r = await rawGet("secret/data/huge", server.rootToken, 20_000);
    expect(r).toMatchObject({ status: 200, bytes: size, ended: "end" });
    expect(Number(r.headers!["content-length"])).toBe(size);
  });

  it("redirect: 307 to another origin, with the path and query kept", async () => {
    server.addFault({ path: "secret/data/app", redirect: { to: "http://127.0.0.1:9" }, times: 1 });
    const raw = await rawGet("secret/data/app?version=2", server.rootToken);
    expect(raw.status).toBe(307);
    expect(raw.headers!.location).toBe("http://127.0.0.1:9/v1/secret/data/app?version=2");
  });

  it("resetMidAnswer: Vault does the work (a lease is issued), the client gets half an answer and a reset", async () => {
    server.addFault({ path: "database/creds/app", resetMidAnswer: true, times: 1 });
    const before = server.leases().length;
    const r = await rawGet("database/creds/app", server.rootToken);
    expect(r.status).toBe(200);
    expect(r.ended).toBe("error");
    expect(server.leases().length).toBe(before + 1);
    expect(server.requestLog.at(-1)).toMatchObject({ faulted: true, dropped: true, status: 200 });
  });

  it("drip: the whole answer arrives, a few bytes at a time", async () => {
    server.addFault({ path: "sys/health", drip: { everyMs: 5, bytes: 50 }, times: 1 });
    const order: string[] = [];
    const slow = vault(server.url, "GET", "sys/health").then((r) => {
      order.push("drip");
      return r;
    });
    await vault(server.url, "GET", "sys/seal-status").then(() => order.push("other"));
    const r = await slow;
    expect(r.status).toBe(200);
    expect(r.json.initialized).toBe(true);
    expect(order).toEqual(["other", "drip"]);
  });

  it("down refuses connections and keeps state; up serves again on the same address", async () => {
    const { token } = await login(server.url, identity, { role: "fn-role" });
    await server.down();
    const refused = await new Promise<string>((resolve) => {
      http.get(`${server.url}/v1/sys/health`, { agent: false }, () => resolve("answered")).on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    expect(refused).toBe("ECONNREFUSED");
    await server.up();
    expect((await vault(server.url, "GET", "auth/token/lookup-self", { token })).status).toBe(200);
  });

  it("liveTokens and liveLeases count what is not revoked and not expired", async () => {
    const { token, accessor } = await login(server.url, identity, { role: "fn-role" });
    const read = await vault(server.url, "GET", "database/creds/app", { token });
    expect(read.status).toBe(200);
    expect(server.liveTokens().some((t) => t.accessor === accessor)).toBe(true);
    expect(server.liveLeases().some((l) => l.leaseId === read.json.lease_id)).toBe(true);
    expect((await vault(server.url, "POST", "auth/token/revoke-self", { token })).status).toBe(204);
    expect(server.liveTokens().some((t) => t.accessor === accessor)).toBe(false);
    // The lease died with its token.
    expect(server.liveLeases().some((l) => l.leaseId === read.json.lease_id)).toBe(false);
  });
});

describe("echo", () => {
  it("status + echo: the error echoes the request, the token and a login's signed headers decoded", async () => {
    server.addFault({ path: "secret/data/app", status: 500, echo: true, times: 1 });
    const r = await vault(server.url, "GET", "secret/data/app", { token: server.rootToken });
    expect(r.status).toBe(500);
    expect(r.json.errors[0]).toContain(server.rootToken);
    server.addFault({ path: "auth/aws/login", status: 400, echo: true, times: 1 });
    const denied = await login(server.url, identity, { role: "fn-role" }).catch((e: Error) => e.message);
    expect(denied).toContain(identity.sessionToken!);
    expect(denied).toMatch(/Signature=[0-9a-f]{64}/);
  });
});

describe("rewrite", () => {
  it("Vault handles the request (the lease exists), the client gets the rewritten answer", async () => {
    server.addFault({ path: "database/creds/app", rewrite: (a) => ({ ...a, lease_duration: 0 }), times: 1 });
    const r = await vault(server.url, "GET", "database/creds/app", { token: server.rootToken });
    expect(r.status).toBe(200);
    expect(r.json.lease_duration).toBe(0);
    expect(server.liveLeases().some((l) => l.leaseId === r.json.lease_id)).toBe(true);
  });
});
