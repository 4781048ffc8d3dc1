/**
 * AWS Signature Version 4 (AWS4-HMAC-SHA256), written from the specification with `node:crypto` only.
 *
 * This is the *verifying* side used by the STS test server. It deliberately shares no code with
 * `@smithy/signature-v4` (the signer the product uses): a bug in the product's signer must surface as a
 * rejected request here, not be reproduced. Correctness is pinned by AWS's published SigV4 test-suite
 * vectors (test/peers/sts/vectors/), which `test/peers/sigv4.test.ts` checks step by step.
 *
 * Everything here is a pure function of its inputs (the clock is a parameter), so each step of the
 * algorithm can be tested on its own:
 *
 *   canonical request = method \n canonical URI \n canonical query \n canonical headers \n
 *                       signed headers \n hex(sha256(payload))
 *   string to sign    = "AWS4-HMAC-SHA256" \n x-amz-date \n scope \n hex(sha256(canonical request))
 *   signing key       = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request")
 *   signature         = hex(HMAC(signing key, string to sign))
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export const ALGORITHM = "AWS4-HMAC-SHA256";
export const SCOPE_TERMINATOR = "aws4_request";
/** AWS services accept a request whose X-Amz-Date is within 15 minutes of their clock. */
export const DEFAULT_MAX_SKEW_MS = 15 * 60 * 1000;

/** A header as received: name in any case; a name may repeat. */
export type HeaderPair = readonly [name: string, value: string];

/** The parts of an HTTP request that SigV4 covers, as they arrived on the wire. */
export interface SignableRequest {
  method: string;
  /** The request-target exactly as received: path plus optional `?query`, still percent-encoded. */
  target: string;
  headers: readonly HeaderPair[];
  body: Uint8Array | string;
}

// ---------------------------------------------------------------------------------------------
// Encoding and hashing primitives
// ---------------------------------------------------------------------------------------------

const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
const utf8 = new TextEncoder();

/**
 * SigV4's URI encoding (RFC 3986): unreserved characters pass, every other UTF-8 byte becomes `%XX`
 * with upper-case hex. `/` is kept only when `keepSlash` (path segments are joined by it anyway).
 */
