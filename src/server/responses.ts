/**
 * Response helpers: Vault's error envelope, and how a declared secret is rendered for `/secrets`,
 * files and `/aws/credentials`.
 */
import type { ServerResponse } from "node:http";
import type { DeclaredSecret } from "../config.ts";
import { secondsLeft, type Lease } from "../lease/policy.ts";
import { CacheTimeoutError, type CacheStatus, type SecretRecord } from "../cache/secret-cache.ts";
import { VaultError } from "../vault/client.ts";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

export function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { errors: [message] }, headers);
}

/** Maps a failure to reach a servable value to 502/504 with Vault's reason. */
export function sendVaultFailure(res: ServerResponse, what: string, err: unknown): void {
  if (err instanceof CacheTimeoutError || (err instanceof VaultError && err.kind === "timeout")) {
    sendError(res, 504, `timed out reading ${what} from Vault: ${err.message}`);
  } else if (err instanceof VaultError) {
    sendError(res, 502, `Vault error reading ${what}: ${err.reason}`);
  } else {
    sendError(res, 502, `could not read ${what} from Vault: ${err instanceof Error ? err.message : String(err)}`);
  }
}

export function cacheHeaders(status: CacheStatus, record: SecretRecord, now = Date.now()): Record<string, string> {
  return { "x-cache": status, age: String(Math.max(0, Math.floor((now - record.readAt) / 1000))) };
}

/** The JSON of `GET /secrets/<name>` and of file mode. `lease_duration` is the time left. */
export function renderSecret(secret: DeclaredSecret, record: SecretRecord, lease: Lease, now = Date.now()): Record<string, unknown> {
  const out: Record<string, unknown> = { name: secret.name, path: secret.path, data: record.data };
  if (record.metadata) out.metadata = record.metadata;
  out.lease_id = record.leaseId;
  out.lease_duration = record.leaseId ? secondsLeft(lease, now) : 0;
  out.renewable = record.leaseId ? lease.renewable : false;
  out.expires_at = record.leaseId && Number.isFinite(lease.expiresAt) ? new Date(lease.expiresAt).toISOString() : null;
  if (record.json.warnings?.length) out.warnings = record.json.warnings;
  return out;
}

export interface ContainerCredentials {
  AccessKeyId: string;
  SecretAccessKey: string;
  Token: string;
  Expiration: string;
}

/**
 * Vault's AWS secrets engine answer in the container-credentials format the AWS SDKs read.
 * `Expiration` is when the extension stops serving it (lease end less the grace period); for a
 * lease-less value, when it is next re-read, so that the SDK asks again.
 */
export function renderAwsCredentials(record: SecretRecord, lease: Lease, fallbackTtlMs: number, now = Date.now()): ContainerCredentials | undefined {
  const d = record.data;
  if (typeof d.access_key !== "string" || typeof d.secret_key !== "string") return undefined;
  const token = typeof d.security_token === "string" ? d.security_token : typeof d.session_token === "string" ? d.session_token : "";
  const end = Number.isFinite(lease.expiresAt) ? lease.expiresAt - lease.graceMs : Number.isFinite(lease.refreshAt) ? lease.refreshAt : now + fallbackTtlMs;
  return { AccessKeyId: d.access_key, SecretAccessKey: d.secret_key, Token: token, Expiration: new Date(Math.max(end, now)).toISOString() };
}
