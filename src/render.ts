/**
 * How a held secret is put on the wire: the JSON of `GET /secrets/<name>` (which is also the
 * content of its file in file mode) and the container-credentials JSON of `/aws/credentials/<name>`.
 * Shapes are the wire contract in ./client/wire.ts.
 */
import type { SecretRecord } from "./cache/record.ts";
import type { ContainerCredentialsBody, SecretBody } from "./client/wire.ts";
import type { DeclaredSecret } from "./config.ts";
import { secondsLeft, type Lease } from "./lease/policy.ts";

/** The JSON of `GET /secrets/<name>` and of file mode. `lease_duration` is the time left. */
export function renderSecret(secret: DeclaredSecret, record: SecretRecord, lease: Lease, now = Date.now()): SecretBody {
  const leased = record.leaseId !== "";
  const warnings = record.json.warnings;
  return {
    name: secret.name,
    path: secret.path,
    data: record.data,
    ...(record.metadata ? { metadata: record.metadata } : {}),
    lease_id: record.leaseId,
    lease_duration: leased ? secondsLeft(lease, now) : 0,
    renewable: leased ? lease.renewable : false,
    expires_at: leased && Number.isFinite(lease.expiresAt) ? new Date(lease.expiresAt).toISOString() : null,
    ...(warnings?.length ? { warnings } : {}),
  };
}

/**
 * Vault's AWS secrets engine answer in the container-credentials format the AWS SDKs read.
 * `Expiration` is when the extension stops serving it (lease end less the grace period); for a
 * lease-less value, when it is next re-read, so that the SDK asks again. Undefined when the secret
 * holds no AWS credentials.
 */
export function renderAwsCredentials(record: SecretRecord, lease: Lease, fallbackTtlMs: number, now = Date.now()): ContainerCredentialsBody | undefined {
  const d = record.data;
  if (typeof d.access_key !== "string" || typeof d.secret_key !== "string") return undefined;
  const token = typeof d.security_token === "string" ? d.security_token : typeof d.session_token === "string" ? d.session_token : "";
  const end = Number.isFinite(lease.expiresAt) ? lease.expiresAt - lease.graceMs : Number.isFinite(lease.refreshAt) ? lease.refreshAt : now + fallbackTtlMs;
  return { AccessKeyId: d.access_key, SecretAccessKey: d.secret_key, Token: token, Expiration: new Date(Math.max(end, now)).toISOString() };
}
