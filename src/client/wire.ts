/**
 * The wire contract of the localhost API: the JSON bodies and headers the extension answers, in one
 * place, shared by the server (which builds them) and the handler client (which reads them).
 * Types only: the client imports this with `import type`, so nothing of the extension is loaded at
 * run time, and the types ship with the client's declarations (./wire.d.ts).
 */

/** `X-Cache`: served from the cache, read from Vault for this request, or served while Vault fails. */
export type CacheStatus = "HIT" | "MISS" | "STALE";

/** `GET /secrets/<name>` (and the content of a secret's file in file mode). */
export interface SecretBody<T = Record<string, unknown>> {
  /** As declared: "DB" for VAULT_SECRET_PATH_DB, "default" for VAULT_SECRET_PATH. */
  name: string;
  /** The Vault path it is read from. */
  path: string;
  /** The secret's key/value map (KV v2 unwrapped). */
  data: T;
  /** KV v2 metadata (version, created_time...), when present. */
  metadata?: Record<string, unknown>;
  /** Empty for a value without a lease (KV). */
  lease_id: string;
  /** Seconds left before the extension stops serving it (its lease bounded by its token's); 0 without a lease. */
  lease_duration: number;
  renewable: boolean;
  /** ISO 8601 end of the lease; null without a lease. */
  expires_at: string | null;
  /** Vault's warnings on the read, when it gave any. */
  warnings?: string[];
}

/** `GET /aws/credentials/<name>`: the container-credentials format the AWS SDKs read. */
export interface ContainerCredentialsBody {
  AccessKeyId: string;
  SecretAccessKey: string;
  /** `""` for IAM users. */
  Token: string;
  /** ISO 8601: when the extension stops serving them (lease end less the grace period). */
  Expiration: string;
}

/** `/health`'s status: `degraded` while a refresh fails or a value is served STALE, `failing` without a valid token or with a declared secret expired and unavailable. */
export type HealthStatus = "ok" | "degraded" | "failing";

/** How refreshing something (the token, a secret) or talking to Vault has been going. */
export interface OutcomeBody {
  /** ISO 8601: the last success; null before the first. */
  last_refresh: string | null;
  /** The last failure (kept after a later success, for the record); null if none. */
  last_error: { at: string; message: string } | null;
  /** Failures since the last success: above 0 means it is failing now. */
  consecutive_failures: number;
}

/** One declared secret in `/health`: never its value. */
export interface SecretHealthBody extends OutcomeBody {
  /** The Vault path it is read from. */
  path: string;
  /** Seconds before it stops being served (lease end less the grace period); null without a lease (it does not expire) or without a value. */
  ttl_seconds: number | null;
  /** Served `X-Cache: STALE` since its refreshes started failing. */
  stale: boolean;
}

/** `GET /health` (open without the caller token; never a secret). */
export interface HealthBody {
  status: HealthStatus;
  /** Why the status is not `ok`, in plain words; empty when it is. */
  reasons: string[];
  /** The package's version of this build. */
  version: string;
  /** `standalone` when the extension runs on the Node.js the layer carries, `slim` on the runtime's. */
  flavor: "slim" | "standalone";
  /** Lambda's execution mode (`AWS_LAMBDA_INITIALIZATION_TYPE`; `on-demand` when unset). */
  mode: string;
  uptime_seconds: number;
  /** The extension's Vault token; null before the first login. `ttl_seconds` is null for a token without a TTL. */
  token: (OutcomeBody & { ttl_seconds: number | null; renewable: boolean }) | null;
  /** Declared secrets by name. */
  secrets: Record<string, SecretHealthBody>;
  /** Leases held and alive (declared secrets and cached proxy reads). */
  leases: number;
  /** Requests to Vault: `last_success` is the last one Vault answered (a 4xx counts: it is up); failures are errors worth retrying (unreachable, timeouts, 5xx, sealed). */
  vault: { last_success: string | null; last_error: OutcomeBody["last_error"]; consecutive_failures: number };
}

/** Every error answer of the extension: Vault's envelope. */
export interface ErrorBody {
  errors: string[];
}
