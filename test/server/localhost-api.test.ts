/**
 * The localhost API's bounds and status codes, with the real Agent in this process against the
 * Vault and STS test servers: every oversized, malformed or slow request gets a 4xx (or a closed
 * connection), never a crash and never a 5xx of the extension's own.
 */
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config.ts";
import { createLogger, Redactor } from "../../src/log.ts";
import { World, freePort } from "../integration/harness.ts";
import { VaultGate, until } from "../integration/vault-gate.ts";

let world: World;
let gate: VaultGate;
let agent: Agent;
let port: number;
const lines: string[] = [];

function env(extra: Record<string, string> = {}): Record<string, string> {
  return {
    VAULT_ADDR: gate.url,
    // Requests held at the gate must not time out while a test counts them.
    VAULT_CLIENT_TIMEOUT: "60s",
    VAULT_AUTH_ROLE: "fn-role",
    VAULT_AGENT_PORT: String(port),
    VAULT_SECRET_PATH_DB: "database/creds/app",
    AWS_ACCESS_KEY_ID: world.identity.accessKeyId,
    AWS_SECRET_ACCESS_KEY: world.identity.secretAccessKey,
    AWS_SESSION_TOKEN: world.sessionToken,
    AWS_LAMBDA_FUNCTION_NAME: "orders-api",
    ...extra,
  };
}

beforeAll(async () => {
  world = await World.start();
  gate = await VaultGate.start(world.vault.url);
  port = await freePort();
  const redactor = new Redactor();
  const config = parseConfig(env());
  agent = new Agent(config, createLogger({ level: "debug", redactor, write: (l) => void lines.push(l) }), redactor);
  // Hold the login so that a request arrives while the listener is up but nothing is ready: with
  // early registration the function's init may ask then, and its request waits for the answer.
  gate.hold("auth/aws/login");
  const deadline = Date.now() + 30_000;
  await agent.listen(deadline);
  const init = agent.init(deadline);
  await until(() => gate.holding("auth/aws/login") === 1, "the login to reach Vault");
  let earlyAnswered = false;
  const early = call("/secrets/db").finally(() => (earlyAnswered = true));
  // /health answers at once, with the state; the early request is still waiting behind the login.
  const health = await call("/health", { token: false });
  expect(health.status).toBe(200);
  expect(JSON.parse(health.body)).toMatchObject({ status: "failing", reasons: [expect.stringMatching(/^starting: /)] });
  expect(earlyAnswered).toBe(false);
  gate.release("auth/aws/login");
  await init;
  const answer = await early;
  expect(answer.status).toBe(200);
  expect(JSON.parse(answer.body).data.username).toMatch(/^v-/);
});

afterAll(async () => {
  await agent.shutdown(Date.now() + 2_000, "spindown");
  for (const line of lines) for (const s of world.vault.issuedSecrets()) expect(line).not.toContain(s);
  await gate.close();
  await world.close();
});

async function call(path: string, init: RequestInit & { token?: boolean } = {}): Promise<{ status: number; body: string }> {
  const headers = new Headers(init.headers);
  if (init.token !== false) headers.set("x-vault-token", world.sessionToken);
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers });
  return { status: res.status, body: await res.text() };
}

/** Sends raw bytes and returns the status line (or "closed"). */
function raw(bytes: string, timeoutMs = 8_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    let data = "";
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(data ? data.split("\r\n")[0]! : "timeout");
    }, timeoutMs);
    socket.on("data", (c) => (data += c.toString()));
    socket.on("close", () => {
      clearTimeout(timer);
      resolve(data ? data.split("\r\n")[0]! : "closed");
    });
    socket.on("error", () => undefined);
    socket.write(bytes);
  });
}

