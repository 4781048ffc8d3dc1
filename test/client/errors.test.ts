/**
 * The handler client's failures are told apart by `code` (and `status` is the HTTP status, 0
 * without one); `cache` is one of HIT, MISS, STALE. Against small local servers, no extension.
 */
import http from "node:http";
import type net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { getSecret, VaultAgentError } from "../../src/client/index.ts";
import { freePort } from "../integration/harness.ts";

const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((resolve) => s.close(resolve));
});

async function serve(handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

async function failure(port: number, timeoutMs?: number): Promise<VaultAgentError> {
  const err = await getSecret("db", { port, token: "t", timeoutMs }).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(VaultAgentError);
  return err as VaultAgentError;
}

describe("VaultAgentError", () => {
  it("http: the extension's status and its words", async () => {
    const port = await serve((_, res) => res.writeHead(502, { "content-type": "application/json" }).end(JSON.stringify({ errors: ["Vault is sealed"] })));
    const err = await failure(port);
    expect([err.code, err.status]).toEqual(["http", 502]);
    expect(err.message).toContain("Vault is sealed");
  });

  it("unreachable: nothing listens", async () => {
    const err = await failure(await freePort());
    expect([err.code, err.status]).toEqual(["unreachable", 0]);
    expect((err.cause as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });

  it("timeout: no answer in time", async () => {
    const port = await serve(() => undefined);
    const err = await failure(port, 50);
    expect([err.code, err.status]).toEqual(["timeout", 0]);
  });

  it("connection: reset twice", async () => {
    const port = await serve((req) => req.socket.destroy());
    const err = await failure(port);
    expect([err.code, err.status]).toEqual(["connection", 0]);
  });
});

describe("cache", () => {
  it.each([
    ["HIT", "HIT"],
    ["STALE", "STALE"],
    ["MISS", "MISS"],
    [undefined, "MISS"],
  ])("X-Cache %s reads as %s", async (header, expected) => {
    const port = await serve((_, res) => {
      res.writeHead(200, { "content-type": "application/json", ...(header ? { "x-cache": header } : {}) });
      res.end(JSON.stringify({ name: "db", path: "p", data: {}, lease_id: "", lease_duration: 0, renewable: false, expires_at: null }));
    });
    expect((await getSecret("db", { port, token: "t" })).cache).toBe(expected);
  });
});
