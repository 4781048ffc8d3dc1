/**
 * VaultTestServer: an in-process HTTP server that speaks Vault's API for what the product uses
 * (AWS IAM login forwarded to STS, tokens, leases, KV v1/v2, a database-style engine, the AWS
 * secrets engine, namespaces, health), plus fault injection and a request log for tests.
 * Behaviour and deviations from Vault are documented in README.md next to this file.
 *
 * Configuration happens over HTTP with the root token through Vault's real endpoints, so the same
 * seed (seed.ts) works against a real Vault.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { epochMs, sleep } from "./clock.ts";
import { VaultHttpError } from "./errors.ts";
import { base62, uuid } from "./ids.ts";
import { type RawRequest, VaultRouter, normalizeNamespace } from "./router.ts";
import { VaultState } from "./state.ts";
import { SysBackend } from "./sys.ts";
import { answerInstead, answersInstead, echoErrors, spoilAnswer, spoilsAnswer, type VaultFault } from "./faults.ts";
import { createRootToken } from "./token-store.ts";
import type {
  LeaseInfo,
  LoginRecord,
  RequestBodySummary,
  TokenInfo,
  VaultRequestRecord,
} from "./types.ts";

export { epochMs } from "./clock.ts";
export type { VaultFault } from "./faults.ts";
export type {
  LeaseInfo,
  LeaseRevokeReason,
  LoginRecord,
  RequestBodySummary,
  TokenInfo,
  TokenRevokeReason,
  VaultRequestRecord,
} from "./types.ts";

export interface VaultTestServerOptions {
  /** Root token ID; default a random `hvs.` token (a short value would pollute leak scans). */
  rootToken?: string;
  /** Stands in for https://sts.amazonaws.com; used when config/client has no sts_endpoint. */
  defaultStsEndpoint?: string;
  /** Regional STS endpoint for `use_sts_region_from_client`; undefined → Vault's region error. */
  stsEndpointForRegion?: (region: string) => string | undefined;
  /** System default lease TTL in seconds (Vault: 2764800 = 768h). */
  defaultLeaseTtlSeconds?: number;
  /** System max lease TTL in seconds (Vault: 2764800 = 768h). */
  maxLeaseTtlSeconds?: number;
  /** Pre-enable `secret/` as KV v2 in the root namespace, like `vault server -dev` (default true). */
  devMounts?: boolean;
  /**
   * How long an expired lease (or one whose token died) lingers before it is revoked; during that
   * window a renewal answers `lease expired` instead of `lease not found`. Default 0.
   */
  leaseRevocationDelayMs?: number;
  /** Full ARN (with IAM path) of a caller's canonical ARN, for `*` bindings (default: identity). */
  resolveFullArn?: (canonicalArn: string) => string | undefined;
  /** Version reported by sys/health (default "1.15.6"). */
  version?: string;
}

interface ActiveFault extends VaultFault {
  remaining: number;
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const SAFE_SUMMARY_FIELDS = ["role", "lease_id", "increment", "ttl", "type"] as const;

function defaultFaultErrors(status: number, path: string): string[] {
  switch (status) {
    case 500:
      return ["internal error"];
    case 503:
      return ["Vault is sealed"];
    case 429:
      return [`request path ${JSON.stringify(path)}: rate limit quota exceeded`];
    case 412:
      return ["required index state not present"];
    case 403:
      return ["permission denied"];
    default:
      return [(STATUS_CODES[status] ?? "error").toLowerCase()];
  }
}

function summarizeBody(body: Buffer): RequestBodySummary | undefined {
  if (body.length === 0) return undefined;
  try {
    const parsed: unknown = JSON.parse(body.toString("utf8"));
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) return { keys: [] };
    const obj = parsed as Record<string, unknown>;
    const summary: RequestBodySummary = { keys: Object.keys(obj) };
    for (const k of SAFE_SUMMARY_FIELDS) {
      const v = obj[k];
      if (v === undefined) continue;
      if (k === "role" || k === "lease_id" || k === "type") {
        if (typeof v === "string") summary[k] = v;
      } else if (typeof v === "string" || typeof v === "number") {
        summary[k] = v;
      }
    }
    return summary;
  } catch {
    return { keys: [] };
  }
}

function matchesPath(pattern: string | RegExp, path: string, fullPath: string): boolean {
  if (typeof pattern === "string") return pattern === path || pattern === fullPath;
  return pattern.test(path) || pattern.test(fullPath);
}

export class VaultTestServer {
  readonly requestLog: VaultRequestRecord[] = [];
  private readonly faults: ActiveFault[] = [];
  private readonly sockets = new Set<Socket>();
  private nextRecordId = 1;

