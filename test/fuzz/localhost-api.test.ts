/**
 * Property-based fuzzing of the localhost API (fast-check), with a healthy Vault (the Vault and STS
 * test servers): thousands of generated requests — methods, targets with dots, percent-encoding,
 * backslashes, NUL and unicode, caller-token headers (missing, wrong, twice, disagreeing),
 * X-Forwarded-For/Forwarded, oversized headers and bodies — sent as raw bytes, one connection each.
 *
 * Every answer is a 2xx (for a request that may have one), a 4xx or a closed connection; never a
 * 3xx, never a 5xx of the extension's own (a 5xx is allowed only when Vault itself answered it to the
 * proxied request); never a secret in an error answer or in any answer to a request without the
 * caller token; never the extension's own Vault token anywhere; and the extension keeps serving.
 *
 * Volume runs in-process (the real Agent, its real server); a few hundred more go to the built layer
 * under the Lambda emulator. fast-check prints the seed and the shrunk counterexample on failure.
 */
import fc from "fast-check";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent } from "../../src/agent.ts";
import { parseConfig } from "../../src/config.ts";
import { createLogger, Redactor } from "../../src/log.ts";
import type { LambdaEmulator } from "../peers/lambda/emulator.ts";
import { World, freePort, requireLayerBuilt } from "../integration/harness.ts";

const IN_PROCESS_RUNS = 2_000;
const BUILT_RUNS = 700;
const KV_PATH = "secret/data/app/config";
const LEGIT_KV = "secret/data/fuzz-guarded/legit";

let world: World;

// ---- generators -------------------------------------------------------------------------------

const method = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom("GET", "GET", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH") },
  { weight: 1, arbitrary: fc.constantFrom("OPTIONS", "LIST", "TRACE", "get", "FOO", "PROPFIND", "M-SEARCH") },
);

/** Path segments: plain, dotted, percent-encoded (good and bad), backslashes, NUL, unicode. */
const segment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom("db", "DB", "kv", "nope", "app", "config", "data", "secret", "database", "creds", "sys", "health", "leases") },
  { weight: 3, arbitrary: fc.constantFrom("..", ".", "%2e%2e", "%2E%2e", ".%2e", "%2f", "%2F..", "..%5c", "\\..", "a\\b", "%00", "%", "%zz", "%c0%ae", "", "~", "%20", "é", "%C3%A9", "😀", "..;", ";x") },
  { weight: 1, arbitrary: fc.stringMatching(/^[A-Za-z0-9_.%~-]{0,12}$/) },
);
const query = fc.oneof(
  { weight: 4, arbitrary: fc.constant("") },
  { weight: 3, arbitrary: fc.constantFrom("?refresh=true", "?field=api_key", "?field=nope", "?fields=x", "?list=true", "?version=1", "?x=../../sys/health", "?%2e%2e/x", "?a=1&a=2", "?", "?field=", "?refresh=maybe") },
  { weight: 1, arbitrary: fc.stringMatching(/^\?[A-Za-z0-9_=&%.\/-]{0,20}$/) },
);
const target = fc
  .tuple(fc.constantFrom("/health", "/secrets/", "/aws/credentials/", "/v1/", "/v1/secret/data/", "/v1/database/", "/v1", "/", "", "//", "/secrets", "/v1//"), fc.array(segment, { maxLength: 4 }), query)
  .map(([prefix, segments, q]) => `${prefix}${segments.join("/")}${q}`);

type TokenMode = "none" | "valid" | "wrong" | "bearer" | "twice-same" | "disagree" | "aws-header" | "empty";
const tokenMode = fc.constantFrom<TokenMode>("none", "valid", "valid", "valid", "wrong", "bearer", "twice-same", "disagree", "aws-header", "empty");

const extraHeader: fc.Arbitrary<[string, string]> = fc.oneof(
  fc.constantFrom<readonly [string, string]>(
    ["X-Forwarded-For", "10.0.0.1"],
    ["Forwarded", "for=10.0.0.1"],
    ["X-Vault-Namespace", "team1"],
    ["X-Vault-Namespace", "../root"],
    ["X-Vault-Wrap-TTL", "60s"],
    ["X-Vault-Cache-Control", "cache"],
    ["X-Vault-Cache-Control", "recache,nocache"],
    ["Cache-Control", "no-cache"],
    ["Content-Type", "application/json"],
    ["X-Vault-Request", "true"],
    ["Accept-Encoding", "gzip"],
    ["Expect", "100-continue"],
  ).map(([k, v]): [string, string] => [k, v]),
  fc.tuple(fc.stringMatching(/^X-[A-Za-z0-9-]{1,16}$/), fc.stringMatching(/^[ -~]{0,40}$/)),
  fc.nat({ max: 4 }).map((n) => ["X-Big", "a".repeat(n * 6_000)] as [string, string]),
);

