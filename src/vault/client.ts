/**
 * The one HTTP client for every request to Vault: timeouts, retries with jittered backoff, TLS from
 * the VAULT_* variables, and a registry of requests in flight so that the extension can drain or
 * abort them before it calls `event/next` (a request frozen mid-flight is lost).
 */
import http from "node:http";
import type https from "node:https";
import fs from "node:fs";
import path from "node:path";
import { AgentError, describe, isTransientStatus, VaultError, vaultMessages, type HttpAnswer, type VaultFailure } from "../errors.ts";
import { Outcomes } from "../outcomes.ts";

/** TLS to Vault, as the Vault CLI reads it from VAULT_CACERT, VAULT_CAPATH... */
export interface TlsConfig {
  caCert?: string;
  caPath?: string;
  clientCert?: string;
  clientKey?: string;
  serverName?: string;
  skipVerify: boolean;
}

export interface VaultClientOptions {
  vaultAddr: string;
  namespace?: string;
  timeoutMs: number;
  maxRetries: number;
  tls: TlsConfig;
  /** Base of the exponential backoff; tests keep it small. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
}

export interface VaultRequest {
  method: string;
  /** Logical path without `/v1/`, e.g. `auth/aws/login`; may carry a query string. */
  path: string;
  token?: string;
  body?: unknown;
  /** Raw body bytes (proxy); wins over `body`. */
  rawBody?: Buffer;
  headers?: Record<string, string>;
  /** Absolute wall-clock deadline for the whole request, retries included. */
  deadline?: number;
  retries?: number;
  signal?: AbortSignal;
  /**
   * False for a request that may not be sent twice (a proxied write): it is retried only when it
   * surely did not reach Vault (see `surelyUnsent`). Default true.
   */
  repeatable?: boolean;
  /** Vault's answer is read up to this many bytes; a longer one is abandoned (`DEFAULT_ANSWER_LIMIT`). */
  answerLimit?: AnswerLimit;
}

/** How much of Vault's answer is read, and why (for the message when it is longer). */
export interface AnswerLimit {
  bytes: number;
  why: string;
}

/** The extension's own reads (logins, secrets, lookups) are JSON of a few KiB; 4 MiB is plenty. */
export const DEFAULT_ANSWER_LIMIT: AnswerLimit = { bytes: 4 * 1024 * 1024, why: "the limit for the extension's own reads from Vault" };

/** Connection errors raised before a byte of the request left: the request surely did not reach Vault. */
const NOT_SENT_CODES = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH"]);

export type RawResponse = HttpAnswer;

export interface VaultResponse<T = unknown> {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: T | undefined;
}

/** What the token manager and the cache need of a Vault client (a fake in unit tests). */
export interface VaultTransport {
  /** JSON request with retries; throws VaultError on a non-2xx answer. */
  request<T = unknown>(req: VaultRequest): Promise<VaultResponse<T>>;
  /** Request with retries; returns Vault's answer whatever its status. */
  send(req: VaultRequest): Promise<RawResponse>;
}

/** A socket idle longer than this may have been closed by Vault while we were frozen. */
const STALE_SOCKET_MS = 4_000;

/** What may still be sent once the extension stops: the revocations themselves. */
const REVOCATIONS = new Set(["auth/token/revoke-self", "sys/leases/revoke"]);

interface InFlight {
  controller: AbortController;
  done: Promise<unknown>;
  revocation: boolean;
}

export class VaultClient implements VaultTransport {
  private readonly base: URL;
  /** `node:https` (and with it `tls`) is loaded only for an https address: ~5 ms of every cold start otherwise. */
  private transport: Promise<typeof http | typeof https> | undefined;
  private agent: http.Agent | undefined;
  private lastActivity = Date.now();
  private readonly inflight = new Set<InFlight>();
  /** Set when the extension stops: nothing new may be obtained from Vault, only revoked. */
  private stopping = false;
  /** Whether Vault has been answering (`/health`): a failure is one worth retrying, after the retries. */
  readonly outcomes = new Outcomes();
  /** Told of every request (retries included) when it ends: the metrics count them. */
  onRequest: (ms: number, failed: boolean) => void = () => {};