export function uriEncode(input: string, keepSlash = false): string {
  let out = "";
  for (const ch of input) {
    if (UNRESERVED.test(ch) || (keepSlash && ch === "/")) {
      out += ch;
      continue;
    }
    for (const byte of utf8.encode(ch)) out += "%" + byte.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key: Uint8Array | string, data: string): Buffer {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** Percent-decoding that tolerates malformed escapes (they are kept literally, as AWS does not fail on them). */
function lenientDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// ---------------------------------------------------------------------------------------------
// Canonical request parts
// ---------------------------------------------------------------------------------------------

/**
 * Canonical URI for every service but S3: the path is normalised (empty segments from `//`, `.`
 * and `..` are resolved; a trailing `/` survives) and then each segment is URI-encoded once more.
 * The input is the path as it was sent, i.e. already percent-encoded, so a `%20` on the wire is
 * `%2520` here: non-S3 services "double-encode". This is why a request signed for path `/` is still
 * valid when Vault forwards it to `<endpoint>//`.
 */
export function canonicalUri(rawPath: string): string {
  const segments: string[] = [];
  for (const segment of rawPath.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      segments.pop();
      continue;
    }
    segments.push(segment);
  }
  if (segments.length === 0) return "/";
  const trailing = rawPath.endsWith("/") ? "/" : "";
  return "/" + segments.map((s) => uriEncode(s)).join("/") + trailing;
}

/**
 * Canonical query string: each `name=value` pair is decoded and re-encoded with `uriEncode` (so the
 * wire spelling does not matter), pairs are sorted by encoded name then encoded value (byte order),
 * and a pair without `=` gets an empty value.
 */
export function canonicalQueryString(rawQuery: string): string {
  const pairs: Array<[string, string]> = [];
  for (const part of rawQuery.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    pairs.push([uriEncode(lenientDecode(name)), uriEncode(lenientDecode(value))]);
  }
  pairs.sort(([an, av], [bn, bv]) => (an < bn ? -1 : an > bn ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return pairs.map(([n, v]) => `${n}=${v}`).join("&");
}

/** Lower-cased header name → values in arrival order. */
export function groupHeaders(headers: readonly HeaderPair[]): Map<string, string[]> {
  const grouped = new Map<string, string[]>();
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    const list = grouped.get(key);
    if (list) list.push(value);
    else grouped.set(key, [value]);
  }
  return grouped;
}

/** Trim, and collapse every run of whitespace inside the value into one space. */
export function canonicalHeaderValue(value: string): string {
  return value.trim().replace(/\s+/g, " ");
}

/**
 * Canonical headers block for the given (lower-case) signed header names, in that order, each line
 * `name:value\n` where repeated headers are joined with `,`. A signed header missing from the
 * request canonicalises to an empty value (the signature then simply fails to match).
 */
export function canonicalHeaders(headers: readonly HeaderPair[], signedHeaderNames: readonly string[]): string {
  const grouped = groupHeaders(headers);
  let out = "";
  for (const name of signedHeaderNames) {
    const values = grouped.get(name) ?? [];
    out += `${name}:${values.map(canonicalHeaderValue).join(",")}\n`;
  }
  return out;
}

/** The signed-headers list: lower-cased, de-duplicated, sorted names joined by `;`. */
export function signedHeadersList(names: readonly string[]): string {
  return [...new Set(names.map((n) => n.toLowerCase()))].sort().join(";");
}

/** Hex SHA-256 of the body: STS (unlike S3) has no unsigned-payload option. */
export function hashedPayload(body: Uint8Array | string): string {
  return sha256Hex(body);
}

/** Splits a request-target into path and raw query (without the `?`). */
export function splitTarget(target: string): { path: string; query: string } {
  const q = target.indexOf("?");
  return q < 0 ? { path: target, query: "" } : { path: target.slice(0, q), query: target.slice(q + 1) };
}

/** The full canonical request for `req`, covering exactly `signedHeaderNames` (lower-case, in order). */
export function canonicalRequest(req: SignableRequest, signedHeaderNames: readonly string[]): string {
  const { path, query } = splitTarget(req.target);
  return [
    req.method.toUpperCase(),
    canonicalUri(path),
    canonicalQueryString(query),
    canonicalHeaders(req.headers, signedHeaderNames),
    signedHeaderNames.join(";"),
    hashedPayload(req.body),
  ].join("\n");
}

// ---------------------------------------------------------------------------------------------
// String to sign, key, signature
// ---------------------------------------------------------------------------------------------

export interface CredentialScope {
  /** YYYYMMDD */
  date: string;
  region: string;
  service: string;
}

export function credentialScopeString(scope: CredentialScope): string {
  return `${scope.date}/${scope.region}/${scope.service}/${SCOPE_TERMINATOR}`;
}

export function stringToSign(amzDate: string, scope: CredentialScope, canonicalRequestText: string): string {
  return [ALGORITHM, amzDate, credentialScopeString(scope), sha256Hex(canonicalRequestText)].join("\n");
}

/** kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request"). */
export function signingKey(secretAccessKey: string, scope: CredentialScope): Buffer {
  const kDate = hmac("AWS4" + secretAccessKey, scope.date);
  const kRegion = hmac(kDate, scope.region);
  const kService = hmac(kRegion, scope.service);
  return hmac(kService, SCOPE_TERMINATOR);
}

export function signature(key: Uint8Array, stringToSignText: string): string {
  return hmac(key, stringToSignText).toString("hex");
}

// ---------------------------------------------------------------------------------------------
// Authorization header and dates
// ---------------------------------------------------------------------------------------------

export interface ParsedAuthorization {
  accessKeyId: string;
  scope: CredentialScope;
  signedHeaders: string[];
  signature: string;
}

/** Parse failure: the STS message to send with `IncompleteSignature`. */
export interface AuthorizationParseError {
  error: string;
}

/**
 * Parses `AWS4-HMAC-SHA256 Credential=AKID/date/region/service/aws4_request, SignedHeaders=a;b,
 * Signature=hex`. Messages follow what AWS answers for the same faults.
 */
export function parseAuthorization(header: string): ParsedAuthorization | AuthorizationParseError {
  const trimmed = header.trim();
  const space = trimmed.indexOf(" ");
  const algorithm = space < 0 ? trimmed : trimmed.slice(0, space);
  if (algorithm !== ALGORITHM) {
    return { error: `Unsupported AWS 'algorithm': '${algorithm}'` };
  }
  const params = new Map<string, string>();
  const rest = space < 0 ? "" : trimmed.slice(space + 1);
  for (const rawPart of rest.split(",")) {
    const part = rawPart.trim();
    if (part === "") continue;
    const eq = part.indexOf("=");
    if (eq < 0) {
      return { error: `'${part}' not a valid key=value pair (missing equal-sign) in Authorization header: '${trimmed}'.` };
    }
    params.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const missing: string[] = [];
  for (const required of ["Credential", "Signature", "SignedHeaders"]) {
    if (!params.get(required)) missing.push(`Authorization header requires '${required}' parameter.`);
  }
  if (missing.length > 0) return { error: `${missing.join(" ")} Authorization=${trimmed}` };

  const credential = params.get("Credential") ?? "";
  const parts = credential.split("/");
  if (parts.length !== 5 || parts.some((p) => p === "")) {
    return { error: `Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term, got '${credential}'` };
  }
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string];
  if (terminator !== SCOPE_TERMINATOR) {
    return { error: `Credential should be scoped with a valid terminator: '${SCOPE_TERMINATOR}', not '${terminator}'. ` };
  }
  if (!/^\d{8}$/.test(date)) {
    return { error: `Invalid date in Credential scope: '${date}'. Authorization=${trimmed}` };
  }
  const sig = params.get("Signature") ?? "";
  if (!/^[0-9a-f]{64}$/.test(sig)) {
    return { error: `Signature must be 64 lower-case hex characters. Authorization=${trimmed}` };
  }
  const signedHeaders = (params.get("SignedHeaders") ?? "").split(";").map((h) => h.trim().toLowerCase());
  if (signedHeaders.some((h) => h === "")) {
    return { error: `Invalid SignedHeaders list: '${params.get("SignedHeaders")}'. Authorization=${trimmed}` };
  }
  return { accessKeyId, scope: { date, region, service }, signedHeaders, signature: sig };
}

/** `YYYYMMDDTHHMMSSZ` → epoch ms, or undefined when it is not that exact shape or not a real instant. */
export function parseAmzDate(value: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(value);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s] = m.map(Number) as [number, number, number, number, number, number, number];
  const ms = Date.UTC(y, mo - 1, d, h, mi, s);
  const back = new Date(ms);
  // Reject rolled-over fields such as month 13 or 25 o'clock.
  if (back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d || back.getUTCHours() !== h || back.getUTCMinutes() !== mi) {
    return undefined;
  }
  return ms;
}

/** epoch ms → `YYYYMMDDTHHMMSSZ`. */
export function formatAmzDate(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/[-:]/g, "").replace(/\.\d{3}Z$/, "Z");
}

