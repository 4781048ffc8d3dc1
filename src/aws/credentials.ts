/**
 * The AWS credentials a Vault login is signed with (README, "Execution modes": "AWS credentials"): the environment's
 * keys (`AWS_ACCESS_KEY_ID`...), else the container-credentials endpoint
 * (`AWS_CONTAINER_CREDENTIALS_FULL_URI`, `Authorization: <AWS_CONTAINER_AUTHORIZATION_TOKEN>`), which
 * is what SnapStart gives. Endpoint credentials are fetched for every login and kept nowhere: after
 * a snapshot is restored the endpoint hands out new ones, and a login must never be signed with
 * the ones from before the snapshot.
 */
import http from "node:http";
import https from "node:https";
import { AgentError, describe } from "../errors.ts";
import type { AwsCredentials } from "./sts-endpoint.ts";
import type { Redactor } from "../log.ts";

export interface ContainerCredentialsEndpoint {
  /** AWS_CONTAINER_CREDENTIALS_FULL_URI. */
  uri: string;
  /** AWS_CONTAINER_AUTHORIZATION_TOKEN, sent as it is (no scheme) in `Authorization`. */
  authorizationToken?: string;
}

export interface CredentialSources {
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN. */
  environment?: AwsCredentials;
  container?: ContainerCredentialsEndpoint;
}

export interface CredentialsProviderOptions {
  /** Bound of one request to the endpoint. */
  timeoutMs: number;
  /** Learns every credential set as it arrives (and the endpoint's authorization token), before anything can echo one. */
  redactor: Pick<Redactor, "add">;
  now?: () => number;
}

/** Largest endpoint answer read; the real one is well under 2 KB. */
const MAX_ANSWER_BYTES = 64 * 1024;

export class CredentialsProvider {
  private readonly now: () => number;

  constructor(
    private readonly sources: CredentialSources,
    private readonly opts: CredentialsProviderOptions,
  ) {
    this.now = opts.now ?? Date.now;
    opts.redactor.add(sources.container?.authorizationToken);
    if (sources.environment) this.register(sources.environment);
  }

  /** Credentials for one login, good at least until now; throws an `auth` AgentError that names both sources. */
  async credentials(deadline?: number): Promise<AwsCredentials> {
    if (this.sources.environment) return this.sources.environment;
    const endpoint = this.sources.container;
    if (!endpoint) throw noCredentials("AWS_CONTAINER_CREDENTIALS_FULL_URI is not set either");
    const where = `the container-credentials endpoint AWS_CONTAINER_CREDENTIALS_FULL_URI (${endpoint.uri})`;
    const timeoutMs = Math.max(1, Math.min(this.opts.timeoutMs, deadline === undefined ? Infinity : deadline - this.now()));
    let answer: { status: number; body: string };
    try {
      answer = await get(endpoint, timeoutMs);
    } catch (err) {
      throw noCredentials(`${where} could not be asked: ${describe(err)}`, err);
    }
    if (answer.status !== 200) {
      const said = reasonIn(answer.body, endpoint.authorizationToken);
      const hint = answer.status === 401 || answer.status === 403 || answer.status === 404 ? "; is AWS_CONTAINER_AUTHORIZATION_TOKEN the token Lambda set?" : "";
      throw noCredentials(`${where} answered ${answer.status}${said ? ` (${said})` : ""}${hint}`);
    }
    const credentials = parseAnswer(answer.body);
    if (typeof credentials === "string") throw noCredentials(`${where} answered ${credentials}`);
    this.register(credentials);
    if (credentials.expiration && credentials.expiration.getTime() <= this.now()) {
      throw noCredentials(`${where} answered credentials that expired at ${credentials.expiration.toISOString()}`);
    }
    return credentials;
  }

  private register(c: AwsCredentials): void {
    for (const value of [c.accessKeyId, c.secretAccessKey, c.sessionToken]) this.opts.redactor.add(value);
  }
}

function noCredentials(what: string, cause?: unknown): AgentError {
  return new AgentError(
    "auth",
    `no AWS credentials to sign the Vault login with: AWS_ACCESS_KEY_ID is not set, and ${what}. ` +
      "Lambda sets one or the other; outside Lambda set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
    cause === undefined ? undefined : { cause },
  );
}

/** The endpoint's JSON answer as credentials, or what is wrong with it. */
function parseAnswer(body: string): AwsCredentials | string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return "something that is not JSON";
  }
  if (typeof json !== "object" || json === null) return "JSON that is not an object";
  const j = json as Record<string, unknown>;
  for (const field of ["AccessKeyId", "SecretAccessKey"]) {
    if (typeof j[field] !== "string" || j[field] === "") return `JSON without "${field}"`;
  }
  if (j.Token !== undefined && typeof j.Token !== "string") return 'JSON whose "Token" is not a string';
  const credentials: AwsCredentials = { accessKeyId: j.AccessKeyId as string, secretAccessKey: j.SecretAccessKey as string };
  if (j.Token) credentials.sessionToken = j.Token as string;
  if (j.Expiration !== undefined) {
    const expiration = typeof j.Expiration === "string" ? new Date(j.Expiration) : undefined;
    if (!expiration || Number.isNaN(expiration.getTime())) return 'JSON whose "Expiration" is not a time';
    credentials.expiration = expiration;
  }
  return credentials;
}

/** A short, token-free piece of an error answer. */
function reasonIn(body: string, token: string | undefined): string {
  let text = body;
  try {
    const j = JSON.parse(body) as { message?: unknown; errorMessage?: unknown };
    const m = j.message ?? j.errorMessage;
    if (typeof m === "string") text = m;
  } catch {
    // plain text
  }
  if (token) text = text.split(token).join("[redacted]");
  return text.replace(/\s+/g, " ").trim().slice(0, 200);
}

/** One GET on a fresh connection (no pooled socket survives into a snapshot). */
function get(endpoint: ContainerCredentialsEndpoint, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(endpoint.uri);
    const headers: Record<string, string> = { accept: "application/json" };
    if (endpoint.authorizationToken) headers.authorization = endpoint.authorizationToken;
    const request = (url.protocol === "https:" ? https : http).request(url, { method: "GET", headers, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) {
          request.destroy(new Error(`answer larger than ${MAX_ANSWER_BYTES} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    request.on("timeout", () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end();
  });
}
