/**
 * The localhost API (docs/architecture.md, "The localhost API"): `/health`, `/secrets/<name>`, `/aws/credentials/<name>` and
 * the `/v1/*` proxy, on 127.0.0.1 only. Every request is checked before routing and bounded in size
 * and time; nothing a caller sends can crash the extension.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Config, DeclaredSecret } from "../config.ts";
import type { Logger, Redactor } from "../log.ts";
import type { Outcomes } from "../outcomes.ts";
import type { CacheAnswer, SecretCache } from "../cache/secret-cache.ts";
import type { SecretRecord } from "../cache/record.ts";
import type { TokenManager } from "../vault/token.ts";
import { effectiveEnd, type Lease } from "../lease/policy.ts";
import { renderAwsCredentials, renderSecret } from "../render.ts";
import { checkTarget, checkToken, FORWARDED_REJECTION, scanHeaders, SECRET_NAME, type HeaderScan, type Target } from "./guards.ts";
import { answerReason, cacheHeaders, redactErrors, sendError, sendJson, sendJsonText, sendVaultFailure } from "./responses.ts";
import { AnswerWarnings } from "./answer-warnings.ts";
import { describe, stripQuery } from "../errors.ts";
import { healthBody, type BuildFacts } from "./health.ts";
import { forwardedPath, type VaultProxy } from "./proxy.ts";
import { InFlightLimit } from "./in-flight.ts";
import { ConnectionBudget } from "./connections.ts";
import type { ReadinessGate } from "../readiness.ts";

export const MAX_HEADER_BYTES = 16 * 1024;
export const MAX_BODY_BYTES = 64 * 1024;
const HEADERS_TIMEOUT_MS = 5_000;
/** A request body must be complete this long after its headers (then 408, connection closed). */
const BODY_TIMEOUT_MS = 5_000;
/** Node's own bound on a whole request: only a backstop behind the two above. */
const REQUEST_TIMEOUT_MS = 15_000;
/** Longer than the idle timeout of common client pools, so a thaw does not race a closing socket. */
const KEEP_ALIVE_MS = 120_000;
const MAX_IN_FLIGHT = 128;
/** Open connections at most (see ConnectionBudget): half of the 1024 file descriptors Lambda gives the process. */
export const MAX_CONNECTIONS = 512;
/** From this many open connections on, each new one first closes the idle ones. */
const CULL_IDLE_AT = 256;
/** The methods of Vault's HTTP API: anything else is refused here rather than handed to Vault or a gateway (TRACE echoes headers). */
const VAULT_METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const VAULT_METHODS_ALLOW = [...VAULT_METHODS].join(", ");
/** Node's parser knows no LIST method (nor a lower-case one): such a request never reaches a handler, and gets a 400 saying this. */
const UNKNOWN_METHOD = "request method not supported: Vault's API is reached with GET, HEAD, POST, PUT, PATCH, DELETE or OPTIONS (for LIST, send GET with ?list=true, as Vault's own clients do)";

export interface ServerDeps {
  config: Pick<Config, "requireToken" | "callerToken" | "staticSecretTtlMs">;
  secrets: Map<string, DeclaredSecret>;
  cache: SecretCache;
  tokens: TokenManager;
  proxy?: VaultProxy;
  log: Logger;
  /** Requests other than `/health` wait on it while the extension initialises. */
  readiness: ReadinessGate;
  /** Version, flavor, mode and start time, for `/health`. */
  build: BuildFacts;
  /** How requests to Vault have been going. */
  vault: Outcomes;
  /** `/health` carries Vault's reasons: scrubbed like a log line, in case one echoes a value. */
  redactor: Redactor;
}

export class LocalhostServer {
  private readonly server: http.Server;
  private readonly inFlight = new InFlightLimit(MAX_IN_FLIGHT);
  private readonly expectedToken: Buffer | undefined;
  private readonly answerWarnings = new AnswerWarnings(Date.now);
  private readonly rendered = new WeakMap<SecretRecord, { lease: Lease; tokenLease: Lease; left: number; dead: boolean; body: string; bytes: number }>();

