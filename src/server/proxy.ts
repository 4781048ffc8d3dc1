/**
 * The Vault API proxy on `/v1/*`: the caller's request goes to Vault with the extension's token
 * (never the caller's) and namespace; hop-by-hop headers are dropped. GETs may be cached
 * (VAULT_DEFAULT_CACHE_ENABLED or `X-Vault-Cache-Control: cache`; `recache` refreshes, `nocache`
 * bypasses), lease-aware for leased answers, for VAULT_DEFAULT_CACHE_TTL otherwise.
 */
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { SecretCache } from "../cache/secret-cache.ts";
import type { AnswerLimit, RawResponse, VaultTransport } from "../vault/client.ts";
import type { SecretRecord } from "../cache/record.ts";
import type { CacheStatus } from "../client/wire.ts";
import type { InFlightLimit } from "./in-flight.ts";
import { stripQuery, VaultError } from "../errors.ts";
import type { TokenManager, TokenState } from "../vault/token.ts";
import { secondsLeft } from "../lease/policy.ts";
import { cacheHeaders, relayedBody, sendError, sendVaultFailure } from "./responses.ts";
import { checkNamespace, type Target } from "./guards.ts";

/** Not forwarded: hop-by-hop, recomputed, or ours (caller token, cache control). */
const DROPPED = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "content-length",
  "accept-encoding",
  "expect",
  "x-vault-token",
  "authorization",
  "x-aws-parameters-secrets-token",
  "x-vault-cache-control",
]);

const DROPPED_FROM_VAULT = new Set(["connection", "keep-alive", "transfer-encoding", "content-length", "trailer", "upgrade", "proxy-authenticate"]);

export interface ProxyOptions {
  client: VaultTransport;
  tokens: TokenManager;
  cache: SecretCache;
  namespace?: string;
  defaultCacheEnabled: boolean;
  defaultCacheTtlMs?: number;
}

export interface CacheControl {
  lookup: boolean;
  store: boolean;
}

/** VLE's X-Vault-Cache-Control semantics: `cache`, `recache`, `nocache`, comma-separated. */
export function cacheControl(header: string | string[] | undefined, defaultEnabled: boolean): CacheControl {
  const values = new Set(
    (Array.isArray(header) ? header.join(",") : (header ?? ""))
      .split(",")
      .map((v) => v.trim().toLowerCase())
      .filter(Boolean),
  );
  if (values.has("nocache")) return { lookup: false, store: false };
  const enabled = defaultEnabled || values.has("cache") || values.has("recache");
  return { lookup: enabled && !values.has("recache"), store: enabled };
}

export function forwardHeaders(headers: IncomingHttpHeaders, namespace: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || DROPPED.has(name)) continue;
    out[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  // The configured namespace wins; without one, the caller's passes through.
  if (namespace) delete out["x-vault-namespace"];
  return out;
}

/**
 * The Vault path a checked `/v1/...` target is forwarded to: its own decoded segments after `v1`,
 * each percent-encoded again, and its checked query. Undefined when no segment follows `/v1`.
 */
export function forwardedPath(target: Pick<Target, "pathname" | "query">): string | undefined {
  const segments = target.pathname.split("/").slice(2);
  if (segments.length === 0 || (segments.length === 1 && segments[0] === "")) return undefined;
  return segments.map(encodeURIComponent).join("/") + (target.query ? `?${target.query}` : "");
}

/** Lambda's own response limit: a longer answer could not reach the handler anyway. */
const PROXIED_ANSWER_LIMIT: AnswerLimit = { bytes: 6 * 1024 * 1024, why: "Lambda's response limit" };

/**
 * How many distinct cached proxy reads are kept (least recently used out). Each holds one Vault
 * answer (≤ 6 MiB, most a few KiB); 256 covers any sane set of paths a function reads, while a
 * caller cycling query strings cannot grow the cache without bound.
 */
export const MAX_CACHED_PROXY_READS = 256;

/**
 * And how many bytes of Vault's answers they hold at most (least recently used out): 256 answers
 * of up to 6 MiB each would be 1.5 GiB in an environment of 128 MiB, and every X-Vault-* header is
 * part of the key, so a caller can make any read a new entry.
 */
export const MAX_CACHED_PROXY_BYTES = 32 * 1024 * 1024;

/** Methods whose repetition changes nothing: the only ones retried after Vault may have seen them. */
const REPEATABLE = new Set(["GET", "HEAD", "LIST"]);

export class VaultProxy {
  /** Cache keys of proxy reads, least recently used first, with the size of the answer each holds. */
  private readonly recent = new Map<string, number>();
  private cachedBytes = 0;

  constructor(private readonly opts: ProxyOptions) {}

