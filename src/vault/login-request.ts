// The body of Vault's AWS IAM login (docs/architecture.md, "Logging in").
//
// We sign an sts:GetCallerIdentity POST with SigV4 and give Vault the signed request's URL, body and
// headers; Vault replays it to STS and learns from the answer who we are. Rules that matter here:
//   - Signed headers are exactly host, content-type, x-amz-date, x-amz-security-token (with a
//     session token) and x-vault-aws-iam-server-id (when configured; Vault checks it is signed).
//   - No other X-Amz-* header: Vault rejects X-Amz-* headers outside its allowlist, and
//     x-amz-user-agent is not on it. Hence applyChecksum: false (no x-amz-content-sha256, which
//     older Vaults also reject) and a bare HttpRequest rather than an SDK client with middleware.
//   - Content-Length is neither signed nor sent: Vault (Go) computes it from the body when it
//     replays the request, and leaving it out avoids the old json.Number bug (vault#3763).
//   - Header values are one-element string arrays (Go's http.Header JSON), which every Vault
//     version parses (early ones accepted nothing else: vault#2810).
// This module never logs: what it returns contains a signature and a session token. Both, and the
// blob that carries them, are registered with the redactor as they are made, before Vault can echo
// them back in an error (STS's SignatureDoesNotMatch quotes the canonical request, token included).

import { createHash, createHmac, type Hash, type Hmac } from "node:crypto";
import { HttpRequest } from "@smithy/protocol-http";
import { SignatureV4 } from "@smithy/signature-v4";
import { stsEndpointFor, type AwsCredentials } from "../aws/sts-endpoint.ts";
import type { Redactor } from "../log.ts";

export interface LoginRequestOptions {
  credentials: AwsCredentials;
  /** Learns the signature, the signed headers and the base64 blob they travel in, as they are made. */
  redactor: Pick<Redactor, "add">;
  /** VAULT_STS_ENDPOINT_REGION: sign for that region's endpoint; unset: the global one. */
  stsRegion?: string;
  /** VAULT_IAM_SERVER_ID: sent, and signed, as X-Vault-AWS-IAM-Server-ID. */
  iamServerId?: string;
  /** VAULT_AUTH_ROLE; unset: the field is omitted and Vault uses the IAM role's name. */
  role?: string;
  /** Signing time; default now. */
  now?: Date;
}

export interface IamLoginBody {
  role?: string;
  iam_http_request_method: "POST";
  /** base64 of the signed URL. */
  iam_request_url: string;
  /** base64 of the form body. */
  iam_request_body: string;
  /** base64 of JSON {header: [value]}. */
  iam_request_headers: string;
}

export const GET_CALLER_IDENTITY_BODY = "Action=GetCallerIdentity&Version=2011-06-15";
export const IAM_SERVER_ID_HEADER = "x-vault-aws-iam-server-id";
const CONTENT_TYPE = "application/x-www-form-urlencoded; charset=utf-8";

/** Builds the JSON body of `POST /v1/auth/<provider>/login`. */
export async function buildIamLoginBody(opts: LoginRequestOptions): Promise<IamLoginBody> {
  const endpoint = stsEndpointFor(opts.stsRegion);
  const headers: Record<string, string> = {
    // Without an explicit host header the signer leaves host out of SignedHeaders.
    host: endpoint.host,
    "content-type": CONTENT_TYPE,
  };
  if (opts.iamServerId !== undefined && opts.iamServerId !== "") headers[IAM_SERVER_ID_HEADER] = opts.iamServerId;

  const request = new HttpRequest({
    method: "POST",
    protocol: "https:",
    hostname: endpoint.host,
    path: "/",
    headers,
    body: GET_CALLER_IDENTITY_BODY,
  });
  const { accessKeyId, secretAccessKey, sessionToken } = opts.credentials;
  const signer = new SignatureV4({
    service: "sts",
    region: endpoint.region,
    credentials: sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey },
    sha256: NodeSha256,
    applyChecksum: false,
  });
  // Adds x-amz-date, x-amz-security-token (with a session token) and authorization.
  const signed = await signer.sign(request, { signingDate: opts.now ?? new Date() });

  const headerMap: Record<string, [string]> = {};
  for (const [name, value] of Object.entries(signed.headers)) headerMap[name] = [String(value)];
  registerSecrets(opts.redactor, headerMap, opts.credentials);
  const headersBlob = base64(JSON.stringify(headerMap));
  opts.redactor.add(headersBlob);

  // The URL and the body are the same for every caller (no secret in them): not registered.
  const body: IamLoginBody = {
    iam_http_request_method: "POST",
    iam_request_url: base64(endpoint.url),
    iam_request_body: base64(GET_CALLER_IDENTITY_BODY),
    iam_request_headers: headersBlob,
  };
  return opts.role !== undefined && opts.role !== "" ? { role: opts.role, ...body } : body;
}

/**
 * The replayable parts of the signed request: the signature (with the rest of the request it is a
 * login for 15 minutes), the whole Authorization header, and the credentials it was signed with.
 */
function registerSecrets(redactor: Pick<Redactor, "add">, headers: Record<string, [string]>, credentials: AwsCredentials): void {
  const authorization = headers.authorization?.[0];
  redactor.add(authorization);
  redactor.add(authorization && /Signature=([0-9a-f]+)/.exec(authorization)?.[1]);
  redactor.add(headers["x-amz-security-token"]?.[0]);
  redactor.add(credentials.secretAccessKey);
  redactor.add(credentials.sessionToken);
}

function base64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

type SourceData = string | ArrayBuffer | ArrayBufferView;

function toBuffer(data: SourceData): Buffer {
  if (typeof data === "string") return Buffer.from(data, "utf8");
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/**
 * SHA-256 (or HMAC-SHA-256 when given a secret) on node:crypto, in the shape the smithy signer
 * expects. Replaces @aws-crypto/sha256-js: smaller bundle, faster first call.
 */
export class NodeSha256 {
  readonly #secret: Buffer | undefined;
  #hash: Hash | Hmac;
  constructor(secret?: SourceData) {
    this.#secret = secret === undefined ? undefined : toBuffer(secret);
    this.#hash = this.#fresh();
  }
  update(data: SourceData): void {
    this.#hash.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.#hash.digest());
  }
  reset(): void {
    this.#hash = this.#fresh();
  }
  #fresh(): Hash | Hmac {
    return this.#secret === undefined ? createHash("sha256") : createHmac("sha256", this.#secret);
  }
}
