/**
 * No secret in any log line, `init/error` body or HTTP error body (docs/architecture.md, "Logging"),
 * even when Vault echoes what it was sent. Vault does: a login that STS refuses comes back with
 * STS's canonical request (the session token, the signed headers) in Vault's error, and many
 * errors quote the request. An echoing gateway in front of the Vault test server answers chosen
 * paths with such errors, built from what the extension really sent; everything else it forwards.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, results, useWorld } from "./harness.ts";
import type { LambdaEmulator } from "../peers/lambda/emulator.ts";

const AGENT = "vault-lambda-agent";
/** A KV value with a quote, a backslash and newlines (a PEM key, many passwords): JSON escapes it. */
const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\"quoted"\n-----END PRIVATE KEY-----';
/** A secret value shorter than 6 characters. */
const PIN = "x9Qz";

let world: World;
let gateway: EchoGateway;

useWorld((w) => (world = w), { kv: { "app/config": { api_key: "kv-api-key-7f3a9c" }, "app/pem": { key: PEM, pin: PIN } } });

beforeAll(async () => {
  gateway = await EchoGateway.start(world.vault.url);
});
afterAll(async () => {
  await gateway?.close();
});

/** What the extension sent that must never come back out of it. */
interface Sent {
  vaultTokens: Set<string>;
  signatures: Set<string>;
  headerBlobs: Set<string>;
}

/** Forwards to Vault, but answers some paths with an error that echoes the request. */
class EchoGateway {
  readonly sent: Sent = { vaultTokens: new Set(), signatures: new Set(), headerBlobs: new Set() };
  /** `secret/data/echo/value` waits for this before it answers. */
  echoValueAfter: Promise<unknown> = Promise.resolve();
  /** Once set, `database/creds/short` answers an error that echoes the token. */
  failLater = false;

  private constructor(
    private readonly server: http.Server,
    private readonly vaultUrl: string,
  ) {}

  static async start(vaultUrl: string): Promise<EchoGateway> {
    const server = http.createServer();
    const gateway = new EchoGateway(server, vaultUrl);
    server.on("request", (req, res) => void gateway.handle(req, res).catch(() => res.destroy()));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return gateway;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString("utf8");
    const token = req.headers["x-vault-token"];
    if (typeof token === "string") this.sent.vaultTokens.add(token);
    const path = new URL(req.url ?? "/", "http://x").pathname;

    if (path === "/v1/auth/echo/login") return this.echoLogin(body, res);
    if (path === "/v1/secret/data/echo/token" || (path === "/v1/database/creds/short" && this.failLater)) {
      // Vault's multi-error text, with the token it was sent.
      return send(res, 400, [`1 error occurred:\n\t* token "${token}" may not read ${path.slice(4)}\n\n`]);
    }
    if (path === "/v1/secret/data/echo/value") {
      // Answered once the extension has the value it echoes (a value it never had, it cannot know).
      await this.echoValueAfter;
      return send(res, 400, [`invalid data: {"key":${JSON.stringify(PEM)},"pin":"${PIN}"}`]);
    }
    const upstream = await fetch(`${this.vaultUrl}${req.url}`, {
      method: req.method,
      headers: Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== "host" && k !== "content-length" && k !== "connection")) as Record<string, string>,
      body: body === "" ? undefined : body,
    });
    const text = await upstream.text();
    res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" });
    res.end(text);
  }

  /** STS's SignatureDoesNotMatch as Vault relays it: the canonical request, and Vault's note of what it got. */
  private echoLogin(body: string, res: http.ServerResponse): void {
    const login = JSON.parse(body) as { iam_request_headers: string };
    this.sent.headerBlobs.add(login.iam_request_headers);
    const headers = JSON.parse(Buffer.from(login.iam_request_headers, "base64").toString("utf8")) as Record<string, string[]>;
    const authorization = headers.authorization?.[0] ?? "";
    const signature = /Signature=([0-9a-f]+)/.exec(authorization)?.[1];
    if (signature) this.sent.signatures.add(signature);
    const canonical = Object.entries(headers)
      .filter(([k]) => k !== "authorization")
      .map(([k, v]) => `${k}:${v[0]}`)
      .join("\n");
    send(res, 400, [
      `error making upstream request: received error code 403 from STS: <ErrorResponse><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'POST\n/\n\n${canonical}\n'\n\nAuthorization: ${authorization}</Message></Error></ErrorResponse>`,
      `request was ${body}`,
    ]);
  }
}

function send(res: http.ServerResponse, status: number, errors: string[]): void {
  const text = JSON.stringify({ errors });
  res.writeHead(status, { "content-type": "application/json", "content-length": String(Buffer.byteLength(text)) });
  res.end(text);
}

/** The forms a value can take in a text: as is, JSON-escaped (once and twice), base64, URL-encoded. */
function forms(value: string): string[] {
  const once = JSON.stringify(value).slice(1, -1);
  return [...new Set([value, once, JSON.stringify(once).slice(1, -1), Buffer.from(value).toString("base64"), encodeURIComponent(value)])];
}

/** Every text the extension gave out: its log lines, the init/error bodies Lambda got, and `more`. */
function outputOf(fn: LambdaEmulator, more: string[] = []): string[] {
  const reported = fn.timeline.filter((e) => e.source === AGENT && (e.what === "init/error" || e.what === "exit/error")).map((e) => e.detail ?? "");
  return [...fn.logs(AGENT), ...reported, ...more];
}