// ---------------------------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------------------------

/** What the verifier needs to know about an access key. */
export interface SigningSecret {
  secretAccessKey: string;
  /** Set for temporary credentials: the request must carry exactly this `X-Amz-Security-Token`. */
  sessionToken?: string;
  /** Epoch ms after which temporary credentials are refused with `ExpiredToken`. */
  expiresAt?: number;
}

export type LookupSecret = (accessKeyId: string) => SigningSecret | undefined;

export interface VerifyOptions {
  /** The verifier's clock, epoch ms (wall clock: `Date.now()`). */
  now: number;
  maxSkewMs?: number;
  /** When set, the credential scope's region must equal it. */
  expectedRegion?: string;
  /** When set, the credential scope's service must equal it. */
  expectedService?: string;
}

export type StsAuthErrorCode =
  | "MissingAuthenticationToken"
  | "IncompleteSignature"
  | "InvalidClientTokenId"
  | "SignatureDoesNotMatch"
  | "ExpiredToken";

export type VerifyResult =
  | { ok: true; accessKeyId: string; region: string; service: string; signedHeaders: string[] }
  | { ok: false; code: StsAuthErrorCode; message: string; status: number };

export const MSG_SIGNATURE_MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
export const MSG_INVALID_TOKEN = "The security token included in the request is invalid.";
export const MSG_EXPIRED_TOKEN = "The security token included in the request is expired";
export const MSG_MISSING_AUTH = "Request is missing Authentication Token";
/** STS's wording, trailing space included. */
export const MSG_INVALID_REGION = "Credential should be scoped to a valid region. ";

/** STS answers a malformed signature with 400 and every other authentication failure with 403. */
function fail(code: StsAuthErrorCode, message: string): VerifyResult {
  return { ok: false, code, message, status: code === "IncompleteSignature" ? 400 : 403 };
}

function constantTimeEquals(a: string, b: string): boolean {
  const ab = Buffer.from(a, "utf8");
  const bb = Buffer.from(b, "utf8");
  return ab.length === bb.length && timingSafeEqual(ab, bb);
}