  async handle(method: string, pathAndQuery: string, headers: IncomingHttpHeaders, body: Buffer | undefined, res: ServerResponse, limit: InFlightLimit): Promise<void> {
    const namespaceProblem = checkNamespace(headers["x-vault-namespace"]);
    if (namespaceProblem) return sendError(res, 400, namespaceProblem);
    const forwarded = forwardHeaders(headers, this.opts.namespace);
    const endpoint = tokenEndpoint(pathAndQuery);
    const refusal = (endpoint && refusalOf(endpoint, forwarded, pathAndQuery, body, this.opts.tokens.live)) ?? leaseRefusal(pathAndQuery, body, this.opts.cache.liveLeases);
    if (refusal) return sendError(res, 403, refusal);
    // A wrapped answer is a single-use token: replaying one from the cache would hand out a used one.
    const cacheable = method === "GET" && forwarded["x-vault-wrap-ttl"] === undefined;
    const control = cacheable ? cacheControl(headers["x-vault-cache-control"], this.opts.defaultCacheEnabled) : { lookup: false, store: false };
    const key = control.store ? this.define(pathAndQuery, forwarded) : undefined;
    // A cached answer never waits for a slot.
    const held = key !== undefined && control.lookup ? this.opts.cache.fresh(key) : undefined;
    if (key !== undefined && held) return this.replay(res, key, held, "HIT", endpoint);
    if (!limit.tryEnter()) return sendError(res, 429, `too many requests in flight to Vault (more than ${limit.max})`);
    let used = "";
    try {
      if (key !== undefined) {
        // (A refusal from Vault comes back as an error holding its answer, relayed below.)
        used = this.opts.tokens.current?.clientToken ?? "";
        const { record, status } = await this.opts.cache.get(key, { force: !control.lookup });
        return this.replay(res, key, record, status, endpoint);
      }
      const answer = await this.opts.tokens.withToken(async (token) => {
        used = token.clientToken;
        const r = await this.opts.client.send({ method, path: pathAndQuery, token: token.clientToken, headers: forwarded, rawBody: body, repeatable: REPEATABLE.has(method), answerLimit: PROXIED_ANSWER_LIMIT });
        // A 403 goes through the token check (dead token or policy denial) with the answer kept.
        if (r.status === 403) throw new VaultError("status", method, pathAndQuery, 403, [], { response: r });
        return r;
      });
      relay(res, answer, { "x-cache": "MISS" }, used, endpoint);
    } catch (err) {
      if (err instanceof VaultError && err.response) relay(res, err.response, { "x-cache": "MISS" }, used, endpoint);
      else sendVaultFailure(res, `/v1/${stripQuery(pathAndQuery)}`, err);
    } finally {
      limit.leave();
    }
  }

  /**
   * The cache entry of a proxied read: keyed on everything that changes Vault's answer (the path
   * and query, and every X-Vault-* header: namespace, wrapping, request forwarding, consistency...),
   * and reading with those same headers. The least recently used entry beyond
   * MAX_CACHED_PROXY_READS is dropped.
   */
  private define(pathAndQuery: string, forwarded: Record<string, string>): string {
    const { cache, defaultCacheTtlMs } = this.opts;
    const vaultHeaders = Object.fromEntries(Object.entries(forwarded).filter(([name]) => name.startsWith("x-vault-")).sort(([a], [b]) => (a < b ? -1 : 1)));
    const key = `proxy:${JSON.stringify([this.opts.namespace ?? "", pathAndQuery, vaultHeaders])}`;
    if (!cache.has(key)) {
      this.forget(key);
      cache.define({ key, label: `/v1/${stripQuery(pathAndQuery)}`, path: pathAndQuery, kind: "proxy", staticTtlMs: defaultCacheTtlMs ?? 0, request: { headers: vaultHeaders, answerLimit: PROXIED_ANSWER_LIMIT } });
    }
    const bytes = this.recent.get(key) ?? 0;
    this.recent.delete(key);
    this.recent.set(key, bytes);
    this.evict(key);
    return key;
  }

  /** Records the size of the answer `key` now holds, and drops the least recently used beyond the bounds. */
  private sized(key: string, bytes: number): void {
    const before = this.recent.get(key);
    if (before === undefined) return;
    this.recent.set(key, bytes);
    this.cachedBytes += bytes - before;
    this.evict(key);
  }

  /** Least recently used out (never `keep`, the entry being answered) until within both bounds. */
  private evict(keep: string): void {
    for (const oldest of this.recent.keys()) {
      if (this.recent.size <= MAX_CACHED_PROXY_READS && this.cachedBytes <= MAX_CACHED_PROXY_BYTES) break;
      if (oldest === keep) continue;
      this.forget(oldest);
      this.opts.cache.delete(oldest);
    }
  }

