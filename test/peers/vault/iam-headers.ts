/**
 * Decoding of `iam_request_headers`, Vault's `framework.TypeHeader` field (sdk/framework/
 * field_data.go). Accepted forms, in Vault's order of attempts:
 *   1. a JSON object (from the request body);
 *   2. a string: base64 of JSON, or (if it is not valid base64) raw JSON text;
 *   3. a list of "Name:value" strings.
 * Values are strings, numbers (stringified) or lists of those. Keys go through Go's
 * `http.Header.Add`, i.e. `textproto.CanonicalMIMEHeaderKey`.
 */
import { canonicalHeaderKey, goBase64StdDecode, goValueString } from "./go-compat.ts";

/** A Go `http.Header`: canonical key → values, in insertion order. */
export type GoHeader = Map<string, string[]>;

export class HeaderParseError extends Error {}

function add(h: GoHeader, key: string, value: string): void {
  const k = canonicalHeaderKey(key);
  const list = h.get(k);
  if (list) list.push(value);
  else h.set(k, [value]);
}

function toHeader(obj: Record<string, unknown>): GoHeader {
  const header: GoHeader = new Map();
  for (const [key, group] of Object.entries(obj)) {
    if (typeof group === "string") {
      add(header, key, group);
    } else if (typeof group === "number") {
      add(header, key, String(group));
    } else if (Array.isArray(group)) {
      for (const v of group) {
        if (typeof v === "string") add(header, key, v);
        else if (typeof v === "number") add(header, key, String(v));
        else {
          throw new HeaderParseError(`received non-string value for header key:${key}, val:${goValueString(group)}`);
        }
      }
    } else {
      throw new HeaderParseError(`unrecognized type for ${goValueString(group)}`);
    }
  }
  return header;
}

/** Parses the raw JSON value of `iam_request_headers`. Throws HeaderParseError with Go-like text. */
export function parseIamRequestHeaders(raw: unknown): GoHeader {
  if (raw === null || raw === undefined) return new Map();
  if (typeof raw === "object" && !Array.isArray(raw)) return toHeader(raw as Record<string, unknown>);
  if (typeof raw === "string") {
    const decoded = goBase64StdDecode(raw);
    const text = decoded ? decoded.toString("utf8") : raw;
    if (text.length === 0) throw new HeaderParseError("'data' being decoded is nil");
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new HeaderParseError(`invalid character in JSON input (${(e as Error).message})`);
    }
    if (parsed === null) return new Map();
    if (typeof parsed !== "object" || Array.isArray(parsed)) {
      const kind = Array.isArray(parsed) ? "array" : typeof parsed === "number" ? "number" : typeof parsed;
      throw new HeaderParseError(`json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`);
    }
    return toHeader(parsed as Record<string, unknown>);
  }
  const pairs = Array.isArray(raw) ? raw : [raw];
  const header: GoHeader = new Map();
  for (const pair of pairs) {
    if (typeof pair !== "string") throw new HeaderParseError('invalid key pair ""');
    const colon = pair.indexOf(":");
    if (colon <= 0) throw new HeaderParseError(`invalid key pair ${JSON.stringify(pair)}`);
    add(header, pair.slice(0, colon), pair.slice(colon + 1));
  }
  return header;
}

/** `http.Header.Get`: first value of the canonical key, or "". */
export function headerGet(h: GoHeader, key: string): string {
  return h.get(canonicalHeaderKey(key))?.[0] ?? "";
}
