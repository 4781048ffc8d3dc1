/**
 * The Vault HTTP client against small loopback servers: TLS from the VAULT_* settings, the retry
 * policy (what is retried, what is not, within a deadline), timeouts, and draining before a freeze.
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { VaultError } from "../../src/errors.ts";
import { VaultClient } from "../../src/vault/client.ts";

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
const cert = path.join(fixtures, "test-vault.crt");
const key = path.join(fixtures, "test-vault.key");
const servers: Array<http.Server> = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

async function serve(handler: Handler, tls = false): Promise<string> {
  const server = tls ? https.createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) }, handler) : http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `${tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(vaultAddr: string, opts: Partial<ConstructorParameters<typeof VaultClient>[0]> = {}): VaultClient {
  return new VaultClient({ vaultAddr, timeoutMs: 2_000, maxRetries: 2, tls: { skipVerify: false }, backoffBaseMs: 5, backoffMaxMs: 20, ...opts });
}

const ok: Handler = (req, res) => {
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify({ data: { path: req.url, token: req.headers["x-vault-token"] ?? null, ns: req.headers["x-vault-namespace"] ?? null } }));
};

describe("TLS", () => {
  it("trusts VAULT_CACERT and checks the certificate", async () => {
    const addr = await serve(ok, true);
    const trusted = client(addr, { tls: { skipVerify: false, caCert: cert } });
    const res = await trusted.request<{ data: { path: string } }>({ method: "GET", path: "secret/data/x" });
    expect(res.json?.data.path).toBe("/v1/secret/data/x");
    trusted.close();
    const untrusted = client(addr, { maxRetries: 0 });
    await expect(untrusted.request({ method: "GET", path: "x" })).rejects.toMatchObject({ kind: "connection" });
    untrusted.close();
  });

  it("trusts a VAULT_CAPATH directory, and VAULT_SKIP_VERIFY skips the check", async () => {
    const addr = await serve(ok, true);
    const viaDir = client(addr, { tls: { skipVerify: false, caPath: fixtures } });
    expect((await viaDir.request({ method: "GET", path: "x" })).status).toBe(200);
    viaDir.close();
    const skip = client(addr, { tls: { skipVerify: true } });
    expect((await skip.request({ method: "GET", path: "x" })).status).toBe(200);
    skip.close();
  });

  it("checks the name given by VAULT_TLS_SERVER_NAME", async () => {
    const addr = await serve(ok, true);
    const good = client(addr, { tls: { skipVerify: false, caCert: cert, serverName: "vault.test" } });
    expect((await good.request({ method: "GET", path: "x" })).status).toBe(200);
    good.close();
    const bad = client(addr, { maxRetries: 0, tls: { skipVerify: false, caCert: cert, serverName: "other.test" } });
    await expect(bad.request({ method: "GET", path: "x" })).rejects.toMatchObject({ kind: "connection" });
    bad.close();
  });
});

describe("requests", () => {
  it("keeps a path prefix of the address, sends the token, the namespace and X-Vault-Request", async () => {
    let seen: http.IncomingHttpHeaders = {};
    const addr = await serve((req, res) => {
      seen = req.headers;
      ok(req, res);
    });
    const c = client(`${addr}/prefix/`, { namespace: "team1" });
    const res = await c.request<{ data: { path: string } }>({ method: "GET", path: "auth/token/lookup-self", token: "hvs.example" });
    expect(res.json?.data.path).toBe("/prefix/v1/auth/token/lookup-self");
    expect(seen["x-vault-token"]).toBe("hvs.example");
    expect(seen["x-vault-namespace"]).toBe("team1");
    expect(seen["x-vault-request"]).toBe("true");
    c.close();
  });

  it("retries 412, 429 and 5xx (not 501), up to VAULT_MAX_RETRIES, and not 4xx", async () => {
    for (const [status, expectedCalls] of [[503, 3], [429, 3], [412, 3], [500, 3], [501, 1], [400, 1], [403, 1]] as const) {
      let calls = 0;
      const addr = await serve((_req, res) => {
        calls++;
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [`status ${status}`] }));
      });
      const c = client(addr);
      const err = (await c.request({ method: "GET", path: "x" }).catch((e) => e)) as VaultError;
      expect(err).toBeInstanceOf(VaultError);
      expect(err.status).toBe(status);
      expect(err.reason).toBe(`status ${status}`);
      expect(calls, `status ${status}`).toBe(expectedCalls);
      c.close();
    }
  });

  it("recovers when a retry succeeds, and retries a refused connection", async () => {
    let calls = 0;
    const addr = await serve((req, res) => {
      if (++calls < 3) {
        res.writeHead(503, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ errors: ["Vault is sealed"] }));
      }
      ok(req, res);
    });
    const c = client(addr);
    expect((await c.request({ method: "GET", path: "x" })).status).toBe(200);
    expect(calls).toBe(3);
    c.close();
    const refused = client("http://127.0.0.1:1");
    await expect(refused.request({ method: "GET", path: "x" })).rejects.toMatchObject({ kind: "connection", transient: true });
    refused.close();
  });

  it("times out an attempt after VAULT_CLIENT_TIMEOUT and stops retrying at the deadline", async () => {
    let attempts = 0;
    const addr = await serve(() => void attempts++); // never answers
    const c = client(addr, { timeoutMs: 150, maxRetries: 10 });
    const err = (await c.request({ method: "GET", path: "x", deadline: Date.now() + 500 }).catch((e) => e)) as VaultError;
    expect(err.kind).toBe("timeout");
    // Each attempt lasts its 150 ms timeout, so at most 4 fit before the deadline (a slow machine
    // fits fewer): the deadline, not the 10 retries, ended it.
    expect(attempts).toBeGreaterThanOrEqual(1);
    expect(attempts).toBeLessThanOrEqual(4);
    expect(err.message).toBe("Vault did not answer GET x in time");
    c.close();
  });

  it("drain waits for requests in flight, then abandons what is left", async () => {
    // "fast" is answered once the drain has begun; "stuck" never is.
    let answerFast: () => void = () => undefined;
    let arrived = false;
    const addr = await serve((req, res) => {
      if (req.url?.endsWith("fast")) [arrived, answerFast] = [true, () => ok(req, res)];
    });
    const c = client(addr, { maxRetries: 0 });
    const fast = c.request({ method: "GET", path: "fast" });
    const stuck = c.request({ method: "GET", path: "stuck" }).catch((e) => e);
    // Both on the wire: in flight on the client, and "fast" arrived at the server.
    for (let i = 0; i < 500 && (c.inflightCount < 2 || !arrived); i++) await new Promise((r) => setTimeout(r, 10));
    expect(c.inflightCount).toBe(2);
    const draining = c.drain(1_000);
    answerFast();
    const abandoned = await draining;
    expect((await fast).status).toBe(200);
    expect(abandoned).toBe(1);
    expect(((await stuck) as VaultError).kind).toBe("aborted");
    expect(c.inflightCount).toBe(0);
    c.close();
  });
});

describe("stopping", () => {
  it("once stopping, only revocations go out; settle waits for what is on the wire (and what its caller does with the answer), without abandoning it", async () => {
    let answerLogin: () => void = () => undefined;
    const seen: string[] = [];
    const addr = await serve((req, res) => {
      seen.push(req.url!);
      if (req.url?.endsWith("login")) answerLogin = () => ok(req, res);
      else ok(req, res);
    });
    const c = client(addr, { maxRetries: 0 });
    let held = false;
    const login = c.request({ method: "POST", path: "auth/aws/login" }).then((r) => {
      held = true;
      return r;
    });
    for (let i = 0; i < 500 && seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    c.stopObtaining();
    await expect(c.request({ method: "GET", path: "secret/data/x" })).rejects.toMatchObject({ kind: "aborted" });
    // Nothing answers the login within 30 ms: still on the wire, not abandoned.
    expect(await c.settle(30)).toBe(1);
    const settling = c.settle(2_000);
    answerLogin();
    expect(await settling).toBe(0);
    // The caller's continuation ran before settle returned.
    expect(held).toBe(true);
    expect((await login).status).toBe(200);
    expect((await c.request({ method: "POST", path: "auth/token/revoke-self" })).status).toBe(200);
    expect((await c.request({ method: "PUT", path: "sys/leases/revoke", body: { lease_id: "x" } })).status).toBe(200);
    expect(seen).toEqual(["/v1/auth/aws/login", "/v1/auth/token/revoke-self", "/v1/sys/leases/revoke"]);
    c.close();
  });
});

describe("outcomes and metrics", () => {
  it("a request Vault answered (a 4xx too) is a success; a sealed Vault after the retries, or none at all, is a failure; each request is told once", async () => {
    let sealed = true;
    const addr = await serve((req, res) => {
      if (req.url === "/v1/missing") return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ errors: [] }));
      if (sealed) return void res.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify({ errors: ["Vault is sealed"] }));
      ok(req, res);
    });
    const c = client(addr, { maxRetries: 1 });
    const told: boolean[] = [];
    c.onRequest = (ms, failed) => {
      expect(ms).toBeGreaterThanOrEqual(0);
      told.push(failed);
    };
    expect((await c.send({ method: "GET", path: "secret/x?version=2" })).status).toBe(503);
    expect(c.outcomes).toMatchObject({ consecutiveFailures: 1, lastSuccessAt: undefined, lastError: { message: "Vault answered 503 to GET secret/x: Vault is sealed" } });
    sealed = false;
    expect((await c.send({ method: "GET", path: "missing" })).status).toBe(404);
    expect(c.outcomes.consecutiveFailures).toBe(0);
    expect(c.outcomes.lastSuccessAt).toBeGreaterThan(0);
    c.close();
    const gone = client("http://127.0.0.1:1", { maxRetries: 0 });
    gone.onRequest = (_ms, failed) => told.push(failed);
    await expect(gone.send({ method: "GET", path: "x" })).rejects.toThrow();
    expect(gone.outcomes.lastError?.message).toMatch(/could not reach Vault for GET x/);
    expect(told).toEqual([true, false, true]);
  });
});
