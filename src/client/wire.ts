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

/** `GET /health`. */
export interface HealthBody {
  status: "ok" | "starting";
  token: { ttl_seconds: number; renewable: boolean } | null;
  /** Declared secrets and cached proxy reads that hold a value. */
  secrets: number;
  /** Leases held and alive. */
  leases: number;
  uptime_seconds: number;
}

/** Every error answer of the extension: Vault's envelope. */
export interface ErrorBody {
  errors: string[];
}