function expectNoneIn(texts: string[], secrets: Iterable<string>): void {
  const leaks: string[] = [];
  for (const secret of secrets) {
    for (const form of forms(secret)) for (const t of texts) if (t.includes(form)) leaks.push(`${JSON.stringify(form.slice(0, 24))}... in ${t.slice(0, 200)}`);
  }
  expect(leaks).toEqual([]);
}

/** Inside a JSON string value or as one: the short secret quoted, in either escaping. */
function expectShortNoneIn(texts: string[], value: string): void {
  for (const t of texts) {
    expect(t).not.toContain(`"${value}"`);
    expect(t).not.toContain(`\\"${value}\\"`);
  }
}

async function failedInit(env: Record<string, string>, before?: (fn: LambdaEmulator) => void): Promise<{ fn: LambdaEmulator; message: string; type: string }> {
  const fn = await world.lambda({ VAULT_ADDR: gateway.url, ...env });
  before?.(fn);
  const init = await fn.start();
  expect(init.ok).toBe(false);
  await fn.kill();
  return { fn, message: init.error?.message ?? "", type: init.error?.type ?? "" };
}

describe.concurrent("what Vault echoes never leaves the extension", () => {
  it("a login error with STS's canonical request: no session token, signature or signed headers in init/error or the log", async () => {
    const { fn, message, type } = await failedInit({ VAULT_AUTH_PROVIDER: "echo" });
    expect(type).toBe("Extension.AuthFailed");
    // The reason is still there, in plain words.
    expect(message).toContain("SignatureDoesNotMatch");
    expect(gateway.sent.signatures.size).toBeGreaterThan(0);
    const texts = outputOf(fn);
    expect(texts.join("\n")).not.toContain("Signature=");
    expectNoneIn(texts, [world.sessionToken, world.identity.secretAccessKey, ...gateway.sent.signatures, ...gateway.sent.headerBlobs]);
  });

  it("a read error with the Vault token: not in init/error or the log", async () => {
    const { fn, message, type } = await failedInit({ VAULT_SECRET_PATH_APP: "secret/data/app/config", VAULT_SECRET_PATH_ECHO: "secret/data/echo/token" });
    expect(type).toBe("Extension.SecretReadFailed");
    expect(message).toContain("VAULT_SECRET_PATH_ECHO");
    expect(message).toContain("may not read");
    const texts = outputOf(fn);
    expect(gateway.sent.vaultTokens.size).toBeGreaterThan(0);
    expectNoneIn(texts, [...gateway.sent.vaultTokens].filter((t) => t !== world.vault.rootToken));
    expectNoneIn(texts, [world.sessionToken]);
  });

  it("a secret value with quotes, backslashes and newlines, and one under 6 characters: matched in every form", async () => {
    const { fn, message } = await failedInit({ VAULT_SECRET_PATH_PEM: "secret/data/app/pem", VAULT_SECRET_PATH_ECHO: "secret/data/echo/value" }, (fn) => {
      // The extension logs "read secret" once the value is stored (and registered): the echo comes after.
      gateway.echoValueAfter = new Promise<void>((resolve) => {
        const onLine = (source: string, line: string) => {
          if (source !== AGENT || !line.includes('"message":"read secret"') || !line.includes('"secret":"PEM"')) return;
          fn.off("log", onLine);
          resolve();
        };
        fn.on("log", onLine);
      });
    });
    expect(message).toContain("VAULT_SECRET_PATH_ECHO");
    const texts = outputOf(fn);
    expectNoneIn(texts, [PEM]);
    expectShortNoneIn(texts, PIN);
  });
});

describe("the localhost API", () => {
  it("a 502 carrying Vault's message holds no token; logged paths drop their query", async () => {
    // A database user that lives 3 s: once it is gone, the re-read is refused with an echo of the token.
    await fetch(`${world.vault.url}/v1/database/roles/short`, {
      method: "POST",
      headers: { "x-vault-token": world.vault.rootToken },
      body: JSON.stringify({ default_ttl: 3, max_ttl: 3 }),
    });
    const fn = await world.lambda({ VAULT_ADDR: gateway.url, VAULT_SECRET_PATH_LATER: "database/creds/short", VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const inQuery = "hvs.QueryValueNobodyRegistered0123456789";
    const first = results(
      await fn.invoke({
        requests: [
          { path: `/v1/auth/token/lookup?token=${inQuery}` },
          { path: `/v1/secret/data/app/config?version=1&token=${inQuery}`, headers: { "x-vault-cache-control": "cache" } },
          { path: `/v1/nothing/here?token=${inQuery}` },
          // A leased answer kept by the proxy cache: its lease is renewed and revoked by path.
          { path: `/v1/database/creds/app?token=${inQuery}`, headers: { "x-vault-cache-control": "cache" } },
          // Vault's error passed through the proxy, echoing the extension's own token.
          { path: "/v1/secret/data/echo/token" },
        ],
      }),
    );
    expect(first.map((a) => a.status)).toEqual([expect.any(Number), 200, 404, 200, 400]);
    expect(first[4]!.text).toContain("may not read");
    gateway.failLater = true;
    await fn.idle(3_500);
    const [later] = results(await fn.invoke({ requests: [{ path: "/secrets/later" }] }));
    expect(later!.status).toBe(502);
    expect(later!.text).toContain("may not read");
    await fn.shutdown();
    const texts = outputOf(fn, first.concat(later!).map((a) => a.text ?? ""));
    expect(texts.filter((t) => t.includes(inQuery))).toEqual([]);
    expectNoneIn(outputOf(fn, [later!.text ?? "", first[4]!.text ?? ""]), [...gateway.sent.vaultTokens].filter((t) => t !== world.vault.rootToken));
  });
});