describe("status codes", () => {
  it("405 for a method a route does not take, 404 for an unknown route, 400 for a GET with a body", async () => {
    expect((await call("/secrets/db", { method: "POST", body: "x" })).status).toBe(405);
    expect((await call("/health", { method: "DELETE" })).status).toBe(405);
    expect((await call("/nope")).status).toBe(404);
    const withBody = await raw(`GET /secrets/db HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${world.sessionToken}\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc`);
    expect(withBody).toBe("HTTP/1.1 400 Bad Request");
  });

  it("400 for unknown query parameters and bad secret names; 414 for an 8 KiB+ URL", async () => {
    expect((await call("/secrets/db?fields=x")).status).toBe(400);
    expect((await call("/secrets/db%2F..")).status).toBe(400);
    expect((await call(`/secrets/db?field=${"a".repeat(9_000)}`)).status).toBe(414);
  });

  it("431 for more than 16 KiB of headers, and the server keeps serving", async () => {
    const status = await raw(`GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(20_000)}\r\n\r\n`);
    expect(status).toBe("HTTP/1.1 431 Request Header Fields Too Large");
    expect((await call("/health", { token: false })).status).toBe(200);
  });

  it("413 for a proxied body over 64 KiB", async () => {
    const r = await call("/v1/secret/data/big", { method: "POST", body: JSON.stringify({ data: { v: "a".repeat(70_000) } }) });
    expect(r.status).toBe(413);
    expect(JSON.parse(r.body).errors[0]).toMatch(/65536 bytes/);
  });

  it("closes a connection whose headers do not complete within 5 s", async () => {
    // The server closes it after 5 s (plus its 1 s check interval); the client gives up only at
    // 15 s, so a loaded machine has room, and "timeout" would mean the server never closed it.
    const status = await raw("GET /health HTTP/1.1\r\nHost: x\r\n", 15_000);
    expect(["HTTP/1.1 408 Request Timeout", "closed"]).toContain(status);
  }, 20_000);

  it("429 when more than 128 requests are in flight; every other request is served", async () => {
    // Vault answers nothing until released, so exactly 128 of 160 requests are in flight and the
    // other 32 are refused at once, however slowly the machine sends them.
    const path = "secret/data/app/config";
    gate.hold(path);
    const answered: number[] = [];
    const all = Promise.all(
      Array.from({ length: 160 }, () => call(`/v1/${path}`, { headers: { "x-vault-cache-control": "nocache" } }).then((r) => void answered.push(r.status))),
    );
    await until(() => answered.length === 32, "32 answers");
    expect(answered.every((s) => s === 429)).toBe(true);
    // The extension's pool to Vault has 32 sockets: the other 96 accepted requests wait in it.
    await until(() => gate.holding(path) === 32, "32 requests held at Vault");
    gate.release(path);
    await all;
    expect(answered.filter((s) => s === 429)).toHaveLength(32);
    expect(answered.filter((s) => s === 200)).toHaveLength(128);
  });

  it("slow bodies hold no slot: 130 unfinished POSTs leave every route answering, and each gets 408 and a closed connection (defect 10)", async () => {
    // Each socket sends the headers of a proxied POST and 4 of its 100 bytes, then nothing. A
    // /health before it, in the same write: once that is answered, the server has parsed the POST's
    // headers too (one chunk, one parse), so the probes below come after all 130 are waiting.
    const head = `GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /v1/secret/data/slow HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${world.sessionToken}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"da`;
    const parsed: Array<Promise<void>> = [];
    const answers = Array.from({ length: 130 }, () => {
      const socket = net.connect(port, "127.0.0.1");
      socket.write(head);
      let healthAnswered: () => void = () => undefined;
      parsed.push(new Promise((resolve) => (healthAnswered = resolve)));
      return new Promise<string>((resolve) => {
        let data = "";
        const timer = setTimeout(() => {
          socket.destroy();
          resolve("still open after 15 s");
        }, 15_000);
        socket.on("data", (c) => {
          data += c.toString();
          if (data.includes("\r\n\r\n")) healthAnswered();
        });
        socket.on("error", () => undefined);
        socket.on("close", () => {
          clearTimeout(timer);
          // The POST's status line: the last one on the connection.
          resolve(data.match(/HTTP\/1\.1 \d{3}[^\r]*/g)?.at(-1) ?? "closed");
        });
      });
    });
    await Promise.all(parsed);
    for (let i = 0; i < 3; i++) {
      expect((await call("/secrets/db")).status).toBe(200);
      expect((await call("/v1/secret/data/app/config", { headers: { "x-vault-cache-control": "nocache" } })).status).toBe(200);
    }
    expect(new Set(await Promise.all(answers))).toEqual(new Set(["HTTP/1.1 408 Request Timeout"]));
  }, 30_000);

  it("a slow body on any route is 408 after 5 s (defect 10)", async () => {
    const slow = (target: string) => raw(`GET ${target} HTTP/1.1\r\nHost: x\r\nX-Vault-Token: ${world.sessionToken}\r\nContent-Length: 10\r\n\r\nab`, 15_000);
    expect(await Promise.all([slow("/secrets/db"), slow("/health"), slow("/nope")])).toEqual(Array(3).fill("HTTP/1.1 408 Request Timeout"));
  }, 20_000);

  it("a proxied policy denial is passed through without a new login", async () => {
    const logins = world.vault.logins.length;
    // Forbidden to a non-root token: Vault's 403 reaches the caller as is.
    const r = await call("/v1/sys/mounts/forbidden", { method: "POST", body: JSON.stringify({ type: "kv" }) });
    expect(r.status).toBe(403);
    expect(world.vault.logins.length).toBe(logins);
  });

  it("survives 300 malformed requests (seeded): a 4xx or a closed connection each, never a 5xx, and keeps serving", async () => {
    let seed = 0x5eed;
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
    const pick = <T>(xs: readonly T[]): T => xs[rand(xs.length)]!;
    const methods = ["GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "BREW", "G ET", ""];
    const pieces = ["secrets", "db", "v1", "aws", "credentials", "..", ".", "%2e%2e", "%", "%zz", "%00", "%2f", "\\", "a".repeat(50), "é", "\u0000", "?", "&", "=", "#"];
    const headerJunk = ["X-Vault-Token: a", "X-Vault-Token: b", "Content-Length: 5", "Content-Length: -1", "Transfer-Encoding: chunked", "Forwarded: for=1", ": nope", "Bad Header: x", "X\u0000Y: z", "Authorization: Bearer"];
    const statuses: string[] = [];
    for (let i = 0; i < 300; i++) {
      const target = "/" + Array.from({ length: 1 + rand(4) }, () => pick(pieces)).join(pick(["/", "", "?", "/"]));
      const headers = Array.from({ length: rand(3) }, () => pick(headerJunk));
      if (rand(2)) headers.push(`X-Vault-Token: ${world.sessionToken}`);
      const req = `${pick(methods)} ${target} HTTP/1.1\r\nHost: x\r\n${headers.map((h) => h + "\r\n").join("")}Connection: close\r\n\r\n`;
      statuses.push(await raw(req, 2_000));
    }
    const codes = statuses.map((s) => (s.startsWith("HTTP/1.1 ") ? Number(s.slice(9, 12)) : s));
    const serverErrors = codes.filter((c) => typeof c === "number" && c >= 500);
    expect(serverErrors).toEqual([]);
    expect(codes.filter((c) => typeof c === "number" && c >= 400 && c < 500).length).toBeGreaterThan(150);
    expect((await call("/health", { token: false })).status).toBe(200);
    expect((await call("/secrets/db")).status).toBe(200);
  }, 30_000);
});
