/**
 * What Vault answered for a read, turned into a record the cache can hold: the data map (KV v2
 * unwrapped), the lease as the policy plans it, and the token that read it.
 */
import { leaseProblem, planLease, planProxyStatic, planStatic, type Lease } from "../lease/policy.ts";
import { VaultError, vaultMessages, type HttpAnswer } from "../errors.ts";
import type { TokenState } from "../vault/token.ts";

/** The JSON of a Vault read (`GET /v1/<path>`). */
export interface VaultSecretJson {
  request_id?: string;
  /** Vault's JSON is not trusted to be well formed: `leaseProblem` checks these two. */
  lease_id?: unknown;
  renewable?: boolean;
  lease_duration?: unknown;
  data?: Record<string, unknown> | null;
  warnings?: string[] | null;
}

/** What Vault answered for a read, and when it stops being servable. */
export interface SecretRecord {
  path: string;
  response: HttpAnswer;
  json: VaultSecretJson;
  /** The secret's key/value map (KV v2 unwrapped from `data.data`). */
  data: Record<string, unknown>;
  /** KV v2 metadata (version, created_time...), when present. */
  metadata?: Record<string, unknown>;
  /** Empty when Vault gave no lease (KV, most proxy reads). */
  leaseId: string;
  /** Duration Vault first granted, in seconds: the increment asked for on renewal. */
  leaseDurationS: number;
  token: TokenState;
  /** The secret's own lease (`effectiveLease` in the policy bounds it by its token's). */
  lease: Lease;
  readAt: number;
}

/** How a record's lease is planned when Vault gives none. */
export interface RecordSpec {
  path: string;
  /** `declared`: never expires, re-read after `staticTtlMs`; `proxy`: expires after `staticTtlMs`. */
  kind: "declared" | "proxy";
  staticTtlMs: number;
}

/**
 * Turns a 2xx answer into a record; throws a VaultError when it is not JSON, or when it carries a
 * lease that cannot be served (`leaseProblem`): such an answer is never served, and the read is
 * not repeated at once (the cache backs off), since each read may create another secret.
 */
export function parseRecord(spec: RecordSpec, response: HttpAnswer, token: TokenState, now: number, graceMs: number, jitter?: number): SecretRecord {
  let json: VaultSecretJson;
  try {
    json = JSON.parse(response.body.toString("utf8")) as VaultSecretJson;
  } catch (cause) {
    throw new VaultError("status", "GET", spec.path, response.status, ["Vault's answer is not JSON"], { cause });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new VaultError("status", "GET", spec.path, response.status, ["Vault's answer is not a JSON object"]);
  const problem = leaseProblem(json.lease_id, json.lease_duration);
  if (problem) throw new UnservableLease(spec.path, response, problem, typeof json.lease_id === "string" ? json.lease_id : undefined);
  const { data, metadata } = unwrap(json.data);
  const leaseId = typeof json.lease_id === "string" ? json.lease_id : "";
  const leaseDurationS = typeof json.lease_duration === "number" ? json.lease_duration : 0;
  const lease = leaseId
    ? planLease(leaseDurationS * 1000, now, json.renewable ?? false, graceMs, jitter)
    : spec.kind === "proxy"
      ? planProxyStatic(now, spec.staticTtlMs)
      : planStatic(now, spec.staticTtlMs);
  return { path: spec.path, response, json, data, metadata, leaseId, leaseDurationS, token, lease, readAt: now };
}

/**
 * A read Vault answered with a lease that cannot be served. The lease may still be alive in Vault
 * (a database user was created): the cache keeps its id, so that it is revoked at shutdown.
 */
export class UnservableLease extends VaultError {
  constructor(
    path: string,
    response: HttpAnswer,
    problem: string,
    readonly leaseId: string | undefined,
  ) {
    super("status", "GET", path, response.status, [`Vault answered with a lease that cannot be served: ${problem}`]);
  }
}

/** KV v2 wraps the secret in `data.data` next to `data.metadata`. */
export function unwrap(data: Record<string, unknown> | null | undefined): { data: Record<string, unknown>; metadata?: Record<string, unknown> } {
  if (!data) return { data: {} };
  const inner = data.data;
  const metadata = data.metadata;
  if (inner && typeof inner === "object" && !Array.isArray(inner) && metadata && typeof metadata === "object" && "version" in metadata) {
    return { data: inner as Record<string, unknown>, metadata: metadata as Record<string, unknown> };
  }
  return { data };
}

/** A non-2xx answer to a read, with Vault's reason (or "no secret at <path>" for a bare 404). */
export function readFailure(method: string, path: string, response: HttpAnswer): VaultError {
  let parsed: unknown;
  try {
    parsed = JSON.parse(response.body.toString("utf8"));
  } catch {
    /* not JSON */
  }
  const { errors, warnings } = vaultMessages(parsed);
  if (response.status === 404 && errors.length === 0) errors.push(`no secret at ${path}`);
  return new VaultError("status", method, path, response.status, errors, { warnings, response });
}