  constructor(private readonly opts: VaultClientOptions) {
    this.base = new URL(opts.vaultAddr.replace(/\/+$/, "") + "/");
  }

  get address(): string {
    return this.opts.vaultAddr;
  }

  /** Requests on the wire now (tests check that `drain` leaves none). */
  get inflightCount(): number {
    return this.inflight.size;
  }

  /** JSON request with retries; throws VaultError on a non-2xx answer. */
  async request<T = unknown>(req: VaultRequest): Promise<VaultResponse<T>> {
    const raw = await this.send(req);
    const json = parseJson(raw.body, raw.headers["content-type"]);
    if (raw.status >= 200 && raw.status < 300) return { status: raw.status, headers: raw.headers, json: json as T | undefined };
    const { errors, warnings } = vaultMessages(json);
    throw new VaultError("status", req.method, req.path, raw.status, errors, { warnings });
  }

  /**
   * Sends a request, retrying transient failures. Returns the last answer whatever its status
   * (non-transient statuses are not retried); throws VaultError for timeouts, connection errors and
   * aborts that outlast the retries.
   */
  async send(req: VaultRequest): Promise<RawResponse> {
    const started = Date.now();
    let failure: string | undefined;
    try {
      const res = await this.sendWithRetries(req);
      if (isTransientStatus(res.status)) {
        const { errors, warnings } = vaultMessages(parseJson(res.body, res.headers["content-type"]));
        failure = new VaultError("status", req.method, req.path, res.status, errors, { warnings }).message;
      }
      return res;
    } catch (err) {
      // An answer refused here (a redirect, one too large) still came from a Vault that answers.
      if (!(err instanceof VaultError && err.kind === "status")) failure = describe(err);
      throw err;
    } finally {
      const ended = Date.now();
      if (failure === undefined) this.outcomes.succeeded(ended);
      else this.outcomes.failed(ended, failure);
      this.onRequest(ended - started, failure !== undefined);
    }
  }

  private async sendWithRetries(req: VaultRequest): Promise<RawResponse> {
    const retries = req.retries ?? this.opts.maxRetries;
    let lastError: VaultError | undefined;
    for (let attempt = 0; attempt <= retries; attempt++) {
      if (attempt > 0) {
        const wait = this.backoff(attempt);
        if (req.deadline !== undefined && Date.now() + wait >= req.deadline) break;
        await sleep(wait, req.signal);
        if (req.signal?.aborted) break;
      }
      try {
        const res = await this.attempt(req);
        if (!isTransientStatus(res.status) || attempt === retries) return res;
        const { errors, warnings } = vaultMessages(parseJson(res.body, res.headers["content-type"]));
        // A write that Vault may have carried out is not sent again: its answer is the caller's.
        if (req.repeatable === false && !refusedUnprocessed(res.status, errors)) return res;
        lastError = new VaultError("status", req.method, req.path, res.status, errors, { warnings });
        // A retry that cannot fit before the deadline would only delay the answer we already have.
        if (req.deadline !== undefined && Date.now() + this.backoff(attempt + 1) >= req.deadline) return res;
      } catch (err) {
        if (!(err instanceof VaultError)) throw err;
        lastError = err;
        // An answer refused here (a redirect, one too large) would be the same answer again.
        if (err.kind === "aborted" || err.kind === "status") throw err;
        // A timeout or a reset may come after Vault acted on the request.
        if (req.repeatable === false && !surelyUnsent(err)) throw err;
      }
      if (req.deadline !== undefined && Date.now() >= req.deadline) break;
    }
    throw lastError ?? new VaultError("timeout", req.method, req.path, undefined, []);
  }

