/**
 * Types shared by the Vault test server's modules, including the public record types that tests
 * read through `VaultTestServer` (re-exported from server.ts).
 */
import type { IncomingHttpHeaders } from "node:http";
import type { LeaseEntry, MountEntry, NamespaceState, TokenEntry, VaultState } from "./state.ts";

/** Logical operation derived from the HTTP method, as Vault's HTTP layer does. */
export type Operation = "read" | "list" | "update" | "delete" | "patch";

/** What a handler returns; `body` is serialised as JSON (absent for 204). */
export interface HandlerResult {
  status: number;
  body?: unknown;
}

/** One request after routing to a namespace and before dispatch to a backend. */
export interface VaultRequest {
  method: string;
  op: Operation;
  /** Namespace-qualified logical path (what Vault's router sees), e.g. "team1/secret/data/x". */
  fullPath: string;
  /** Path relative to the request's namespace, e.g. "secret/data/x". */
  relPath: string;
  ns: NamespaceState;
  /** JSON body (writes) or query parameters (reads), as Vault merges them. */
  data: Record<string, unknown>;
  query: URLSearchParams;
  /** The authenticated token; undefined only on unauthenticated paths. */
  token: TokenEntry | undefined;
  remoteAddress: string;
  headers: IncomingHttpHeaders;
  state: VaultState;
}

/** A request handed to a secrets engine: `subPath` is relative to the mount. */
export interface EngineRequest extends VaultRequest {
  mount: MountEntry;
  subPath: string;
  token: TokenEntry;
}

/** Outcome of a backend's renew hook: the new TTL and Vault's capping warnings. */
export interface RenewOutcome {
  ttl: number;
  warnings: string[];
  maxValidAtMs: number | null;
}

/** A secrets engine mounted at a path. */
export interface SecretsEngine {
  readonly type: string;
  handle(req: EngineRequest): HandlerResult | Promise<HandlerResult>;
  /** Called by sys/leases/renew for a lease this engine issued. Throws VaultHttpError on refusal. */
  renewLease?(lease: LeaseEntry, increment: number, nowMs: number): RenewOutcome;
}

export type LeaseRevokeReason = "explicit" | "token-revoked" | "token-expired" | "expired" | "mount-disabled";
export type TokenRevokeReason = "explicit" | "external" | "expired" | "mount-disabled";

/** Snapshot of a lease, for tests. Times are epoch ms from the wall clock. */
export interface LeaseInfo {
  leaseId: string;
  /** Request path that created it, relative to its namespace (e.g. "database/creds/app"). */
  path: string;
  /** Namespace path ("" for root, else e.g. "team1/"). */
  namespace: string;
  issuedAt: number;
  /** The lease's own expiry; the lease also dies with its token (see revokeReason). */
  expiresAt: number;
  /** Issue time + effective max TTL, or null when unbounded. */
  maxExpiresAt: number | null;
  renewable: boolean;
  /** TTL granted by the last issue or renewal, in seconds. */
  ttlSeconds: number;
  renewals: number;
  lastRenewedAt?: number;
  revokedAt?: number;
  revokeReason?: LeaseRevokeReason;
  /** Accessor of the token that created the lease. */
  tokenAccessor: string;
  /** Copy of the secret data that was issued with the lease. */
  data: Record<string, unknown>;
}

/** Snapshot of a token, for tests. */
export interface TokenInfo {
  accessor: string;
  displayName: string;
  policies: string[];
  issuedAt: number;
  /** Null for tokens that never expire (root). */
  expiresAt: number | null;
  maxExpiresAt: number | null;
  renewable: boolean;
  revokedAt?: number;
  revokeReason?: TokenRevokeReason;
  metadata: Record<string, string>;
  /** Creation path, e.g. "auth/aws/login". */
  path: string;
  /** TTL granted by the login or the last renewal, in seconds. */
  ttlSeconds: number;
  type: "service" | "batch";
  namespace: string;
  renewals: number;
  lastRenewedAt?: number;
  entityId: string;
  /** AWS auth role the token was issued for, if any. */
  role?: string;
}

/** One AWS IAM login attempt. */
export interface LoginRecord {
  /** epochMs() when the attempt finished. */
  at: number;
  /** Auth mount path without the trailing slash, e.g. "aws". */
  mount: string;
  namespace: string;
  /** The role requested (or resolved from the friendly name); "" if not determined. */
  role: string;
  ok: boolean;
  error?: string;
  /** Caller ARN returned by STS, when STS answered. */
  arn?: string;
  /** Accessor of the issued token on success. */
  accessor?: string;
}

/** Redacted summary of a request body: key names plus a few non-secret fields. */
export interface RequestBodySummary {
  keys: string[];
  role?: string;
  lease_id?: string;
  increment?: unknown;
  ttl?: unknown;
  type?: string;
}

/** One HTTP request seen by the server. */
export interface VaultRequestRecord {
  id: number;
  method: string;
  /** Logical path as requested, without `/v1/` and without the query string. */
  path: string;
  /** The raw request target as sent (path and query, before any decoding): shows a request outside `/v1/`. */
  target: string;
  /** `X-Vault-Namespace` header value, if sent. */
  namespace?: string;
  /** epochMs() when the request arrived. */
  startedAt: number;
  /** epochMs() when the response was finished or the connection dropped. */
  endedAt?: number;
  status?: number;
  /** Accessor of the valid token used, if any ("root" style accessors included). */
  tokenAccessor?: string;
  body?: RequestBodySummary;
  /** True when an injected fault answered or dropped the request. */
  faulted?: boolean;
  /** True when the connection was destroyed without an answer. */
  dropped?: boolean;
}
