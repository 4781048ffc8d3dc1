/**
 * Checks every localhost request passes before routing: the request-target is sane, nobody is
 * relaying it (SSRF), and the caller proves it runs inside this environment by presenting the
 * environment's session token. Pure functions over headers and strings.
 */
import crypto from "node:crypto";

export interface Rejection {
  status: 400 | 403 | 414;
  message: string;
}

export const MAX_URL_BYTES = 8 * 1024;

/** Header names that may carry the caller token (lower-case). */
const TOKEN_HEADERS = ["x-vault-token", "x-aws-parameters-secrets-token", "authorization"] as const;

/** Targets made only of characters that need no decoding and cannot form a dot segment. */
const PLAIN_TARGET = /^\/(?:[A-Za-z0-9_~-]+\/)*[A-Za-z0-9_~-]*(?:\?[A-Za-z0-9_=&~-]*)?$/;
/** Shared by every plain target without a query; read, never written. */
const EMPTY_QUERY = new URLSearchParams();

/** A checked request-target. */
export interface Target {
  /** The path, percent-decoded; its segments hold no `/`, `\\`, NUL, and none is `.` or `..`. */
  pathname: string;
  search: URLSearchParams;
  /** The query as the caller encoded it, without `?` (checked like the path): what the proxy forwards. */
  query: string;
}

/**
 * The request-target: origin-form, at most 8 KiB, valid percent-encoding, no NUL, no `#`, no `.`
 * or `..` segment (raw or encoded), no backslash (raw or encoded). The query is held to the same
 * rules, each key and value taken as a path: the proxy forwards it to Vault.
 */
export function checkTarget(rawUrl: string | undefined): Rejection | Target {
  const url = rawUrl ?? "";
  // The hot path (`/secrets/db`, `?field=password`): nothing to decode, nothing to check.
  if (url.length <= 1024 && PLAIN_TARGET.test(url)) {
    const q = url.indexOf("?");
    return q < 0 ? { pathname: url, search: EMPTY_QUERY, query: "" } : { pathname: url.slice(0, q), search: new URLSearchParams(url.slice(q + 1)), query: url.slice(q + 1) };
  }
  if (Buffer.byteLength(url) > MAX_URL_BYTES) return { status: 414, message: `request URL longer than ${MAX_URL_BYTES} bytes` };
  if (!url.startsWith("/")) return { status: 400, message: "request target must be a path starting with /" };
  if (url.includes("#")) return { status: 400, message: "a request target must not hold # (a fragment)" };
  const q = url.indexOf("?");
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? "" : url.slice(q + 1);
  if (rawPath.includes("//")) return { status: 400, message: "empty segment (//) in request path" };
  const decoded: string[] = [];
  for (const seg of rawPath.split("/")) {
    const d = decodePart(seg);
    if (d === undefined) return { status: 400, message: "bad percent-encoding in request path" };
    const problem = segmentProblem(d) ?? (d.includes("/") ? "encoded slash" : undefined);
    if (problem) return { status: 400, message: `${problem} in request path` };
    decoded.push(d);
  }
  if (rawQuery.includes("\\")) return { status: 400, message: "backslash in query string" };
  // URLSearchParams silently keeps malformed escapes; check them first.
  if (decodePart(rawQuery.replace(/\+/g, " ")) === undefined) return { status: 400, message: "bad percent-encoding in query string" };
  const search = new URLSearchParams(rawQuery);
  for (const [k, v] of search) {
    for (const segment of `${k}/${v}`.split("/")) {
      const problem = segmentProblem(segment);
      if (problem) return { status: 400, message: `${problem} in query string` };
    }
  }
  return { pathname: decoded.join("/"), search, query: rawQuery };
}