  private forget(key: string): void {
    this.cachedBytes -= this.recent.get(key) ?? 0;
    this.recent.delete(key);
  }

  private replay(res: ServerResponse, key: string, record: SecretRecord, status: CacheStatus, endpoint: TokenEndpoint | undefined): void {
    const { cache, defaultCacheTtlMs } = this.opts;
    // Without a lease and without VAULT_DEFAULT_CACHE_TTL the answer is served once, not kept.
    if (!record.leaseId && !defaultCacheTtlMs) {
      cache.delete(key);
      this.forget(key);
    } else this.sized(key, record.response.body.length);
    const now = Date.now();
    let response = record.response;
    if (record.leaseId) {
      // The replay tells the caller the time actually left, not the duration first granted.
      const lease = cache.effectiveLease(record);
      const body = Buffer.from(JSON.stringify({ ...record.json, lease_duration: secondsLeft(lease, now), renewable: lease.renewable }));
      response = { ...response, body };
    }
    relay(res, response, cacheHeaders(status, record.readAt, now), record.token.clientToken, endpoint);
  }
}

/**
 * A proxied path that is one of the token store's own endpoints, in any case or encoding: `self`
 * is revoke-self and renew-self, `lifecycle` the revocations and renewals of a token named in the
 * request (revoke, revoke-orphan, revoke-accessor, renew, renew-accessor).
 */
type TokenEndpoint = { what: string; kind: "create" | "lookup-self" | "self" | "lifecycle" | "other" };

/** `auth/token/<sub>` anywhere in the path (a namespace may prefix it), decoded and lower-cased. */
export function tokenEndpoint(pathAndQuery: string): TokenEndpoint | undefined {
  const segments = decodedSegments(stripQuery(pathAndQuery));
  for (let i = 0; i + 2 < segments.length; i++) {
    if (segments[i] !== "auth" || segments[i + 1] !== "token") continue;
    const sub = segments[i + 2]!;
    const what = segments.slice(i).join("/");
    if (sub.startsWith("create")) return { what, kind: "create" };
    if (sub === "lookup-self") return { what, kind: "lookup-self" };
    if (sub === "revoke-self" || sub === "renew-self") return { what, kind: "self" };
    if (/^(revoke|renew)/.test(sub)) return { what, kind: "lifecycle" };
    return { what, kind: "other" };
  }
  return undefined;
}

/** Why a token-store request is refused, if it is. */
function refusalOf(endpoint: TokenEndpoint, forwarded: Record<string, string>, pathAndQuery: string, body: Buffer | undefined, own: ReadonlyArray<Pick<TokenState, "clientToken" | "accessor">>): string | undefined {
  if (endpoint.kind === "create") {
    return `${endpoint.what} is refused: a token made from the extension's token must not outlive this environment (the extension revokes its own token when it stops; log in with the function's own identity instead)`;
  }
  // Revoked, the token takes every lease the extension serves with it; renewed with a short
  // increment, it dies early. The extension keeps its tokens alive (a replaced one holds leases
  // still served) and revokes them when it stops.
  const names = own.flatMap((t) => [t.clientToken, t.accessor]).filter((v) => v !== "");
  const named = () => [...rawSegments(stripQuery(pathAndQuery)), ...namedIn(pathAndQuery, body)];
  if (endpoint.kind === "self" || (endpoint.kind === "lifecycle" && named().some((v) => names.includes(v)))) {
    const verb = endpoint.what.includes("renew") ? "renews" : "revokes";
    return `${endpoint.what} is refused: the extension ${verb} its own token (a caller that revokes it or shortens it cuts off every value the extension serves)`;
  }
  if (endpoint.kind === "lookup-self" && forwarded["x-vault-wrap-ttl"] !== undefined) {
    return `${endpoint.what} with X-Vault-Wrap-TTL is refused: the wrapped answer would carry the extension's own token`;
  }
  return undefined;
}

/** Lease endpoints under `sys/` (with or without `leases/`) that end or change a lease Vault holds. */
const LEASE_OPS = new Set(["renew", "revoke", "revoke-prefix", "revoke-force"]);

/**
 * Why a proxied request is refused for naming a lease the extension holds (by id, or by a prefix
 * that covers it), if it is: revoked, the extension would go on serving a dead credential;
 * renewed with a short increment, one that dies early. A lease the caller got itself is its own.
 */
