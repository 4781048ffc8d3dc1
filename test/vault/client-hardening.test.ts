/**
 * The Vault HTTP client against hostile or broken answers (loopback servers): a request path never
 * climbs out of `/v1/` or VAULT_ADDR's path, redirects are never followed, an oversized answer is
 * abandoned without being buffered, and a write is sent again only when it surely never arrived.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AgentError, VaultError } from "../../src/errors.ts";
import { VaultClient } from "../../src/vault/client.ts";

const servers: http.Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function client(vaultAddr: string, opts: Partial<ConstructorParameters<typeof VaultClient>[0]> = {}): VaultClient {
  return new VaultClient({ vaultAddr, timeoutMs: 2_000, maxRetries: 2, tls: { skipVerify: false }, backoffBaseMs: 5, backoffMaxMs: 20, ...opts });
}

const json = (res: http.ServerResponse, status: number, body: unknown) => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));

describe("request paths (defect 1)", () => {
  it("builds the path by concatenation: a query with ../ stays a query, under VAULT_ADDR's path", async () => {
    const seen: string[] = [];
    const addr = await serve((req, res) => {
      seen.push(req.url ?? "");
      json(res, 200, {});
    });
    const c = client(`${addr}/vault`);
    await c.send({ method: "GET", path: "secret/data/x?../../sys/raw" });
    expect(seen).toEqual(["/vault/v1/secret/data/x?../../sys/raw"]);
    c.close();
  });

  it("encodes what a path may not carry raw (a declared path with a space or non-ASCII), and leaves escapes as they are", async () => {
    const seen: string[] = [];
    const addr = await serve((req, res) => {
      seen.push(req.url ?? "");
      json(res, 200, {});
    });
    const c = client(addr);
    await c.send({ method: "GET", path: "secret/data/my app/café" });
    await c.send({ method: "GET", path: "secret/data/my%20app/%252e%252e?x=1" });
    expect(seen).toEqual(["/v1/secret/data/my%20app/caf%C3%A9", "/v1/secret/data/my%20app/%252e%252e?x=1"]);
    c.close();
  });

  it.each(["../sys/raw", "a/../../x", "%2e%2e/x", "a/%2E%2e/b", "..\\x", "a%5c..", "./x", "a/%2f/b", "a/%zz"])("refuses to send %s, without a request", async (path) => {
    let calls = 0;
    const addr = await serve((_req, res) => {
      calls++;
      json(res, 200, {});
    });
    const c = client(`${addr}/vault`);
    const err = await c.send({ method: "GET", path }).catch((e) => e);
    expect(err).toBeInstanceOf(AgentError);
    expect(calls).toBe(0);
    c.close();
  });
});

describe("redirects (defect 9)", () => {
  it("never follows a 3xx and names where it pointed, without the query", async () => {
    let elsewhere = 0;
    const other = await serve((_req, res) => {
      elsewhere++;
      json(res, 200, { data: { stolen: true } });
    });
    let calls = 0;
    const addr = await serve((_req, res) => {
      calls++;
      res.writeHead(307, { location: `${other}/v1/steal?token=abc` }).end();
    });
    const c = client(addr);
    for (const send of [() => c.send({ method: "GET", path: "secret/data/x", token: "hvs.mine" }), () => c.request({ method: "POST", path: "auth/aws/login", body: {} })]) {
      const err = (await send().catch((e) => e)) as VaultError;
      expect(err).toBeInstanceOf(VaultError);
      expect(err.status).toBe(307);
      expect(err.reason).toContain(`Vault redirected to ${other}/v1/steal;`);
      expect(err.message).not.toContain("token=abc");
    }
    // Not retried either: each request reached Vault once, and nothing reached the other origin.
    expect(calls).toBe(2);
    expect(elsewhere).toBe(0);
    c.close();
  });
});

describe("answer size (defect 7)", () => {
  /** A peer that streams `total` bytes of JSON-ish filler, and tells how much it wrote before the client hung up. */
  async function huge(total: number, declareLength: boolean): Promise<{ addr: string; written: () => number; closed: Promise<void> }> {
    let written = 0;
    let onClosed: () => void = () => undefined;
    const closed = new Promise<void>((r) => (onClosed = r));
    const addr = await serve((_req, res) => {
      res.writeHead(200, { "content-type": "application/json", ...(declareLength ? { "content-length": String(total) } : {}) });
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const pump = () => {
        while (written < total && !res.destroyed) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        if (!res.destroyed) res.end();
      };
      res.on("close", onClosed);
      pump();
    });
    return { addr, written: () => written, closed };
  }

  it.each([true, false])("abandons a 256 MiB answer at the limit (Content-Length declared: %s), without retrying", async (declared) => {
    const peer = await huge(256 * 1024 * 1024, declared);
    const c = client(peer.addr);
    const err = (await c.request({ method: "GET", path: "secret/data/big" }).catch((e) => e)) as VaultError;
    expect(err).toBeInstanceOf(VaultError);
    expect(err.reason).toMatch(/^Vault's answer is larger than 4 MiB \(the limit for the extension's own reads from Vault\); it was not read$/);
    await peer.closed;
    // The client hung up long before the end: what the peer managed to write is socket buffers,
    // not the 256 MiB (with a declared length, nothing needed to be read at all).
    expect(peer.written()).toBeLessThan(64 * 1024 * 1024);
    c.close();
  });

  it("a proxied read may be larger (its own limit), and an answer under the limit is whole", async () => {
    const peer = await huge(5 * 1024 * 1024, false);
    const c = client(peer.addr);
    const res = await c.send({ method: "GET", path: "secret/data/big", answerLimit: { bytes: 6 * 1024 * 1024, why: "Lambda's response limit" } });
    expect(res.body.length).toBe(5 * 1024 * 1024);
    c.close();
  });
});