function decodePart(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with one decoded segment of a path (or of a query key or value), if anything. It
 * is checked as it is and decoded once more: a gateway further on that decodes twice must not find
 * a dot segment, a slash or a backslash either (`%252e%252e`).
 */
function segmentProblem(d: string): string | undefined {
  for (const form of d.includes("%") ? [d, decodePart(d) ?? d] : [d]) {
    if (form.includes("\0")) return "NUL byte";
    // Dots with spaces around (`.. `, `. .`) too: Windows-style normalisation on a gateway trims them to `..`.
    if (form.includes(".") && /^[\s.]+$/.test(form)) return "dot segment (. or ..)";
    if (form.includes("\\")) return "backslash";
    if (form !== d && form.includes("/")) return "doubly encoded slash";
  }
  return undefined;
}

/**
 * What is wrong with a caller's `X-Vault-Namespace`, if anything: each of its `/`-separated parts
 * is held to the rules of a path segment (no `.` or `..`, no backslash, no NUL, no encoded slash,
 * raw, encoded or doubly encoded). A namespace names a place in Vault's tree and never climbs out of it.
 */
export function checkNamespace(header: string | string[] | undefined): string | undefined {
  if (header === undefined) return undefined;
  if (Array.isArray(header)) return "X-Vault-Namespace: given more than once";
  for (const part of header.split("/")) {
    // Decoded once here, as the path is before its checks: a gateway that decodes twice finds nothing either.
    const d = decodePart(part);
    const problem = d === undefined ? "bad percent-encoding" : (segmentProblem(d) ?? (d.includes("/") ? "encoded slash" : undefined));
    if (problem) return `X-Vault-Namespace: ${problem} in ${JSON.stringify(header)}`;
  }
  return undefined;
}

/** What the checks and the routes need from a request's headers, read in one pass. */
export interface HeaderScan {
  /** X-Forwarded-For or Forwarded present: a relayed request (SSRF through a proxy in the function). */
  forwarded: boolean;
  /** The caller token, or the 400 for a repeated or conflicting token header. */
  token: Rejection | { token: string | undefined };
  /** Content-Length or Transfer-Encoding present: a body follows (RFC 9112 6.3). */
  hasBody: boolean;
  /** Cache-Control: no-cache, which forces a fresh read. */
  noCache: boolean;
}

/**
 * Reads `rawHeaders` once, without building Node's `req.headers` object (the hot path never needs
 * it). Header names are compared by length first, so most are never lower-cased.
 */
export function scanHeaders(rawHeaders: string[]): HeaderScan {
  let forwarded = false;
  let hasBody = false;
  let noCache = false;
  let token: string | undefined;
  let seen = 0; // bit per TOKEN_HEADERS entry
  let conflict: Rejection | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i]!;
    const n = raw.length;
    if (n !== 9 && n !== 13 && n !== 14 && n !== 15 && n !== 17 && n !== 30) continue;
    const name = raw.toLowerCase();
    const value = rawHeaders[i + 1]!;
    if (name === "x-forwarded-for" || name === "forwarded") forwarded = true;
    else if (name === "content-length" || name === "transfer-encoding") hasBody = true;
    else if (name === "cache-control") noCache ||= /\bno-cache\b/i.test(value);
    else {
      const index = (TOKEN_HEADERS as readonly string[]).indexOf(name);
      if (index < 0 || conflict) continue;
      if (seen & (1 << index)) {
        conflict = { status: 400, message: `header ${name} given more than once` };
        continue;
      }
      seen |= 1 << index;
      let v = value.trim();
      if (index === 2 && /^bearer\s/i.test(v)) v = v.slice(6).trimStart();
      if (token === undefined) token = v;
      else if (token !== v) conflict = { status: 400, message: `caller token headers disagree (${TOKEN_HEADERS.filter((_, b) => seen & (1 << b)).join(", ")})` };
    }
  }
  return { forwarded, hasBody, noCache, token: conflict ?? { token: token === "" ? undefined : token } };
}

export const FORWARDED_REJECTION: Rejection = { status: 400, message: "forwarded requests are refused (X-Forwarded-For or Forwarded header present)" };

/**
 * Constant-time comparison of the caller token with the expected one. The length is not secret
 * (session tokens vary in length and travel in every request), so a length mismatch answers at once.
 */
export function tokensEqual(given: string, expected: string | Buffer): boolean {
  const a = Buffer.from(given);
  const b = typeof expected === "string" ? Buffer.from(expected) : expected;
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}

/** The caller-token check (docs/architecture.md, "The localhost API") on an already scanned token (see `scanHeaders`). */
export function checkToken(found: HeaderScan["token"], expected: string | Buffer | undefined, required: boolean): Rejection | undefined {
  if ("status" in found) return found;
  if (!required) return undefined;
  if (found.token === undefined) {
    return { status: 403, message: "missing caller token: send X-Vault-Token (or X-Aws-Parameters-Secrets-Token) with the value of AWS_SESSION_TOKEN" };
  }
  if (expected === undefined || !tokensEqual(found.token, expected)) {
    return { status: 403, message: "wrong caller token: it must equal this environment's AWS_SESSION_TOKEN" };
  }
  return undefined;
}

/** Names of declared secrets in URLs. */
export const SECRET_NAME = /^[A-Za-z0-9_]+$/;