  constructor(private readonly deps: ServerDeps) {
    this.expectedToken = deps.config.callerToken === undefined ? undefined : Buffer.from(deps.config.callerToken);
    this.server = http.createServer(
      {
        maxHeaderSize: MAX_HEADER_BYTES,
        headersTimeout: HEADERS_TIMEOUT_MS,
        requestTimeout: REQUEST_TIMEOUT_MS,
        keepAliveTimeout: KEEP_ALIVE_MS,
        connectionsCheckingInterval: 1_000,
      },
      (req, res) => {
        redactErrors(res, deps.redactor);
        const fail = (err: unknown) => {
          deps.log.error("unexpected error serving a request", { error: describe(err) });
          if (!res.headersSent) sendError(res, 502, "internal error in vault-lambda-agent");
          else res.destroy();
        };
        try {
          // Most requests are answered before this returns; only those that wait (on Vault, or on
          // a body) come back as a promise. The in-flight limit is the proxy's (see InFlightLimit).
          const waiting = this.handle(req, res);
          if (waiting) waiting.then(() => this.noteAnswer(req, res), fail);
          else if (res.statusCode >= 400) this.noteAnswer(req, res);
        } catch (err) {
          fail(err);
        }
      },
    );
    this.server.keepAliveTimeout = KEEP_ALIVE_MS;
    // Node drops headers past the 2000th, where a forwarding header or a second caller token would
    // go unseen; MAX_HEADER_BYTES bounds their number anyway.
    this.server.maxHeadersCount = 0;
    new ConnectionBudget(MAX_CONNECTIONS, CULL_IDLE_AT).attach(this.server);
    // Node answers `Expect: 100-continue` before any handler runs; a request that will be refused
    // is not told to send its body. ("request" is emitted as Node does without this listener.)
    this.server.on("checkContinue", (req: http.IncomingMessage, res: http.ServerResponse) => {
      if (this.mayContinue(req)) res.writeContinue();
      this.server.emit("request", req, res);
    });
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket) => {
      if (!socket.writable) return socket.destroy();
      const status = err.code === "HPE_HEADER_OVERFLOW" ? "431 Request Header Fields Too Large" : err.code === "ERR_HTTP_REQUEST_TIMEOUT" ? "408 Request Timeout" : "400 Bad Request";
      const body = JSON.stringify({ errors: [err.code === "HPE_INVALID_METHOD" ? UNKNOWN_METHOD : status.slice(4)] });
      socket.end(`HTTP/1.1 ${status}\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${body}`);
    });
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.server.once("error", onError);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** Whether a request passes the checks made before its body is read (target, forwarding, size, caller token). */
  private mayContinue(req: http.IncomingMessage): boolean {
    const target = checkTarget(req.url);
    if ("status" in target) return false;
    const scan = scanHeaders(req.rawHeaders);
    if (scan.forwarded || Number(req.headers["content-length"] ?? 0) > MAX_BODY_BYTES) return false;
    return target.pathname === "/health" || checkToken(scan.token, this.expectedToken, this.deps.config.requireToken) === undefined;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> | undefined {
    const target = checkTarget(req.url);
    if ("status" in target) return this.reject(req, res, target.status, target.message);
    const scan = scanHeaders(req.rawHeaders);
    if (scan.forwarded) return this.reject(req, res, FORWARDED_REJECTION.status, FORWARDED_REJECTION.message);
    const method = req.method ?? "GET";
    const { pathname } = target;

    if (pathname === "/health") {
      if (method !== "GET" && method !== "HEAD") return this.reject(req, res, 405, "use GET", { allow: "GET, HEAD" });
      if (scan.hasBody) return this.afterEmptyBody(req, res, () => this.health(res), () => this.health(res));
      return this.health(res);
    }

    const tokenProblem = checkToken(scan.token, this.expectedToken, this.deps.config.requireToken);
    if (tokenProblem) return this.reject(req, res, tokenProblem.status, tokenProblem.message);
    const readiness = this.deps.readiness;
    if (readiness.isReady) return this.route(req, res, method, target, scan);
    // Early registration: the function's init may ask before the login and the reads are done.
    if (readiness.waiting) {
      this.deps.log.debug("a request waits for the init to finish", { method, path: pathname });
      return readiness.wait().then((state) => (state === "ready" ? this.route(req, res, method, target, scan) : this.reject(req, res, 503, readiness.refusal)));
    }
    return this.reject(req, res, 503, readiness.refusal);
  }

  private route(req: http.IncomingMessage, res: http.ServerResponse, method: string, target: Target, scan: HeaderScan): Promise<void> | undefined {
    const { pathname, search } = target;
    const [, first, second, ...rest] = pathname.split("/");
    if (first === "secrets" || (first === "aws" && second === "credentials")) {
      const kind = first === "secrets" ? "secret" : "aws";
      const name = kind === "secret" ? second : rest[0];
      const extra = kind === "secret" ? rest : rest.slice(1);
      if (method !== "GET" && method !== "HEAD") return this.reject(req, res, 405, "use GET", { allow: "GET, HEAD" });
      if (!name || extra.length > 0 || !SECRET_NAME.test(name)) return this.reject(req, res, 400, "secret names are letters, digits and _ only");
      const force = scan.noCache || search.get("refresh") === "true";
      if (!scan.hasBody) return this.serveSecret(req, res, kind, name, search, force);
      return this.afterEmptyBody(
        req,
        res,
        () => this.serveSecret(req, res, kind, name, search, force),
        () => this.reject(req, res, 400, "a GET request must not carry a body"),
      );
    }
    if (first === "v1") return this.proxy(req, res, method, target);
    if (scan.hasBody) return this.afterEmptyBody(req, res, () => this.notFound(req, res, pathname), () => this.notFound(req, res, pathname));
    return this.notFound(req, res, pathname);
  }

  /** A 4xx or 5xx answered to the handler: a warning, at most one per status and minute. `/health` is exempt (503 while starting is its answer). */
  private noteAnswer(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (res.statusCode < 400 || (req.url ?? "").startsWith("/health")) return;
    const verdict = this.answerWarnings.note(res.statusCode);
    if (!verdict.log) return;
    this.deps.log.warn("answered the handler with an error", {
      status: res.statusCode,
      method: req.method,
      path: stripQuery(req.url ?? ""),
      reason: answerReason(res),
      ...(verdict.suppressed > 0 ? { similarSinceLastLine: verdict.suppressed } : {}),
    });
  }

  private notFound(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): undefined {
    return this.reject(req, res, 404, `no route ${pathname}: use /secrets/<name>, /aws/credentials/<name>, /v1/<vault path> or /health`);
  }

  private async proxy(req: http.IncomingMessage, res: http.ServerResponse, method: string, target: Target): Promise<void> {
    const proxy = this.deps.proxy;
    if (!proxy) return void this.reject(req, res, 404, "the Vault proxy is off in this run mode (VAULT_RUN_MODE)");
    if (!VAULT_METHODS.has(method)) return void this.reject(req, res, 405, `${method} is not a method of Vault's API (use ${VAULT_METHODS_ALLOW}; for LIST, GET with ?list=true)`, { allow: VAULT_METHODS_ALLOW });
    const body = await readBody(req, MAX_BODY_BYTES);
    if (body === "too-large") return void this.reject(req, res, 413, `request body larger than ${MAX_BODY_BYTES} bytes`);
    if (body === "too-slow") return void this.tooSlow(req, res);
    if ((method === "GET" || method === "HEAD") && body.length > 0) return void this.reject(req, res, 400, "a GET request must not carry a body");
    // Built from the checked segments, never from the raw target: nothing can climb out of /v1/.
    const vaultPath = forwardedPath(target);
    if (vaultPath === undefined) return void this.reject(req, res, 404, "no Vault path given after /v1/ (e.g. /v1/secret/data/my-app)");
    return proxy.handle(method, vaultPath, req.headers, body.length ? body : undefined, res, this.inFlight);
  }

  /** Open without the caller token: it holds names, times and reasons, never a value. Answers at once, during init too (its status then says so). */
  private health(res: http.ServerResponse): undefined {
    const { tokens, cache, secrets } = this.deps;
    const token = tokens.current;
    const ready = this.deps.readiness.isReady;
    const body = healthBody(
      {
        ready,
        token: token && { lease: token.lease, dead: token.dead },
        tokenOutcomes: tokens.outcomes,
        secrets: [...secrets.values()].map((s) => ({ name: s.name, path: s.path, ...cache.health(s.key) })),
        vault: this.deps.vault,
        leases: cache.liveLeases.length,
      },
      this.deps.build,
      Date.now(),
    );
    sendJsonText(res, 200, this.deps.redactor.scrubJson(body));
  }

  /**
   * `/secrets/<name>` and `/aws/credentials/<name>`: a fresh held value is answered at once;
   * anything else waits for the cache (refresh, stale-if-error, or Vault's failure).
   */
  private serveSecret(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    kind: "secret" | "aws",
    name: string,
    search: URLSearchParams,
    force: boolean,
  ): Promise<void> | undefined {
    for (const k of search.keys()) {
      if (k !== "refresh" && (k !== "field" || kind !== "secret")) {
        return this.reject(req, res, 400, `unknown query parameter "${k}" (use ${kind === "secret" ? "field or refresh" : "refresh"})`);
      }
    }
    const secret = this.deps.secrets.get(name.toLowerCase());
    if (!secret) return void sendError(res, 404, `no secret named "${name}" is declared (declare it with VAULT_SECRET_PATH_${name.toUpperCase()})`);
    const fresh = force ? undefined : this.deps.cache.fresh(secret.key);
    if (fresh) return this.respond(res, kind, secret, { record: fresh, status: "HIT" }, search);
    return this.deps.cache.get(secret.key, { force }).then(
      (answer) => this.respond(res, kind, secret, answer, search),
      (err) => sendVaultFailure(res, `secret ${secret.name} (${secret.path})`, err),
    );
  }

  private respond(res: http.ServerResponse, kind: "secret" | "aws", secret: DeclaredSecret, answer: CacheAnswer, search: URLSearchParams): undefined {
    const { record, status } = answer;
    const headers = cacheHeaders(status, record.readAt);
    if (kind === "aws") {
      const creds = renderAwsCredentials(record, this.deps.cache.effectiveLease(record), this.deps.config.staticSecretTtlMs || 300_000);
      if (!creds) return void sendError(res, 400, `secret ${secret.name} (${secret.path}) does not hold AWS credentials (access_key and secret_key)`);
      return void sendJson(res, 200, creds, headers);
    }
    const field = search.get("field");
    if (field !== null) {
      if (!Object.prototype.hasOwnProperty.call(record.data, field)) return void sendError(res, 404, `secret ${secret.name} has no field "${field}"`, headers);
      const value = record.data[field];
      const text = typeof value === "string" ? value : JSON.stringify(value);
      res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "content-length": String(Buffer.byteLength(text)), "cache-control": "no-store", ...headers });
      return void res.end(text);
    }
    const { body, bytes } = this.renderedBody(secret, record);
    // Node's flat [name, value, ...] form: no object to build and walk on the hot path.
    res.writeHead(200, ["content-type", "application/json", "content-length", String(bytes), "cache-control", "no-store", "x-cache", status, "age", headers.age]);
    // A string, not a Buffer: Node then sends head and body in one write instead of a writev.
    res.end(body);
  }

  /**
   * The JSON of `/secrets/<name>` changes only when the lease does or, since `lease_duration` is the
   * time left, once a second: rendered once per record and second, not once per request.
   */
  private renderedBody(secret: DeclaredSecret, record: SecretRecord): { body: string; bytes: number } {
    const now = Date.now();
    const token = record.token;
    const end = effectiveEnd(record.lease, token);
    const left = Number.isFinite(end) ? Math.floor((end - now) / 1000) : -1;
    const memo = this.rendered.get(record);
    if (memo && memo.lease === record.lease && memo.tokenLease === token.lease && memo.left === left && memo.dead === token.dead) return memo;
    const body = JSON.stringify(renderSecret(secret, record, this.deps.cache.effectiveLease(record), now));
    const rendered = { lease: record.lease, tokenLease: token.lease, left, dead: token.dead, body, bytes: Buffer.byteLength(body) };
    this.rendered.set(record, rendered);
    return rendered;
  }

  /** Reads a body that should be empty (at most 1 KiB, within 5 s), then answers with `empty` or `notEmpty`. */
  private async afterEmptyBody(req: http.IncomingMessage, res: http.ServerResponse, empty: () => Promise<void> | undefined, notEmpty: () => Promise<void> | undefined): Promise<void> {
    const body = await readBody(req, 1024);
    if (body === "too-slow") return this.tooSlow(req, res);
    return typeof body !== "string" && body.length === 0 ? empty() : notEmpty();
  }

  /** 408, and the connection closed: waiting for the rest would hold it for as long as the client likes. */
  private tooSlow(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.once("finish", () => req.socket.destroy());
    this.reject(req, res, 408, `request body not complete within ${BODY_TIMEOUT_MS / 1000} s`);
  }

  private reject(req: http.IncomingMessage, res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): undefined {
    this.deps.log.debug("refused a request", { status, reason: message, method: req.method });
    // Whatever the client still sends is not read: close rather than parse it. A refused caller
    // token always closes it: nothing pipelined behind it is served.
    if (!req.complete || status === 403) headers.connection = "close";
    sendError(res, status, message, headers);
    if (!req.complete) req.resume();
  }
}

/**
 * Reads a body up to `limit` bytes, within BODY_TIMEOUT_MS: a body that is too large or too slow
 * is not read further (the caller answers and closes the connection).
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | "too-large" | "too-slow"> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers["content-length"] ?? 0);
    if (declared > limit) return resolve("too-large");
    if (req.complete) return resolve(Buffer.alloc(0));
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (result: Buffer | "too-large" | "too-slow") => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off("data", onData);
      resolve(result);
    };
    const timer = setTimeout(() => finish("too-slow"), BODY_TIMEOUT_MS);
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > limit) return finish("too-large");
      chunks.push(c);
    };
    req.on("data", onData);
    req.on("end", () => finish(Buffer.concat(chunks)));
    req.on("error", (err) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(err);
    });
  });
}