  private constructor(
    private readonly server: Server,
    private readonly state: VaultState,
    private readonly router: VaultRouter,
    readonly url: string,
    readonly rootToken: string,
    /** Every AWS IAM login attempt, in order (shared with the auth backends). */
    readonly logins: LoginRecord[],
  ) {}

  static async start(opts: VaultTestServerOptions = {}): Promise<VaultTestServer> {
    const state = new VaultState({
      defaultLeaseTtlSeconds: opts.defaultLeaseTtlSeconds ?? 2764800,
      maxLeaseTtlSeconds: opts.maxLeaseTtlSeconds ?? 2764800,
      leaseRevocationDelayMs: opts.leaseRevocationDelayMs ?? 0,
    });
    const rootToken = opts.rootToken ?? `hvs.${base62(24)}`;
    createRootToken(state, rootToken, Date.now());
    const logins: LoginRecord[] = [];
    const sys = new SysBackend({
      state,
      version: opts.version ?? "1.15.6",
      clusterName: `vault-cluster-${base62(8).toLowerCase()}`,
      clusterId: uuid(),
      auth: {
        state,
        defaultStsEndpoint: opts.defaultStsEndpoint ?? "https://sts.amazonaws.com",
        stsEndpointForRegion: opts.stsEndpointForRegion,
        resolveFullArn: opts.resolveFullArn,
        recordLogin: (r) => logins.push(r),
      },
    });
    if (opts.devMounts ?? true) sys.enableMount(state.root, "secret/", "kv", { version: "2" }, { defaultLeaseTtl: 0, maxLeaseTtl: 0 }, "key/value secret storage");
    const router = new VaultRouter(state, sys);

    let instance: VaultTestServer | undefined;
    const server = createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
      instance?.handle(req, res).catch(() => res.destroy());
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    instance = new VaultTestServer(server, state, router, `http://127.0.0.1:${port}`, rootToken, logins);
    server.on("connection", (s: Socket) => {
      instance?.sockets.add(s);
      s.on("close", () => instance?.sockets.delete(s));
    });
    return instance;
  }

  // ---- fault injection ----------------------------------------------------------------------

  /** Adds a fault; returns a function that removes it. */
  addFault(fault: VaultFault): () => void {
    const active: ActiveFault = { ...fault, remaining: fault.times ?? Number.POSITIVE_INFINITY };
    this.faults.push(active);
    return () => {
      const i = this.faults.indexOf(active);
      if (i >= 0) this.faults.splice(i, 1);
    };
  }

  clearFaults(): void {
    this.faults.length = 0;
  }

  private takeFault(method: string, path: string, fullPath: string): ActiveFault | undefined {
    for (const f of this.faults) {
      if (f.remaining <= 0) continue;
      if (f.method !== undefined && f.method.toUpperCase() !== method) continue;
      if (!matchesPath(f.path, path, fullPath)) continue;
      f.remaining -= 1;
      if (f.remaining <= 0) this.faults.splice(this.faults.indexOf(f), 1);
      return f;
    }
    return undefined;
  }

  // ---- state controls and snapshots ---------------------------------------------------------

  /** Every request but sys/health and sys/seal-status then answers 503 `Vault is sealed`. */
  seal(): void {
    this.state.sealed = true;
  }

  unseal(): void {
    this.state.sealed = false;
  }