  /**
   * Waits up to `ms` for requests in flight to finish, then abandons the rest. Called before
   * `event/next`, because the environment may be frozen right after it.
   */
  async drain(ms: number): Promise<number> {
    if (this.inflight.size === 0) return 0;
    const pending = [...this.inflight];
    await Promise.race([Promise.allSettled(pending.map((p) => p.done)), sleep(ms)]);
    let aborted = 0;
    for (const p of this.inflight) {
      p.controller.abort();
      aborted++;
    }
    return aborted;
  }

  /**
   * From now on only revocations go out: any other request (a login, a read, a renewal, a proxied
   * request, a retry of one) fails at once as abandoned, so that nothing new is obtained while the
   * extension cleans up. Requests already on the wire are left to finish (`settle`).
   */
  stopObtaining(): void {
    this.stopping = true;
  }

  /**
   * Waits up to `ms` for the requests on the wire (revocations aside) to be answered, without
   * abandoning them, and until what their callers do with the answers (hold a token, track a lease)
   * has run. Returns how many are still on the wire.
   */
  async settle(ms: number): Promise<number> {
    const end = Date.now() + Math.max(0, ms);
    for (;;) {
      const pending = [...this.inflight].filter((p) => !p.revocation);
      if (pending.length === 0) return 0;
      const left = end - Date.now();
      if (left <= 0) return pending.length;
      const wait = new AbortController();
      await Promise.race([Promise.allSettled(pending.map((p) => p.done)), sleep(left, wait.signal)]);
      wait.abort();
      // The answers' continuations (a token added to those held, a lease tracked) are promise
      // callbacks: they have all run before the next macrotask.
      await new Promise((r) => setImmediate(r));
    }
  }

  /** Closes idle keep-alive sockets (shutdown, and before a freeze-length gap). */
  close(): void {
    this.agent?.destroy();
    this.agent = undefined;
  }

  private backoff(attempt: number): number {
    const base = this.opts.backoffBaseMs ?? 100;
    const max = this.opts.backoffMaxMs ?? 1_500;
    const ceiling = Math.min(max, base * 2 ** (attempt - 1));
    // "Equal jitter": at least half the step, so retries neither stampede nor collapse to zero.
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }

  private async attempt(req: VaultRequest): Promise<RawResponse> {
    const { transport, agent } = await this.connection();
    // Checked after the last await before the request joins those in flight (what `settle` waits for).
    const revocation = REVOCATIONS.has(req.path);
    if (this.stopping && !revocation) throw new VaultError("aborted", req.method, req.path, undefined, ["vault-lambda-agent is stopping"]);
    const now = Date.now();
    const timeout = Math.max(1, Math.min(this.opts.timeoutMs, req.deadline !== undefined ? req.deadline - now : Infinity));
    const target = requestTarget(this.base.pathname, req);
    const body = req.rawBody ?? (req.body === undefined ? undefined : Buffer.from(JSON.stringify(req.body)));
    const headers: Record<string, string> = { "x-vault-request": "true", ...req.headers };
    if (req.token) headers["x-vault-token"] = req.token;
    if (this.opts.namespace) headers["x-vault-namespace"] = this.opts.namespace;
    if (body) {
      headers["content-length"] = String(body.length);
      if (!req.rawBody && !headers["content-type"]) headers["content-type"] = "application/json";
    }

    const controller = new AbortController();
    const onOuterAbort = () => controller.abort();
    req.signal?.addEventListener("abort", onOuterAbort, { once: true });
    const options: http.RequestOptions = { protocol: this.base.protocol, hostname: this.base.hostname, port: this.base.port, path: target, method: req.method, headers, agent, signal: controller.signal };
    const done = exchange(transport, options, body, timeout, req, this.base).then((res) => {
      this.lastActivity = Date.now();
      return res;
    });
    const entry: InFlight = { controller, done: done.catch(() => undefined), revocation };
    this.inflight.add(entry);
    return done.finally(() => {
      this.inflight.delete(entry);
      req.signal?.removeEventListener("abort", onOuterAbort);
    });
  }

