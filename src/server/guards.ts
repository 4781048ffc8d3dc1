/**
 * Checks every localhost request passes before routing: the request-target is sane, nobody is
 * relaying it (SSRF), and the caller proves it runs inside this environment by presenting the
 * environment's session token. Pure functions over headers and strings.
 */
import crypto from "node:crypto";
import type { IncomingHttpHeaders } from "node:http";

export interface Rejection {
  status: 400 | 403 | 414;
  message: string;
}

export const MAX_URL_BYTES = 8 * 1024;

/** Header names that may carry the caller token (lower-case). */
const TOKEN_HEADERS = ["x-vault-token", "x-aws-parameters-secrets-token", "authorization"] as const;

/**
 * The request-target: origin-form, at most 8 KiB, valid percent-encoding, no NUL, no `.` or `..`
 * segment (raw or encoded), no backslash. Returns the decoded path segments' joined path on success.
 */
export function checkTarget(rawUrl: string | undefined): Rejection | { pathname: string; search: URLSearchParams } {
  const url = rawUrl ?? "";
  if (Buffer.byteLength(url) > MAX_URL_BYTES) return { status: 414, message: `request URL longer than ${MAX_URL_BYTES} bytes` };
  if (!url.startsWith("/")) return { status: 400, message: "request target must be a path starting with /" };
  const q = url.indexOf("?");
  const rawPath = q < 0 ? url : url.slice(0, q);
  const rawQuery = q < 0 ? "" : url.slice(q + 1);
  if (rawPath.includes("\\")) return { status: 400, message: "backslash in request path" };
  if (rawPath.includes("//")) return { status: 400, message: "empty segment (//) in request path" };
  const segments = rawPath.split("/");
  const decoded: string[] = [];
  for (const seg of segments) {
    let d: string;
    try {
      d = decodeURIComponent(seg);
    } catch {
      return { status: 400, message: "bad percent-encoding in request path" };
    }
    if (d.includes("\0")) return { status: 400, message: "NUL byte in request path" };
    if (d === ".." || d === ".") return { status: 400, message: "dot segment (. or ..) in request path" };
    if (d.includes("/")) return { status: 400, message: "encoded slash in request path" };
    decoded.push(d);
  }
  let search: URLSearchParams;
  try {
    // URLSearchParams silently keeps malformed escapes; check them first.
    decodeURIComponent(rawQuery.replace(/\+/g, " "));
    search = new URLSearchParams(rawQuery);
  } catch {
    return { status: 400, message: "bad percent-encoding in query string" };
  }
  for (const [k, v] of search) if (k.includes("\0") || v.includes("\0")) return { status: 400, message: "NUL byte in query string" };
  return { pathname: decoded.join("/"), search };
}

/** A relayed request (SSRF through a proxy in the function) is refused outright. */
export function checkForwarding(headers: IncomingHttpHeaders): Rejection | undefined {
  if (headers["x-forwarded-for"] !== undefined || headers["forwarded"] !== undefined) {
    return { status: 400, message: "forwarded requests are refused (X-Forwarded-For or Forwarded header present)" };
  }
  return undefined;
}

/**
 * Extracts the caller token from the raw header list. The same header twice, or two token headers
 * that disagree, is a 400: one of them is not what the caller meant. Returns `undefined` for none.
 */
export function callerToken(rawHeaders: string[]): Rejection | { token: string | undefined } {
  const seen = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = (rawHeaders[i] ?? "").toLowerCase();
    if (!(TOKEN_HEADERS as readonly string[]).includes(name)) continue;
    if (seen.has(name)) return { status: 400, message: `header ${name} given more than once` };
    let value = (rawHeaders[i + 1] ?? "").trim();
    if (name === "authorization") value = value.replace(/^Bearer\s+/i, "");
    seen.set(name, value);
  }
  const values = new Set(seen.values());
  if (values.size > 1) return { status: 400, message: `caller token headers disagree (${[...seen.keys()].join(", ")})` };
  const [token] = values;
  return { token: token === undefined || token === "" ? undefined : token };
}

/** Constant-time comparison: hash both sides so lengths leak nothing either. */
export function tokensEqual(given: string, expected: string): boolean {
  const a = crypto.createHash("sha256").update(given).digest();
  const b = crypto.createHash("sha256").update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

export function checkCallerToken(rawHeaders: string[], expected: string | undefined, required: boolean): Rejection | undefined {
  const found = callerToken(rawHeaders);
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
