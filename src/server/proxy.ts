/**
 * The Vault API proxy on `/v1/*`: the caller's request goes to Vault with the extension's token
 * (never the caller's) and namespace; hop-by-hop headers are dropped. GETs may be cached
 * (VAULT_DEFAULT_CACHE_ENABLED or `X-Vault-Cache-Control: cache`; `recache` refreshes, `nocache`
 * bypasses), lease-aware for leased answers, for VAULT_DEFAULT_CACHE_TTL otherwise.
 */
import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import type { SecretCache } from "../cache/secret-cache.ts";
import type { VaultClient, RawResponse } from "../vault/client.ts";
import { stripQuery, VaultError } from "../errors.ts";
import type { TokenManager } from "../vault/token.ts";
import { secondsLeft } from "../lease/policy.ts";
import { cacheHeaders, relayedBody, sendVaultFailure } from "./responses.ts";

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
  client: VaultClient;
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

export class VaultProxy {
  constructor(private readonly opts: ProxyOptions) {}

  async handle(method: string, pathAndQuery: string, headers: IncomingHttpHeaders, body: Buffer | undefined, res: ServerResponse): Promise<void> {
    const forwarded = forwardHeaders(headers, this.opts.namespace);
    const control = method === "GET" ? cacheControl(headers["x-vault-cache-control"], this.opts.defaultCacheEnabled) : { lookup: false, store: false };
    try {
      if (control.store) return await this.cached(pathAndQuery, forwarded, !control.lookup, res);
      const answer = await this.opts.tokens.withToken(async (token) => {
        const r = await this.opts.client.send({ method, path: pathAndQuery, token: token.clientToken, headers: forwarded, rawBody: body });
        // A 403 goes through the token check (dead token or policy denial) with the answer kept.
        if (r.status === 403) throw new VaultError("status", method, pathAndQuery, 403, [], { response: r });
        return r;
      });
      relay(res, answer, { "x-cache": "MISS" });
    } catch (err) {
      if (err instanceof VaultError && err.response) relay(res, err.response, { "x-cache": "MISS" });
      else sendVaultFailure(res, `/v1/${stripQuery(pathAndQuery)}`, err);
    }
  }

  private async cached(pathAndQuery: string, headers: Record<string, string>, force: boolean, res: ServerResponse): Promise<void> {
    const { cache, namespace, defaultCacheTtlMs } = this.opts;
    const key = `proxy:${namespace ?? headers["x-vault-namespace"] ?? ""}:${pathAndQuery}`;
    if (!cache.has(key)) cache.define({ key, label: `/v1/${stripQuery(pathAndQuery)}`, path: pathAndQuery, kind: "proxy", staticTtlMs: defaultCacheTtlMs ?? 0 });
    const { record, status } = await cache.get(key, { force });
    // Without a lease and without VAULT_DEFAULT_CACHE_TTL the answer is served once, not kept.
    if (!record.leaseId && !defaultCacheTtlMs) cache.delete(key);
    const now = Date.now();
    let response = record.response;
    if (record.leaseId) {
      // The replay tells the caller the time actually left, not the duration first granted.
      const lease = cache.effectiveLease(record);
      const body = Buffer.from(JSON.stringify({ ...record.json, lease_duration: secondsLeft(lease, now), renewable: lease.renewable }));
      response = { ...response, body };
    }
    relay(res, response, cacheHeaders(status, record.readAt, now));
  }
}

function relay(res: ServerResponse, answer: RawResponse, extra: Record<string, string>): void {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(answer.headers)) {
    if (value !== undefined && !DROPPED_FROM_VAULT.has(name)) headers[name] = value;
  }
  const body = relayedBody(res, answer.status, answer.body);
  headers["content-length"] = String(body.length);
  res.writeHead(answer.status, { ...headers, ...extra });
  res.end(body);
}