const body = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 2, arbitrary: fc.constantFrom('{"data":{"v":"fuzz"}}', "{}", "null", "[1,2]", "not json", '{"data":') },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b).toString("latin1")) },
  { weight: 1, arbitrary: fc.constantFrom(70_000, 10_000).map((n) => `{"data":{"v":"${"a".repeat(n)}"}}`) },
);

interface GeneratedRequest {
  method: string;
  target: string;
  token: TokenMode;
  headers: Array<[string, string]>;
  body: string | undefined;
}

const request: fc.Arbitrary<GeneratedRequest> = fc.record({ method, target, token: tokenMode, headers: fc.array(extraHeader, { maxLength: 3 }), body });

// ---- sending ----------------------------------------------------------------------------------

function tokenHeaders(mode: TokenMode, token: string): Array<[string, string]> {
  switch (mode) {
    case "none":
      return [];
    case "valid":
      return [["X-Vault-Token", token]];
    case "wrong":
      return [["X-Vault-Token", `${token.slice(0, -1)}x`]];
    case "bearer":
      return [["Authorization", `Bearer ${token}`]];
    case "twice-same":
      return [["X-Vault-Token", token], ["X-Vault-Token", token]];
    case "disagree":
      return [["X-Vault-Token", token], ["X-Aws-Parameters-Secrets-Token", "something-else-entirely"]];
    case "aws-header":
      return [["X-Aws-Parameters-Secrets-Token", token]];
    case "empty":
      return [["X-Vault-Token", ""]];
  }
}

interface Answer {
  /** The status code, or 0 when the connection closed without one. */
  status: number;
  text: string;
}

/** One request as raw bytes on its own connection (`Connection: close`); the answer until the close. */
function send(port: number, r: GeneratedRequest, callerToken: string): Promise<Answer> {
  const lines = [`${r.method} ${r.target === "" ? "/" : r.target} HTTP/1.1`, "Host: 127.0.0.1", "Connection: close"];
  for (const [k, v] of [...tokenHeaders(r.token, callerToken), ...r.headers]) lines.push(`${k}: ${v}`);
  const payload = r.body === undefined ? undefined : Buffer.from(r.body, "latin1");
  if (payload) lines.push(`Content-Length: ${payload.length}`);
  const head = Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "utf8");
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, "127.0.0.1");
    const done = (): void => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString("utf8");
      // The final answer: interim 1xx answers (100 Continue) come first.
      const statuses = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ status: statuses.find((st) => st >= 200) ?? 0, text });
    };
    const timer = setTimeout(() => socket.destroy(), 10_000);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("close", done);
    socket.on("error", () => undefined);
    socket.write(payload ? Buffer.concat([head, payload]) : head);
  });
}

/** What may never appear in an answer to this request. */
interface Secrets {
  /** Never in any answer: the extension's own Vault token and accessor, Vault's root token, the AWS secret key. */
  never: () => string[];
  /** Never in an error answer, nor in any answer to a caller without the token: everything the peers issued. */
  issued: () => string[];
}

/**
 * Checks one answer against the contract. `vaultStatuses` are the statuses Vault answered while the
 * request was in flight (a proxied 5xx is Vault's, not the extension's).
 */
function checkAnswer(r: GeneratedRequest, a: Answer, vaultStatuses: number[], secrets: Secrets): void {
  const what = `${r.method} ${r.target} [${r.token}] → ${a.text.slice(0, 200)}`;
  if (a.status === 0) return; // a closed connection is an allowed answer to a bad request
  expect(a.status < 300 || a.status >= 400, `a redirect: ${what}`).toBe(true);
  if (a.status >= 500) expect(vaultStatuses, `a 5xx of the extension's own: ${what}`).toContain(a.status);
  for (const s of secrets.never()) expect(a.text.includes(s), `the extension's own credential in: ${what}`).toBe(false);
  const authorised = r.token === "valid" || r.token === "bearer" || r.token === "aws-header" || r.token === "twice-same";
  if (a.status >= 400 || !authorised) {
    for (const s of secrets.issued()) expect(a.text.includes(s), `a secret in: ${what}`).toBe(false);
  }
  // Any forwarding header is refused before anything else is looked at.
  if (r.headers.some(([k]) => /^(x-forwarded-for|forwarded)$/i.test(k))) expect(a.status === 400 || a.status === 431 || a.status === 0, what).toBe(true);
}

