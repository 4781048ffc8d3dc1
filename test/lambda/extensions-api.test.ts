/**
 * The Extensions API client against a server that closes a kept-alive socket the moment the next
 * request arrives on it (the race between an idle timeout and a reused connection): the request
 * never reached the API, so it is sent once more on a fresh socket. A failure on a fresh socket is
 * not repeated.
 */
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ExtensionsApi } from "../../src/lambda/extensions-api.ts";
import { Redactor } from "../../src/log.ts";

interface Recorded {
  path: string;
  body: string;
}

async function startApi(opts: { dropReusedOnce?: boolean; dropEverything?: boolean }) {
  const seen: Recorded[] = [];
  const served = new WeakSet<Socket>();
  let dropped = 0;
  const server = http.createServer((req, res) => {
    const socket = req.socket;
    if (opts.dropEverything || (opts.dropReusedOnce && served.has(socket) && dropped === 0)) {
      dropped++;
      socket.destroy();
      return;
    }
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      served.add(socket);
      seen.push({ path: req.url ?? "", body });
      if (req.url?.endsWith("/register")) res.writeHead(200, { "lambda-extension-identifier": "ext-1", "content-type": "application/json" }).end("{}");
      else res.writeHead(202).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { runtimeApi: `127.0.0.1:${port}`, seen, dropped: () => dropped, close: () => new Promise<void>((r) => server.close(() => r())) };
}

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0)) await close();
});

describe("ExtensionsApi on a kept-alive connection the API closed", () => {
  it("sends an init/error once more on a fresh socket, scrubbed, and it arrives once", async () => {
    const api = await startApi({ dropReusedOnce: true });
    closers.push(api.close);
    const redactor = new Redactor();
    redactor.add("hvs.SecretTokenValue123456");
    const client = new ExtensionsApi(api.runtimeApi, "vault-lambda-agent", redactor);
    await client.register(["INVOKE", "SHUTDOWN"]);
    await client.initError("Extension.AuthFailed", "Vault said: bad token hvs.SecretTokenValue123456");
    expect(api.dropped()).toBe(1);
    const reports = api.seen.filter((r) => r.path.endsWith("/init/error"));
    expect(reports).toHaveLength(1);
    expect(reports[0]!.body).not.toContain("hvs.SecretTokenValue123456");
    expect(JSON.parse(reports[0]!.body).errorType).toBe("Extension.AuthFailed");
  });

  it("does not repeat a request that failed on a fresh socket", async () => {
    const api = await startApi({ dropEverything: true });
    closers.push(api.close);
    const client = new ExtensionsApi(api.runtimeApi, "vault-lambda-agent", new Redactor());
    await expect(client.register(["INVOKE", "SHUTDOWN"])).rejects.toThrow();
    expect(api.dropped()).toBe(1);
  });
});