describe("writes are not repeated (defect 8)", () => {
  /** A peer that answers POSTs with `answer` and counts them. */
  async function counting(answer: (res: http.ServerResponse, n: number) => void): Promise<{ addr: string; posts: () => number }> {
    let posts = 0;
    const addr = await serve((req, res) => {
      req.resume();
      req.on("end", () => answer(res, ++posts));
    });
    return { addr, posts: () => posts };
  }

  const resetMidAnswer = (res: http.ServerResponse) => {
    res.writeHead(200, { "content-type": "application/json", "content-length": "1000" });
    res.write('{"data":{');
    setImmediate(() => res.socket?.destroy());
  };

  it("a reset mid-answer: a proxied POST is sent once, a GET is retried", async () => {
    const peer = await counting(resetMidAnswer);
    const c = client(peer.addr);
    const err = (await c.send({ method: "POST", path: "transit/encrypt/k", rawBody: Buffer.from("{}"), repeatable: false }).catch((e) => e)) as VaultError;
    expect(err.kind).toBe("connection");
    expect(peer.posts()).toBe(1);
    // The extension's own requests keep their retries.
    await c.send({ method: "POST", path: "auth/token/renew-self" }).catch(() => undefined);
    expect(peer.posts()).toBe(4);
    c.close();
  });

  it("a timeout: a proxied POST is sent once", async () => {
    const peer = await counting(() => undefined);
    const c = client(peer.addr, { timeoutMs: 100 });
    const err = (await c.send({ method: "POST", path: "transit/encrypt/k", rawBody: Buffer.from("{}"), repeatable: false }).catch((e) => e)) as VaultError;
    expect(err.kind).toBe("timeout");
    expect(peer.posts()).toBe(1);
    c.close();
  });

  it("500, 502 and an unsealed 503 are answered as they are; 412, 429 and a sealed 503 are retried", async () => {
    for (const [status, errors, expected] of [
      [500, ["internal error"], 1],
      [502, [], 1],
      [503, ["service unavailable"], 1],
      [412, ["required index state not present"], 3],
      [429, ["rate limit quota exceeded"], 3],
      [503, ["Vault is sealed"], 3],
    ] as const) {
      const peer = await counting((res) => json(res, status, { errors }));
      const c = client(peer.addr);
      const res = await c.send({ method: "POST", path: "transit/encrypt/k", rawBody: Buffer.from("{}"), repeatable: false });
      expect(res.status).toBe(status);
      expect(peer.posts(), `${status} ${errors}`).toBe(expected);
      c.close();
    }
  });

  it("a refused connection is retried: the POST never left", async () => {
    const c = client("http://127.0.0.1:1");
    const attempts = vi.spyOn(c as unknown as { attempt: () => Promise<unknown> }, "attempt");
    const err = (await c.send({ method: "POST", path: "x", rawBody: Buffer.from("{}"), repeatable: false }).catch((e) => e)) as VaultError;
    expect(err.kind).toBe("connection");
    expect((err.cause as { code?: string }).code).toBe("ECONNREFUSED");
    expect(attempts).toHaveBeenCalledTimes(3);
    c.close();
  });
});

describe("outcomes", () => {
  it("a refused answer (redirect, too large) is still an answer: Vault is reachable", async () => {
    const addr = await serve((req, res) => {
      if (req.url?.endsWith("moved")) return void res.writeHead(301, { location: "/elsewhere" }).end();
      res.writeHead(200, { "content-type": "application/json", "content-length": String(50 * 1024 * 1024) }).end();
    });
    const c = client(addr);
    await expect(c.send({ method: "GET", path: "moved" })).rejects.toMatchObject({ status: 301 });
    await expect(c.send({ method: "GET", path: "big" })).rejects.toMatchObject({ status: 200 });
    expect(c.outcomes.consecutiveFailures).toBe(0);
    c.close();
  });
});
