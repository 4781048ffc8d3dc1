// Error bodies of the localhost API go through the redactor bound to their response; with none
// bound, the message is withheld rather than sent as it is. Over a real socket on 127.0.0.1.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { VaultError } from "../../src/errors.ts";
import { Redactor } from "../../src/log.ts";
import { redactErrors, relayedBody, sendError, sendVaultFailure } from "../../src/server/responses.ts";

const TOKEN = "hvs.CAESextension-own-token-0123456789";
const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** One answer from a server whose handler is `answer`; the redactor knows TOKEN when `bind`. */
async function answerOf(bind: boolean, answer: (res: http.ServerResponse) => void): Promise<{ status: number; text: string }> {
  const redactor = new Redactor();
  redactor.add(TOKEN);
  const server = http.createServer((_req, res) => {
    if (bind) redactErrors(res, redactor);
    answer(res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const res = await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
  return { status: res.status, text: await res.text() };
}

const echoing = new VaultError("status", "GET", "secret/data/x", 400, [`token "${TOKEN}" may not read secret/data/x`]);

describe("error bodies", () => {
  it("a 502 with Vault's reason is scrubbed, the reason kept", async () => {
    const { status, text } = await answerOf(true, (res) => sendVaultFailure(res, "secret X", echoing));
    expect(status).toBe(502);
    expect(text).not.toContain(TOKEN);
    expect(JSON.parse(text)).toEqual({ errors: ['Vault error reading secret X: token "[redacted]" may not read secret/data/x'] });
  });

  it("without a redactor bound, the message is withheld, never sent as it is", async () => {
    const { status, text } = await answerOf(false, (res) => sendError(res, 502, `leaks ${TOKEN}`));
    expect(status).toBe(502);
    expect(text).not.toContain(TOKEN);
    expect(text).toContain("details withheld");
  });

  it("Vault's error relayed by the proxy is scrubbed; a success body, the caller's payload, is not touched", async () => {
    const relay = (status: number, body: Buffer) => (res: http.ServerResponse) => {
      const sent = relayedBody(res, status, body);
      res.writeHead(status, { "content-length": String(sent.length) });
      res.end(sent);
    };
    const error = await answerOf(true, relay(400, Buffer.from(JSON.stringify({ errors: [`bad token ${TOKEN}`] }))));
    expect(error.text).toBe(JSON.stringify({ errors: ["bad token [redacted]"] }));
    const payload = JSON.stringify({ data: { id: TOKEN } });
    expect((await answerOf(true, relay(200, Buffer.from(payload)))).text).toBe(payload);
  });
});
