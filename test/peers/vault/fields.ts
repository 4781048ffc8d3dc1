/**
 * Request field decoding with the weak typing of Vault's `framework.FieldData` (mapstructure
 * WeakDecode) and its error wording (`Field validation failed: error converting input for field
 * "x": ...`). Also the common response envelope.
 */
import {
  DurationParseError,
  parseDurationSeconds,
  parseNonNegativeDurationSeconds,
} from "./clock.ts";
import { fieldValidationFailed } from "./errors.ts";
import { uuid } from "./ids.ts";
import type { HandlerResult } from "./types.ts";

type Data = Record<string, unknown>;

/** Go type name of a decoded JSON value, for mapstructure-style messages. */
function goTypeName(v: unknown): string {
  if (v === null || v === undefined) return "<nil>";
  if (typeof v === "string") return "string";
  if (typeof v === "number") return "json.Number";
  if (typeof v === "boolean") return "bool";
  if (Array.isArray(v)) return "[]interface {}";
  return "map[string]interface {}";
}

export function has(data: Data, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(data, key);
}

/** TypeString: strings, numbers and booleans are accepted (weakly converted). */
export function getString(data: Data, key: string): string {
  const v = data[key];
  if (v === undefined || v === null) return "";
  if (typeof v === "string") return v;
  if (typeof v === "number") return String(v);
  if (typeof v === "boolean") return v ? "1" : "0";
  throw fieldValidationFailed(key, `'' expected type 'string', got unconvertible type '${goTypeName(v)}'`);
}

/** TypeBool with Go's strconv.ParseBool for strings. */
export function getBool(data: Data, key: string, fallback = false): boolean {
  const v = data[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string") {
    if (["1", "t", "T", "TRUE", "true", "True"].includes(v)) return true;
    if (["0", "f", "F", "FALSE", "false", "False", ""].includes(v)) return false;
    throw fieldValidationFailed(key, `cannot parse '' as bool: strconv.ParseBool: parsing "${v}": invalid syntax`);
  }
  throw fieldValidationFailed(key, `'' expected type 'bool', got unconvertible type '${goTypeName(v)}'`);
}

/** TypeInt. */
export function getInt(data: Data, key: string, fallback = 0): number {
  const v = data[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v === "number" && Number.isFinite(v)) return Math.trunc(v);
  if (typeof v === "string" && /^[+-]?\d+$/.test(v.trim())) return Number.parseInt(v, 10);
  if (typeof v === "boolean") return v ? 1 : 0;
  throw fieldValidationFailed(key, `cannot parse '' as int: strconv.ParseInt: parsing "${String(v)}": invalid syntax`);
}

/** TypeDurationSecond: seconds or a Go duration string; negative values rejected. */
export function getDuration(data: Data, key: string, fallback = 0): number {
  const v = data[key];
  if (v === undefined || v === null) return fallback;
  try {
    return parseNonNegativeDurationSeconds(v);
  } catch (e) {
    if (e instanceof DurationParseError) throw fieldValidationFailed(key, e.message);
    throw e;
  }
}

/** TypeSignedDurationSecond (negative allowed, e.g. max_retries-like fields). */
export function getSignedDuration(data: Data, key: string, fallback = 0): number {
  const v = data[key];
  if (v === undefined || v === null) return fallback;
  try {
    return parseDurationSeconds(v);
  } catch (e) {
    if (e instanceof DurationParseError) throw fieldValidationFailed(key, e.message);
    throw e;
  }
}

/** TypeCommaStringSlice: "a, b" or ["a","b"]; entries trimmed (empty entries kept, as Go does). */
export function getCommaList(data: Data, key: string): string[] {
  const v = data[key];
  if (v === undefined || v === null) return [];
  if (typeof v === "string") return v === "" ? [] : v.split(",").map((s) => s.trim());
  if (typeof v === "number" || typeof v === "boolean") return [String(v)];
  if (Array.isArray(v)) {
    return v.map((item) => {
      if (typeof item === "string") return item.trim();
      if (typeof item === "number" || typeof item === "boolean") return String(item);
      throw fieldValidationFailed(key, `'[0]' expected type 'string', got unconvertible type '${goTypeName(item)}'`);
    });
  }
  throw fieldValidationFailed(key, `'' source data must be an array or slice, got map`);
}

/** TypeMap. */
export function getMap(data: Data, key: string): Record<string, unknown> | undefined {
  const v = data[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "object" && !Array.isArray(v)) return v as Record<string, unknown>;
  throw fieldValidationFailed(key, `'' expected a map, got '${Array.isArray(v) ? "slice" : typeof v}'`);
}

/** `policyutil.SanitizePolicies`: lower-case, trimmed, de-duplicated, sorted, plus "default". */
export function sanitizePolicies(policies: string[], addDefault: boolean): string[] {
  const set = new Set<string>();
  for (const p of policies) {
    const v = p.trim().toLowerCase();
    if (v !== "") set.add(v);
  }
  if (addDefault && !set.has("root")) set.add("default");
  return [...set].sort();
}

// ---- response envelope --------------------------------------------------------------------

export interface EnvelopeFields {
  data?: unknown;
  leaseId?: string;
  renewable?: boolean;
  leaseDuration?: number;
  warnings?: string[];
  auth?: unknown;
  mountType?: string;
}

/** Vault's common logical response envelope, with `null` where Vault sends null. */
export function envelope(f: EnvelopeFields): Record<string, unknown> {
  return {
    request_id: uuid(),
    lease_id: f.leaseId ?? "",
    renewable: f.renewable ?? false,
    lease_duration: f.leaseDuration ?? 0,
    data: f.data ?? null,
    wrap_info: null,
    warnings: f.warnings && f.warnings.length > 0 ? f.warnings : null,
    auth: f.auth ?? null,
    mount_type: f.mountType ?? "",
  };
}

export function ok(f: EnvelopeFields, status = 200): HandlerResult {
  return { status, body: envelope(f) };
}

export const NO_CONTENT: HandlerResult = { status: 204 };
