/**
 * Handler-side client of vault-lambda-agent: reads secrets from the extension's localhost API.
 * Dependency-free (node:http only), so it costs a function nothing at cold start.
 *
 *   import { getSecret, getField, awsCredentials } from "vault-lambda-agent/client";
 *   const db = await getSecret("db");                  // { data: { username, password }, expiresAt, ... }
 *   const password = await getField("db", "password");
 *   const s3 = new S3Client({ credentials: awsCredentials("deploy") });
 */
import http from "node:http";
import type { CacheStatus, ContainerCredentialsBody, ErrorBody, SecretBody } from "./wire.ts";

export type { CacheStatus, ContainerCredentialsBody, HealthBody, SecretBody } from "./wire.ts";

export interface ClientOptions {
  /** Port of the extension; default `VAULT_AGENT_PORT` or 8200. */
  port?: number;
  /** Caller token; default `AWS_SESSION_TOKEN` (or `AWS_CONTAINER_AUTHORIZATION_TOKEN` under SnapStart). */
  token?: string;
  /** Per-request timeout in ms; default 6000 (longer than the extension's own 5 s wait on Vault). */
  timeoutMs?: number;
}

export interface Secret<T = Record<string, unknown>> {
  name: string;
  path: string;
  data: T;
  metadata?: Record<string, unknown>;
  /** Empty for values without a lease (KV). */
  leaseId: string;
  /** Seconds left before the extension stops serving this value; 0 without a lease. */
  leaseDuration: number;
  renewable: boolean;
  /** When the extension stops serving it; undefined for values without a lease. */
  expiresAt?: Date;
  /** `HIT`, `MISS` (fresh from Vault) or `STALE` (Vault unreachable, value still valid). */
  cache: CacheStatus;
}

export interface AwsCredentialIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

/**
 * How a read failed: `http` (the extension answered with an error status), `unreachable` (nothing
 * listens on the port), `timeout` (no answer in time), `connection` (the connection failed, or was
 * reset twice).
 */
export type VaultAgentErrorCode = "http" | "unreachable" | "timeout" | "connection";

/**
 * A failed read, with what to check. `status` is the HTTP status the extension answered, 0 when it
 * gave none; `code` tells those failures apart.
 */
export class VaultAgentError extends Error {
  readonly code: VaultAgentErrorCode;

  constructor(
    message: string,
    readonly status: number,
    options?: { cause?: unknown; code?: VaultAgentErrorCode },
  ) {
    super(message, options);
    this.name = "VaultAgentError";
    this.code = options?.code ?? (status > 0 ? "http" : "connection");
  }
}

export async function getSecret<T = Record<string, unknown>>(name: string, opts: ClientOptions & { refresh?: boolean } = {}): Promise<Secret<T>> {
  const { status, body, headers } = await request(`/secrets/${encodeURIComponent(name)}${opts.refresh ? "?refresh=true" : ""}`, opts);
  if (status !== 200) throw failure(status, body, name);
  const j = JSON.parse(body) as SecretBody<T>;
  return {
    name: j.name,
    path: j.path,
    data: j.data,
    metadata: j.metadata,
    leaseId: j.lease_id,
    leaseDuration: j.lease_duration,
    renewable: j.renewable,
    expiresAt: j.expires_at ? new Date(j.expires_at) : undefined,
    cache: cacheStatus(headers["x-cache"]),
  };
}

/** One field of a declared secret, as a string (non-string values come back as JSON). */
export async function getField(name: string, key: string, opts: ClientOptions & { refresh?: boolean } = {}): Promise<string> {
  const q = new URLSearchParams({ field: key });
  if (opts.refresh) q.set("refresh", "true");
  const { status, body } = await request(`/secrets/${encodeURIComponent(name)}?${q}`, opts);
  if (status !== 200) throw failure(status, body, name);
  return body;
}

/**
 * An AWS SDK v3 credential provider backed by `/aws/credentials/<name>` (a declared secret read
 * from Vault's AWS secrets engine). It returns `expiration`, so the SDK asks again before the
 * extension stops serving the credentials.
 */
export function awsCredentials(name: string, opts: ClientOptions = {}): () => Promise<AwsCredentialIdentity> {
  return async () => {
    const { status, body } = await request(`/aws/credentials/${encodeURIComponent(name)}`, opts);
    if (status !== 200) throw failure(status, body, name);
    const j = JSON.parse(body) as ContainerCredentialsBody;
    return { accessKeyId: j.AccessKeyId, secretAccessKey: j.SecretAccessKey, sessionToken: j.Token || undefined, expiration: new Date(j.Expiration) };
  };
}

interface Answer {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

const RETRYABLE = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

/**
 * One retry on a reset connection: a pooled socket may have died while the environment was frozen.
 * Whatever still fails is a VaultAgentError (status 0), the socket error as its cause.
 */
async function request(path: string, opts: ClientOptions): Promise<Answer> {
  try {
    return await once(path, opts);
  } catch (err) {
    if (!isReset(err)) throw err;
    try {
      return await once(path, opts);
    } catch (again) {
      if (again instanceof VaultAgentError) throw again;
      throw new VaultAgentError(`the connection to vault-lambda-agent for ${path} failed twice: ${(again as Error).message}`, 0, { cause: again, code: "connection" });
    }
  }
}

function isReset(err: unknown): boolean {
  return RETRYABLE.has((err as NodeJS.ErrnoException).code ?? "") || (err as Error).message === "socket hang up";
}

function once(path: string, opts: ClientOptions): Promise<Answer> {
  const port = opts.port ?? Number(process.env.VAULT_AGENT_PORT || 8200);
  const token = opts.token ?? process.env.AWS_SESSION_TOKEN ?? process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN ?? "";
  const timeoutMs = opts.timeoutMs ?? 6_000;
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers: { "x-vault-token": token }, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new VaultAgentError(`vault-lambda-agent did not answer ${path} within ${timeoutMs} ms`, 0, { code: "timeout" })));
    req.on("error", (err: NodeJS.ErrnoException) => {
      if (err.code === "ECONNREFUSED") {
        reject(
          new VaultAgentError(
            `nothing listens on 127.0.0.1:${port}: is the vault-lambda-agent layer attached to this function, VAULT_RUN_MODE not "file", and VAULT_AGENT_PORT the same for the function and the extension?`,
            0,
            { cause: err, code: "unreachable" },
          ),
        );
      } else if (err instanceof VaultAgentError || isReset(err)) reject(err);
      else reject(new VaultAgentError(`the request to vault-lambda-agent for ${path} failed: ${err.message}`, 0, { cause: err, code: "connection" }));
    });
  });
}

function failure(status: number, body: string, name: string): VaultAgentError {
  let reason = body;
  try {
    const j = JSON.parse(body) as Partial<ErrorBody>;
    if (j.errors?.length) reason = j.errors.join("; ");
  } catch {
    /* plain text */
  }
  const hint =
    status === 404
      ? ` (is VAULT_SECRET_PATH_${name.toUpperCase()} set on the function?)`
      : status === 403
        ? " (the caller token must be this environment's AWS_SESSION_TOKEN)"
        : status === 502 || status === 504
          ? " (Vault could not be reached or refused the read; see the extension's log)"
          : "";
  return new VaultAgentError(`vault-lambda-agent answered ${status} for secret "${name}": ${reason}${hint}`, status, { code: "http" });
}

function cacheStatus(header: string | string[] | undefined): CacheStatus {
  return header === "HIT" || header === "STALE" ? header : "MISS";
}