  /**
   * Vault goes away: the listener closes (new connections are refused) and every open connection is
   * destroyed. State is kept; `up()` listens again on the same port.
   */
  async down(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  /** Vault comes back on the same address after `down()`. */
  async up(): Promise<void> {
    if (this.server.listening) return;
    const port = Number(new URL(this.url).port);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  /**
   * Tokens that are usable now: not revoked, not past their expiry by the wall clock (root excluded).
   * After an extension stopped, anything here is something it left alive.
   */
  liveTokens(): TokenInfo[] {
    return this.tokens().filter((t) => t.revokedAt === undefined);
  }

  /** Leases that are alive now: not revoked, not expired, and their token alive (a lease dies with its token). */
  liveLeases(): LeaseInfo[] {
    const now = Date.now();
    this.state.sweep(now);
    return [...this.state.leases.values()].filter((l) => this.state.leasePhase(l, now) === "live").map((l) => this.state.leaseInfo(l));
  }

  /** Revokes a token "from outside" (by ID or accessor), and with it its leases. */
  revokeToken(tokenOrAccessor: string): boolean {
    const now = Date.now();
    this.state.sweep(now);
    const t = this.state.tokens.get(tokenOrAccessor) ?? this.state.tokensByAccessor.get(tokenOrAccessor);
    if (!t || t.revokedAtMs !== undefined) return false;
    this.state.revokeToken(t, "external", now);
    return true;
  }

  leases(): LeaseInfo[] {
    this.state.sweep(Date.now());
    return [...this.state.leases.values()].map((l) => this.state.leaseInfo(l));
  }

  tokens(): TokenInfo[] {
    this.state.sweep(Date.now());
    return [...this.state.tokens.values()].filter((t) => !t.root).map((t) => this.state.tokenInfo(t));
  }

  /** Every credential value this server issued or was given, for leak scans (see README.md). */
  issuedSecrets(): string[] {
    return [this.rootToken, ...this.state.issuedSecrets().filter((s) => s !== this.rootToken)];
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.server.closeAllConnections();
    await closed;
  }

  // ---- HTTP ---------------------------------------------------------------------------------

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: VaultRequestRecord = {
      id: this.nextRecordId++,
      method: req.method ?? "GET",
      path: "",
      target: req.url ?? "",
      startedAt: epochMs(),
    };
    this.requestLog.push(record);
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      record.endedAt = epochMs();
    };
    res.on("finish", finish);
    res.on("close", finish);

    const url = new URL(req.url ?? "/", "http://vault.invalid");
    const rawPath = url.pathname;
    let path = rawPath.startsWith("/v1/") ? rawPath.slice(4) : rawPath.replace(/^\//, "");
    try {
      path = decodeURIComponent(path);
    } catch {
      // Keep the raw path when it is not valid percent-encoding.
    }
    record.path = path;
    const nsHeader = req.headers["x-vault-namespace"];
    const ns = Array.isArray(nsHeader) ? nsHeader[0] : nsHeader;
    if (ns !== undefined) record.namespace = ns;

    let body: Buffer;
    try {
      body = await readBody(req);
    } catch {
      this.send(res, record, 413, { errors: ["http: request body too large"] });
      return;
    }
    const summary = summarizeBody(body);
    if (summary) record.body = summary;

    const fault = this.takeFault(record.method, path, `${normalizeNamespace(ns)}${path}`);
    if (fault) {
      if (fault.latencyMs !== undefined && fault.latencyMs > 0) await sleep(fault.latencyMs);
      if (fault.drop) {
        record.faulted = true;
        record.dropped = true;
        req.socket.destroy();
        finish();
        return;
      }
      if (fault.status !== undefined) {
        record.faulted = true;
        this.send(res, record, fault.status, { errors: fault.errors ?? (fault.echo ? echoErrors(req, body) : defaultFaultErrors(fault.status, path)) });
        return;
      }
      if (answersInstead(fault)) {
        record.faulted = true;
        await answerInstead(fault, req, res, path);
        finish();
        return;
      }
    }
    const spoil = fault && spoilsAnswer(fault) ? fault : undefined;

    if (!rawPath.startsWith("/v1/")) {
      this.send(res, record, 404, { errors: [] });
      return;
    }
    const raw: RawRequest = {
      method: record.method,
      path,
      query: url.searchParams,
      headers: req.headers,
      body,
      remoteAddress: req.socket.remoteAddress ?? "",
    };
    try {
      const outcome = await this.router.route(raw);
      if (outcome.tokenAccessor !== undefined) record.tokenAccessor = outcome.tokenAccessor;
      this.send(res, record, outcome.result.status, outcome.head ? undefined : outcome.result.body, outcome.head, spoil);
    } catch (e) {
      if (e instanceof VaultHttpError) {
        this.send(res, record, e.status, e.body ?? { errors: e.errors }, false, spoil);
      } else {
        this.send(res, record, 500, { errors: [`test server error: ${(e as Error).message}`] }, false, spoil);
      }
    }
  }

  private send(res: ServerResponse, record: VaultRequestRecord, status: number, body: unknown, head = false, spoil?: VaultFault): void {
    record.status = status;
    if (res.destroyed || res.writableEnded) return;
    if (spoil && body !== undefined && !head) {
      record.faulted = true;
      if (spoil.resetMidAnswer) record.dropped = true;
      spoilAnswer(spoil, res, status, body);
      return;
    }
    res.setHeader("Cache-Control", "no-store");
    if (status === 204 || (body === undefined && !head)) {
      res.writeHead(status);
      res.end();
      return;
    }
    res.setHeader("Content-Type", "application/json");
    if (head) {
      res.writeHead(status);
      res.end();
      return;
    }
    const text = `${JSON.stringify(body)}\n`;
    res.setHeader("Content-Length", Buffer.byteLength(text));
    res.writeHead(status);
    res.end(text);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new Error("too large"));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
