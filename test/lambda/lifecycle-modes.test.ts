// The Lambda event loop per execution mode (docs/architecture.md, "The execution modes"), against a
// fake Extensions API on 127.0.0.1: the events registered, and what a failed event/next does.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { runLifecycle } from "../../src/lambda/lifecycle.ts";
import type { ExecutionMode } from "../../src/lambda/mode.ts";
import { Redactor, type Logger } from "../../src/log.ts";

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** An Extensions API whose event/next answers garbage `failures` times, then SHUTDOWN. */
async function fakeApi(failures: number) {
  const seen = { registered: [] as unknown[], nexts: 0 };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url?.endsWith("/register")) {
        seen.registered.push(JSON.parse(Buffer.concat(chunks).toString("utf8")).events);
        res.writeHead(200, { "lambda-extension-identifier": "ext-id", "content-type": "application/json" }).end("{}");
      } else if (req.url?.endsWith("/event/next")) {
        seen.nexts++;
        if (seen.nexts <= failures) res.writeHead(500).end("the platform is having a moment");
        else res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ eventType: "SHUTDOWN", shutdownReason: "spindown", deadlineMs: Date.now() + 2_000 }));
      } else {
        res.writeHead(404).end();
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { runtimeApi: `127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

function run(runtimeApi: string, mode: ExecutionMode) {
  const lines: Array<[string, string]> = [];
  const at = (level: string) => (message: string) => void lines.push([level, message]);
  const log: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), setRequestId: () => undefined, redactor: new Redactor() };
  const shutdowns: string[] = [];
  const code = runLifecycle(
    runtimeApi,
    {
      registration: "early",
      listen: async () => undefined,
      init: async () => undefined,
      abandon: async () => undefined,
      onInvoke: async () => undefined,
      onShutdown: async (_deadline, reason) => void shutdowns.push(reason),
    },
    log,
    undefined,
    mode,
  );
  return { code, lines, shutdowns };
}

describe("runLifecycle", () => {
  it("on demand: registers INVOKE and SHUTDOWN; a failed event/next ends the extension", async () => {
    const api = await fakeApi(1);
    const r = run(api.runtimeApi, "on-demand");
    expect(await r.code).toBe(1);
    expect(api.seen.registered).toEqual([["INVOKE", "SHUTDOWN"]]);
    expect(r.lines).toContainEqual(["error", "event/next failed; exiting"]);
    expect(r.shutdowns).toEqual([]);
  });

  it("Managed Instances: registers SHUTDOWN only; a failed event/next is logged and asked again, never an exit before SHUTDOWN", async () => {
    const api = await fakeApi(1);
    const r = run(api.runtimeApi, "lambda-managed-instances");
    expect(await r.code).toBe(0);
    expect(api.seen.registered).toEqual([["SHUTDOWN"]]);
    expect(api.seen.nexts).toBe(2);
    expect(r.lines).toContainEqual(["error", "event/next failed; still serving, asking again"]);
    expect(r.shutdowns).toEqual(["spindown"]);
  });
});