  /** The transport and the keep-alive pool, fresh after a gap long enough to be a freeze. */
  private async connection(): Promise<{ transport: typeof http | typeof https; agent: http.Agent }> {
    this.transport ??= this.base.protocol === "https:" ? import("node:https").then((m) => m.default) : Promise.resolve(http);
    const transport = await this.transport;
    const now = Date.now();
    if (this.agent && now - this.lastActivity > STALE_SOCKET_MS) {
      // After a freeze, pooled sockets are likely dead on the server side; start clean rather than
      // lose an attempt to ECONNRESET.
      this.agent.destroy();
      this.agent = undefined;
    }
    const agent = (this.agent ??= this.makeAgent(transport));
    this.lastActivity = now;
    return { transport, agent };
  }

  private makeAgent(transport: typeof http | typeof https): http.Agent {
    const t = this.opts.tls;
    const common = { keepAlive: true, maxSockets: 32, maxFreeSockets: 8 };
    if (transport === http) return new http.Agent(common);
    return new (transport as typeof https).Agent({
      ...common,
      ca: loadCa(t),
      cert: t.clientCert ? fs.readFileSync(t.clientCert) : undefined,
      key: t.clientKey ? fs.readFileSync(t.clientKey) : undefined,
      servername: t.serverName,
      rejectUnauthorized: !t.skipVerify,
    });
  }
}

/**
 * The request-target: `<VAULT_ADDR path>/v1/<path>`, concatenated, never resolved as a relative
 * URL (which would let `..` climb out of `/v1/` and out of VAULT_ADDR's path). A path with a dot
 * segment or a backslash, raw or percent-encoded, is refused: the localhost API and the
 * configuration never produce one, so one here is a bug, not a request.
 */
export function requestTarget(basePath: string, req: Pick<VaultRequest, "method" | "path">): string {
  const logical = req.path.replace(/^\/+/, "");
  const q = logical.indexOf("?");
  const pathPart = q < 0 ? logical : logical.slice(0, q);
  const query = q < 0 ? "" : logical.slice(q);
  for (const raw of pathPart.split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      segment = "\\"; // refused below, as bad encoding
    }
    if ((segment.includes(".") && /^[\s.]+$/.test(segment)) || segment.includes("\\") || raw.includes("\\") || segment.includes("/")) {
      throw new AgentError("local", `refused to send ${req.method} ${pathPart} to Vault: a Vault path must not hold ".", ".." or "\\" segments or bad percent-encoding`);
    }
  }
  if (/[#\\\0]/.test(query)) throw new AgentError("local", `refused to send ${req.method} ${pathPart} to Vault: its query holds "#", "\\" or NUL`);
  // Characters a path may not carry raw (a space, non-ASCII in a declared path) are encoded as
  // UTF-8; what is already percent-encoded (the proxy's paths) is left as it is.
  return basePath + "v1/" + pathPart.replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@%/]/gu, encodeURIComponent) + query;
}

/**
 * One HTTP exchange: Vault's whole answer, or a VaultError (timeout, connection, aborted when the
 * signal fired) with the socket error as its cause. A redirect is never followed and never handed
 * on (a `status` VaultError naming where it pointed); an answer longer than the limit is abandoned
 * as soon as that is known (its Content-Length, or the bytes counted so far), never buffered.
 */