/** A property over generated requests sent to `port`; Vault's statuses during each request are collected. */
function requestsProperty(port: () => number, callerToken: () => string, secrets: Secrets, filter: (r: GeneratedRequest) => boolean = () => true) {
  return fc.asyncProperty(request, async (r) => {
    fc.pre(filter(r));
    const before = world.vault.requestLog.length;
    const a = await send(port(), r, callerToken());
    const vaultStatuses = world.vault.requestLog.slice(before).flatMap((x) => (x.status === undefined ? [] : [x.status]));
    checkAnswer(r, a, vaultStatuses, secrets);
  });
}

/** A few ms per request alone; a machine busy with other work may take several times that. */
const FUZZ_TIMEOUT_MS = 120_000;

/** Everything the peers issued, as the World's leak scan sees it (values under 8 characters mean nothing). */
function issued(): string[] {
  return [...world.vault.issuedSecrets(), ...world.sts.issuedSecrets(), world.identity.secretAccessKey, world.sessionToken].filter((s): s is string => typeof s === "string" && s.length >= 8);
}

beforeAll(async () => {
  // The legitimate requests read a KV secret the fuzz cannot overwrite (no generated path reaches it).
  world = await World.start({ kv: { "app/config": { api_key: "kv-api-key-7f3a9c", region: "eu-west-1" }, [LEGIT_KV.replace("secret/data/", "")]: { api_key: "legit-api-key-5e1d2b" } } });
});

afterAll(async () => {
  await world?.close();
});

