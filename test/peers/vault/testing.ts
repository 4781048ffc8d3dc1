/**
 * Helpers for the Vault test server's own tests: a small HTTP client and an independent AWS IAM
 * login signer (the `aws4` package, not the product's signer), producing the login body exactly
 * as Vault's reference clients do (headers as one-element arrays, base64 of JSON).
 */
import aws4 from "aws4";
import type { StsIdentity } from "../sts/server.ts";

export interface VaultResponse {
  status: number;
  /** Parsed JSON body, or undefined for an empty body. */
  json: any;
  text: string;
  headers: Headers;
}

export interface CallOptions {
  token?: string;
  body?: unknown;
  namespace?: string;
  headers?: Record<string, string>;
}

/** One request to `<addr>/v1/<path>`. */
export async function vault(addr: string, method: string, path: string, opts: CallOptions = {}): Promise<VaultResponse> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token !== undefined) headers["X-Vault-Token"] = opts.token;
  if (opts.namespace !== undefined) headers["X-Vault-Namespace"] = opts.namespace;
  const init: RequestInit = { method, headers, signal: AbortSignal.timeout(15_000) };
  if (opts.body !== undefined) init.body = typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body);
  const res = await fetch(`${addr}/v1/${path}`, init);
  const text = await res.text();
  let json: any;
  try {
    json = text === "" ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text, headers: res.headers };
}

export function b64(s: string): string {
  return Buffer.from(s, "utf8").toString("base64");
}

export const GCI_BODY = "Action=GetCallerIdentity&Version=2011-06-15";

export interface SignOptions {
  /** Host the request is signed for (default the global endpoint). */
  host?: string;
  region?: string;
  role?: string;
  /** Value of X-Vault-AWS-IAM-Server-ID, signed. */
  serverId?: string;
  body?: string;
  /** Headers added after signing (so they are not signed). */
  unsignedHeaders?: Record<string, string>;
}

/** The signed request's headers (name → value), before encoding. */
export function signGetCallerIdentity(identity: StsIdentity, opts: SignOptions = {}): Record<string, string> {
  const host = opts.host ?? "sts.amazonaws.com";
  const body = opts.body ?? GCI_BODY;
  const headers: Record<string, string> = { "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" };
  if (opts.serverId !== undefined) headers["X-Vault-AWS-IAM-Server-ID"] = opts.serverId;
  const credentials: aws4.Credentials = { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey };
  if (identity.sessionToken !== undefined) credentials.sessionToken = identity.sessionToken;
  const signed = aws4.sign(
    { host, path: "/", method: "POST", service: "sts", region: opts.region ?? "us-east-1", body, headers },
    credentials,
  );
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(signed.headers ?? {})) out[k] = String(v);
  return { ...out, ...opts.unsignedHeaders };
}

/** Encodes headers as Vault's Go clients do: base64(JSON({name: [value]})). */
export function encodeHeaders(headers: Record<string, string>): string {
  return b64(JSON.stringify(Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]]))));
}

/** A complete IAM login body for `identity`. */
export function loginBody(identity: StsIdentity, opts: SignOptions = {}): Record<string, unknown> {
  const host = opts.host ?? "sts.amazonaws.com";
  const body: Record<string, unknown> = {
    iam_http_request_method: "POST",
    iam_request_url: b64(`https://${host}/`),
    iam_request_body: b64(opts.body ?? GCI_BODY),
    iam_request_headers: encodeHeaders(signGetCallerIdentity(identity, opts)),
  };
  if (opts.role !== undefined) body["role"] = opts.role;
  return body;
}

/** Logs in and returns the client token (throws with Vault's errors on failure). */
export async function login(addr: string, identity: StsIdentity, opts: SignOptions & { mount?: string; namespace?: string } = {}): Promise<{ token: string; accessor: string; response: VaultResponse }> {
  const res = await vault(addr, "POST", `auth/${opts.mount ?? "aws"}/login`, {
    body: loginBody(identity, opts),
    ...(opts.namespace !== undefined ? { namespace: opts.namespace } : {}),
  });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${res.text}`);
  return { token: res.json.auth.client_token, accessor: res.json.auth.accessor, response: res };
}

/** Waits until the wall clock reaches `epochMs` (bounded, for TTL tests). */
export async function waitUntil(epochMs: number): Promise<void> {
  const ms = Math.max(0, epochMs - Date.now());
  if (ms > 10_000) throw new Error(`refusing to wait ${ms} ms`);
  await new Promise((r) => setTimeout(r, ms));
}