/**
 * Verifies a header-signed (`Authorization: AWS4-HMAC-SHA256 ...`) request the way STS does and says
 * why it is refused, with STS's error codes and messages. Checks run from the cheapest to the most
 * specific: header shape, date, scope, clock skew, then the key, its session token and its expiry,
 * and finally the signature (so a request with several faults reports the first of these; STS's own
 * precedence between them is not documented). Presigned (query-string) authentication is not
 * supported: such a request has no Authorization header and is refused as unauthenticated.
 */
export function verifyRequest(req: SignableRequest, lookupSecret: LookupSecret, opts: VerifyOptions): VerifyResult {
  const headers = groupHeaders(req.headers);
  const authValues = headers.get("authorization");
  if (!authValues || authValues.length === 0 || authValues.every((v) => v.trim() === "")) {
    return fail("MissingAuthenticationToken", MSG_MISSING_AUTH);
  }
  if (authValues.length > 1) {
    return fail("IncompleteSignature", "Only one Authorization header may be supplied.");
  }
  const parsed = parseAuthorization(authValues[0] ?? "");
  if ("error" in parsed) return fail("IncompleteSignature", parsed.error);

  const amzDateValues = headers.get("x-amz-date");
  if (!amzDateValues || amzDateValues.length === 0) {
    return fail(
      "IncompleteSignature",
      `Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. Authorization=${(authValues[0] ?? "").trim()}`,
    );
  }
  const amzDate = amzDateValues.map(canonicalHeaderValue).join(",");
  const signedAt = parseAmzDate(amzDate);
  if (signedAt === undefined) {
    return fail("IncompleteSignature", `Date must be in ISO-8601 'basic format'. Got '${amzDate}'. See http://en.wikipedia.org/wiki/ISO_8601`);
  }
  if (!parsed.signedHeaders.includes("host")) {
    return fail("IncompleteSignature", "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.");
  }
  if (parsed.scope.date !== amzDate.slice(0, 8)) {
    return fail(
      "SignatureDoesNotMatch",
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${parsed.scope.date}' != '${amzDate.slice(0, 8)}', from '${amzDate}'.`,
    );
  }
  if (opts.expectedRegion !== undefined && parsed.scope.region !== opts.expectedRegion) {
    return fail("SignatureDoesNotMatch", MSG_INVALID_REGION);
  }
  if (opts.expectedService !== undefined && parsed.scope.service !== opts.expectedService) {
    return fail("SignatureDoesNotMatch", `Credential should be scoped to correct service: '${opts.expectedService}'. `);
  }

  const maxSkew = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
  const skewMinutes = Math.round(maxSkew / 60000);
  if (signedAt < opts.now - maxSkew) {
    return fail(
      "SignatureDoesNotMatch",
      `Signature expired: ${amzDate} is now earlier than ${formatAmzDate(opts.now - maxSkew)} (${formatAmzDate(opts.now)} - ${skewMinutes} min.)`,
    );
  }
  if (signedAt > opts.now + maxSkew) {
    return fail(
      "SignatureDoesNotMatch",
      `Signature not yet current: ${amzDate} is still later than ${formatAmzDate(opts.now + maxSkew)} (${formatAmzDate(opts.now)} + ${skewMinutes} min.)`,
    );
  }

  const secret = lookupSecret(parsed.accessKeyId);
  if (!secret) return fail("InvalidClientTokenId", MSG_INVALID_TOKEN);
  const tokenValues = headers.get("x-amz-security-token");
  const presentedToken = tokenValues?.map(canonicalHeaderValue).join(",");
  if (secret.sessionToken !== undefined) {
    if (presentedToken === undefined || !constantTimeEquals(presentedToken, secret.sessionToken)) {
      return fail("InvalidClientTokenId", MSG_INVALID_TOKEN);
    }
    if (secret.expiresAt !== undefined && opts.now >= secret.expiresAt) {
      return fail("ExpiredToken", MSG_EXPIRED_TOKEN);
    }
  } else if (presentedToken !== undefined) {
    // A long-term key does not come with a session token; one sent with it is not valid.
    return fail("InvalidClientTokenId", MSG_INVALID_TOKEN);
  }

  const creq = canonicalRequest(req, parsed.signedHeaders);
  const sts = stringToSign(amzDate, parsed.scope, creq);
  const expected = signature(signingKey(secret.secretAccessKey, parsed.scope), sts);
  if (!constantTimeEquals(expected, parsed.signature)) {
    return fail("SignatureDoesNotMatch", MSG_SIGNATURE_MISMATCH);
  }
  return {
    ok: true,
    accessKeyId: parsed.accessKeyId,
    region: parsed.scope.region,
    service: parsed.scope.service,
    signedHeaders: parsed.signedHeaders,
  };
}