describe("localhost API fuzz, in process", () => {
  let agent: Agent;
  let port: number;
  const lines: string[] = [];

  beforeAll(async () => {
    port = await freePort();
    const redactor = new Redactor();
    const config = parseConfig({
      VAULT_ADDR: world.vault.url,
      VAULT_AUTH_ROLE: "fn-role",
      VAULT_AGENT_PORT: String(port),
      VAULT_SECRET_PATH_DB: "database/creds/app",
      VAULT_SECRET_PATH_KV: KV_PATH,
      VAULT_SECRET_PATH_LEGIT: LEGIT_KV,
      VAULT_SECRET_PATH_AWS: "aws/creds/deploy",
      AWS_ACCESS_KEY_ID: world.identity.accessKeyId,
      AWS_SECRET_ACCESS_KEY: world.identity.secretAccessKey,
      AWS_SESSION_TOKEN: world.sessionToken,
      AWS_LAMBDA_FUNCTION_NAME: "orders-api",
    });
    agent = new Agent(config, createLogger({ level: "debug", redactor, write: (l) => void lines.push(l) }), redactor);
    const deadline = Date.now() + 20_000;
    await agent.listen(deadline);
    await agent.init(deadline);
  });

  afterAll(async () => {
    await agent?.shutdown(Date.now() + 2_000, "spindown");
    const secrets = issued();
    for (const line of lines) for (const s of secrets) expect(line.includes(s), `a secret in the log: ${line.slice(0, 200)}`).toBe(false);
    expect(world.vault.liveTokens()).toEqual([]);
  });

  const secrets: Secrets = {
    never: () => [agent.tokens.current?.clientToken, agent.tokens.current?.accessor, world.vault.rootToken, world.identity.secretAccessKey].filter((s): s is string => !!s),
    issued,
  };

  // The extension's own token endpoints are fuzzed below, where defect 12 is pinned.
  const notTokenEndpoints = (r: GeneratedRequest): boolean => !/auth(\/|%2f)+token/i.test(r.target);

  it("every generated request: 2xx or 4xx (or a closed connection), no 5xx of its own, no secret where none belongs; it keeps serving", async () => {
    await fc.assert(requestsProperty(() => port, () => world.sessionToken, secrets, notTokenEndpoints), { numRuns: IN_PROCESS_RUNS });
    const health = await send(port, { method: "GET", target: "/health", token: "none", headers: [], body: undefined }, "");
    expect(health.status).toBe(200);
  }, FUZZ_TIMEOUT_MS);

  it("legitimate requests with harmless extra headers succeed", async () => {
    const legit = fc.record({
      target: fc.constantFrom("/secrets/db", "/secrets/DB", "/secrets/legit?field=api_key", "/aws/credentials/aws", `/v1/${LEGIT_KV}`, "/health", "/secrets/legit?refresh=true"),
      token: fc.constantFrom<TokenMode>("valid", "bearer", "aws-header"),
      headers: fc.array(fc.tuple(fc.stringMatching(/^X-Fuzz-[A-Za-z0-9]{1,8}$/), fc.stringMatching(/^[ -~]{0,30}$/)), { maxLength: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(legit, async (l) => {
        const a = await send(port, { method: "GET", body: undefined, ...l }, world.sessionToken);
        expect(a.status, a.text.slice(0, 300)).toBe(200);
      }),
      { numRuns: 200 },
    );
  });

  // Defect 1 (issue 10), before its fix: a target whose path is `/v1` with `../` in its query reaches
  // Vault outside `/v1/`, with the extension's token.
  it("no generated request reaches Vault outside /v1/", async () => {
    const escaping = fc.record({
      method: fc.constant("GET"),
      target: fc.tuple(fc.constantFrom("/v1", "/v1/", "/v1/secret"), fc.constantFrom("?", "?x=", ""), fc.constantFrom("../", "%2e%2e/", "..\\", "../../"), fc.constantFrom("sys/health", "auth/token/lookup-self", "v1/sys/health")).map((p) => p.join("")),
      token: fc.constant<TokenMode>("valid"),
      headers: fc.constant([] as Array<[string, string]>),
      body: fc.constant(undefined),
    });
    await fc.assert(
      fc.asyncProperty(escaping, async (r) => {
        const before = world.vault.requestLog.length;
        await send(port, r, world.sessionToken);
        for (const rec of world.vault.requestLog.slice(before)) expect(rec.target.startsWith("/v1/"), `${r.target} reached Vault as ${rec.target}`).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  // Defect 12 (issue 10), before its fix: `auth/token/lookup-self` through the proxy answers the
  // extension's own token in `data.id`, and `auth/token/create` is forwarded.
  it("the proxy never hands out the extension's own token (auth/token/*)", async () => {
    const tokenEndpoints = fc.record({
      method: fc.constantFrom("GET", "POST"),
      target: fc.constantFrom("/v1/auth/token/lookup-self", "/v1/auth/token/create", "/v1/auth/token/create-orphan", "/v1/auth/token/lookup-self?x=1"),
      token: fc.constant<TokenMode>("valid"),
      headers: fc.constant([] as Array<[string, string]>),
      body: fc.constant(undefined),
    });
    await fc.assert(
      fc.asyncProperty(tokenEndpoints, async (r) => {
        const a = await send(port, r, world.sessionToken);
        for (const s of secrets.never()) expect(a.text.includes(s), `${r.method} ${r.target} → ${a.text.slice(0, 200)}`).toBe(false);
        if (r.target.includes("/create")) expect(a.status).toBe(403);
        // A token the proxy created would outlive the environment: none may exist besides the extension's.
        expect(world.vault.liveTokens().filter((t) => t.path !== "auth/aws/login")).toEqual([]);
      }),
      { numRuns: 40 },
    );
  });
});

describe("localhost API fuzz, the built layer under the emulator", () => {
  let fn: LambdaEmulator;
  let port: number;

  beforeAll(async () => {
    requireLayerBuilt();
    port = await freePort();
    // Not frozen between events: the test talks to the extension directly, as a handler would.
    fn = await world.lambda(
      { VAULT_AGENT_PORT: String(port), VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_PATH_KV: KV_PATH, VAULT_LOG_LEVEL: "info" },
      { freezeBetweenInvokes: false },
    );
    expect((await fn.start()).ok).toBe(true);
  });

  afterAll(async () => {
    await fn?.shutdown().catch(() => undefined);
    world.leakScan();
    expect(world.vault.liveTokens()).toEqual([]);
  });

  it("every generated request: 2xx or 4xx (or a closed connection), never a 5xx of its own, no secret where none belongs; the process survives", async () => {
    const secrets: Secrets = { never: () => [world.vault.rootToken, world.identity.secretAccessKey], issued };
    await fc.assert(requestsProperty(() => port, () => world.sessionToken, secrets, (r) => !/auth(\/|%2f)+token/i.test(r.target)), { numRuns: BUILT_RUNS });
    // Still alive and serving: an invoke whose handler reads a secret.
    const inv = await fn.invoke({ requests: [{ path: "/secrets/db" }] });
    expect(inv.ok).toBe(true);
    expect((inv.response as { results: Array<{ status: number }> }).results[0]!.status).toBe(200);
    expect(fn.extensionInfo()[0]!.exitCode).toBeUndefined();
  }, FUZZ_TIMEOUT_MS);
});