function exchange(
  transport: typeof http | typeof https,
  options: http.RequestOptions,
  body: Buffer | undefined,
  timeoutMs: number,
  req: Pick<VaultRequest, "method" | "path" | "answerLimit">,
  base: URL,
): Promise<RawResponse> {
  const limit = req.answerLimit ?? DEFAULT_ANSWER_LIMIT;
  return new Promise<RawResponse>((resolve, reject) => {
    let settled = false;
    const refuse = (err: VaultError) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clientReq.destroy();
      reject(err);
    };
    const fail = (kind: VaultFailure, detail: string, cause?: unknown) => refuse(new VaultError(kind, req.method, req.path, undefined, detail ? [detail] : [], { cause }));
    const tooLarge = (status: number) => refuse(new VaultError("status", req.method, req.path, status, [`Vault's answer is larger than ${bytesInWords(limit.bytes)} (${limit.why}); it was not read`]));
    const timer = setTimeout(() => fail("timeout", ""), timeoutMs);
    const clientReq = transport.request(options, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) return refuse(redirected(req, status, res.headers.location, base, options.path ?? "/"));
      // (A HEAD answer declares the length of a body it does not send.)
      if (req.method !== "HEAD" && Number(res.headers["content-length"] ?? 0) > limit.bytes) return tooLarge(status);
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (c: Buffer) => {
        size += c.length;
        if (size > limit.bytes) return tooLarge(status);
        chunks.push(c);
      });
      res.on("end", () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ status, headers: res.headers, body: Buffer.concat(chunks) });
      });
      res.on("error", (e) => fail("connection", connectionDetail(e), e));
      // Closed before the end: Vault (or something between) cut the answer short.
      res.on("close", () => fail("connection", "connection closed before the answer was complete"));
    });
    clientReq.on("error", (e) => {
      if (options.signal?.aborted) fail("aborted", "");
      else fail("connection", connectionDetail(e), e);
    });
    if (body) clientReq.end(body);
    else clientReq.end();
  });
}

/** A 3xx from Vault, as an error naming where it pointed (origin and path: never the query, which may carry anything). */
function redirected(req: Pick<VaultRequest, "method" | "path">, status: number, location: string | undefined, base: URL, path: string): VaultError {
  let where = "an address it did not give";
  if (location) {
    try {
      const to = new URL(location, new URL(path, base));
      where = `${to.protocol}//${to.host}${to.pathname}`;
    } catch {
      where = "an address that is not a URL";
    }
  }
  return new VaultError("status", req.method, req.path, status, [`Vault redirected to ${where}; redirects are not followed (set VAULT_ADDR to the address that answers, e.g. the active node or the load balancer)`]);
}

function bytesInWords(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n % 1_000_000 === 0) return `${n / 1_000_000} MB`;
  return `${n} bytes`;
}

/** A connection error from before the request left (refused, no such host): Vault surely never saw it. */
function surelyUnsent(err: VaultError): boolean {
  return err.kind === "connection" && NOT_SENT_CODES.has((err.cause as { code?: string } | undefined)?.code ?? "");
}

/** 412 and 429 are refusals before any work; so is a 503 from a sealed Vault. Anything else may have been acted on. */
function refusedUnprocessed(status: number, errors: string[]): boolean {
  return status === 412 || status === 429 || (status === 503 && errors.some((e) => /\bsealed\b/i.test(e)));
}

function loadCa(t: TlsConfig): Buffer[] | undefined {
  const out: Buffer[] = [];
  if (t.caCert) out.push(fs.readFileSync(t.caCert));
  if (t.caPath) {
    for (const f of fs.readdirSync(t.caPath)) {
      if (/\.(pem|crt)$/i.test(f)) out.push(fs.readFileSync(path.join(t.caPath, f)));
    }
  }
  return out.length ? out : undefined;
}

function connectionDetail(e: unknown): string {
  const code = (e as { code?: string }).code;
  return code ?? describe(e);
}

function parseJson(body: Buffer, contentType: string | undefined): unknown {
  if (body.length === 0) return undefined;
  if (contentType && !contentType.includes("json")) return undefined;
  try {
    return JSON.parse(body.toString("utf8"));
  } catch {
    return undefined;
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}