export function leaseRefusal(pathAndQuery: string, body: Buffer | undefined, held: ReadonlyArray<{ leaseId: string }>): string | undefined {
  if (held.length === 0) return undefined;
  const segments = decodedSegments(stripQuery(pathAndQuery));
  for (let i = 0; i + 1 < segments.length; i++) {
    if (segments[i] !== "sys") continue;
    const at = segments[i + 1] === "leases" ? i + 2 : i + 1;
    const op = segments[at];
    if (op === undefined || !LEASE_OPS.has(op)) continue;
    const prefix = op === "revoke-prefix" || op === "revoke-force";
    // The lease (or prefix) in the path keeps its case: lease ids are case-sensitive.
    const inPath = rawSegments(stripQuery(pathAndQuery)).slice(at + 1).join("/");
    // Trimmed, and without a leading slash: what Vault may make of them before looking the lease up.
    const named = [inPath, ...namedIn(pathAndQuery, body)].map((v) => v.trim().replace(/^\/+/, "")).filter((v) => v !== "");
    const hit = held.some(({ leaseId }) => named.some((v) => leaseId === v || (prefix && leaseId.startsWith(v))));
    if (hit) return `${segments.slice(i, at + 1).join("/")} is refused: it names a lease the extension holds (the extension renews and revokes its own leases; ask /secrets/<name>?refresh=true for a new value)`;
  }
  return undefined;
}

/** The strings a request names: every string value of its JSON body and of its query. */
function namedIn(pathAndQuery: string, body: Buffer | undefined): string[] {
  const out: string[] = [];
  const q = pathAndQuery.indexOf("?");
  if (q >= 0) for (const [k, v] of new URLSearchParams(pathAndQuery.slice(q + 1))) out.push(k, v);
  if (body && body.length > 0) {
    try {
      collectStrings(JSON.parse(body.toString("utf8")), out);
    } catch {
      // Not JSON: Vault refuses it too.
    }
  }
  return out;
}

function collectStrings(node: unknown, out: string[]): void {
  if (typeof node === "string") out.push(node);
  else if (node !== null && typeof node === "object") for (const v of Object.values(node)) collectStrings(v, out);
}

/** Path segments, percent-decoded (left as they are where the encoding is bad). */
function rawSegments(path: string): string[] {
  return path.split("/").map((s) => {
    try {
      return decodeURIComponent(s);
    } catch {
      return s;
    }
  });
}

/** Path segments, percent-decoded and lower-cased: how Vault's router matches its own endpoints. */
function decodedSegments(path: string): string[] {
  return rawSegments(path).map((s) => s.toLowerCase());
}

/**
 * Vault's answer without the extension's own token: `data.id` (and `data.accessor`) of lookup-self, and any field whose
 * value is that token (`auth/token/lookup` of it, `auth.client_token`, ...). An answer that still
 * holds it after that (not JSON, or the token inside a longer string) is withheld.
 */
function withoutOwnToken(answer: RawResponse, token: string, endpoint: TokenEndpoint | undefined): RawResponse | undefined {
  const mentions = token !== "" && answer.body.includes(token);
  if (!mentions && endpoint?.kind !== "lookup-self") return answer;
  let json: unknown;
  try {
    json = JSON.parse(answer.body.toString("utf8"));
  } catch {
    return mentions ? undefined : answer;
  }
  if (endpoint?.kind === "lookup-self") {
    const data = (json as { data?: Record<string, unknown> } | null)?.data;
    // The accessor too: it names the token to revoke-accessor and lookup-accessor.
    if (data && typeof data === "object") {
      delete data.id;
      delete data.accessor;
    }
  }
  if (token !== "") dropValue(json, token);
  const body = Buffer.from(JSON.stringify(json));
  if (token !== "" && body.includes(token)) return undefined;
  return { ...answer, body };
}

function dropValue(node: unknown, value: string): void {
  if (node === null || typeof node !== "object") return;
  for (const [k, v] of Object.entries(node)) {
    if (v === value) delete (node as Record<string, unknown>)[k];
    else dropValue(v, value);
  }
}

function relay(res: ServerResponse, vaultAnswer: RawResponse, extra: Record<string, string>, ownToken: string, endpoint: TokenEndpoint | undefined): void {
  // An error answer quoting the token keeps Vault's words: relayedBody scrubs error bodies with the
  // redactor, which knows the token. A success body is the caller's payload and is cut instead.
  const answer = vaultAnswer.status >= 400 ? vaultAnswer : withoutOwnToken(vaultAnswer, ownToken, endpoint);
  if (!answer) return sendError(res, 502, "Vault's answer carried the extension's own token; it was withheld");
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined && !DROPPED_FROM_VAULT.has(name)) headers[name] = value;
  }
  const body = relayedBody(res, answer.status, answer.body);
  headers["content-length"] = String(body.length);
  res.writeHead(answer.status, { ...headers, ...extra });
  res.end(body);
}
