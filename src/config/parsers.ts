// Value parsers of the configuration: each returns the parsed value, or an `Invalid` with what is
// wrong (without the variable's name, which the reader puts in front). Messages never echo the
// value of a credential variable: the parsers used for those do not quote what they got. Nor do
// they echo a value that looks like a credential, whatever the variable: a token or a key pasted
// into the wrong variable is said to be wrong without being shown (`quote`).
import { formatDuration, parseDuration } from "../duration.ts";
import { AWS_REGION_SHAPE } from "../aws/sts-endpoint.ts";

/** A value that did not parse, with what is wrong with it (without the variable's name). */
export class Invalid {
  constructor(readonly message: string) {}
}
export function invalid(message: string): Invalid {
  return new Invalid(message);
}
export type Parser<T> = (value: string) => T | Invalid;

export function parseBool(v: string): boolean | Invalid {
  // Go's strconv.ParseBool set, case-insensitively.
  switch (v.toLowerCase()) {
    case "1":
    case "t":
    case "true":
      return true;
    case "0":
    case "f":
    case "false":
      return false;
    default:
      return invalid(`${quote(v)} is not a boolean (use true or false)`);
  }
}

export function enumOf<T extends string>(allowed: readonly T[]): Parser<T> {
  return (v) => {
    const lower = v.toLowerCase();
    return allowed.find((a) => a === lower) ?? invalid(`${quote(v)} is not one of ${allowed.join(", ")}`);
  };
}

export function integerIn(min: number, max: number, what: string): Parser<number> {
  return (v) => {
    const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
    return n >= min && n <= max ? n : invalid(`${quote(v)} is not ${what}`);
  };
}

/**
 * A duration parser with bounds. `example` is suggested when the text is not a duration at all
 * (the variable's default, e.g. `"ten" is not a duration (try "10s")`).
 */
export function durationIn(
  example: string,
  min: number,
  minInclusive: boolean,
  max?: number,
  zeroAdvice?: string,
): Parser<number> {
  return (v) => {
    const ms = parseDuration(v);
    if (ms === undefined) return invalid(`${quote(v)} is not a duration (try ${quote(example)})`);
    if (minInclusive ? ms < min : ms <= min) {
      return invalid(`${quote(v)} must be more than ${formatDuration(min)}${zeroAdvice ? ` (${zeroAdvice})` : ""}`);
    }
    if (max !== undefined && ms > max) return invalid(`${quote(v)} must be at most ${formatDuration(max)}`);
    return ms;
  };
}

export function parseMountPath(v: string): string | Invalid {
  // Trim slashes ("/aws/" is the mount "aws"). Each segment must be a URL path segment that needs
  // no percent-encoding, and not "." or "..", so that auth/<provider>/login is the path it looks like.
  const p = v.replace(/^\/+|\/+$/g, "");
  const segments = p.split("/");
  if (p === "" || segments.some((s) => s === "" || s === "." || s === ".." || !/^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/.test(s))) {
    return invalid(`${quote(v)} is not a mount path (the path of the AWS auth method, e.g. aws)`);
  }
  return p;
}

export function parseRegion(v: string): string | Invalid {
  const lower = v.toLowerCase();
  return AWS_REGION_SHAPE.test(lower) ? lower : invalid(`${quote(v)} is not an AWS region (e.g. us-east-1, eu-west-1)`);
}

// arn:<partition>:iam::<account>:role/<optional path/>name. Role names: [\w+=,.@-], 1-64 chars.
// Path characters are \x21-\x7e without "/" (which separates them), so the match cannot backtrack
// exponentially.
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/([\x21-\x2e\x30-\x7e]+\/)*[\w+=,.@-]{1,64}$/;

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function isHeaderValue(v: string): boolean {
  return /^[\x20-\x7e]+$/.test(v);
}

export function hasControl(v: string): boolean {
  return /[\x00-\x1f\x7f]/.test(v);
}

export interface ParsedUrl {
  normalised: string;
  url: URL;
}

/** An http(s) base URL without credentials, query or fragment; or what is wrong with it. */
export function parseHttpUrl(variable: string, value: string, what: string, example: string): ParsedUrl | string {
  // These two are checked before any message may echo the value: user:password@ must never reach
  // a message, and a query string might carry a token. Neither has a place in a base address.
  if (value.includes("@")) {
    return `must not contain credentials (user:password@); remove them from ${variable}`;
  }
  if (value.includes("?") || value.includes("#")) {
    return `must not contain a query string or fragment; remove everything from the "?" or "#"`;
  }
  let url: URL | undefined;
  try {
    url = new URL(value);
  } catch {
    url = undefined;
  }
  if (!/^https?:\/\//i.test(value) || url === undefined) {
    return `${quote(value)} is not ${what}: use an http:// or https:// URL, e.g. ${example}`;
  }
  if (url.hostname === "") return `${quote(value)} has no host; e.g. ${example}`;
  const pathname = url.pathname.replace(/\/+$/, "");
  return { normalised: `${url.protocol}//${url.host}${pathname}`, url };
}

/**
 * The container-credentials endpoint: over plain http only on this host or at the link-local
 * addresses AWS uses (ECS, EKS), as the AWS SDKs allow, since the request carries the authorization
 * token and the answer carries credentials.
 */
export function credentialsEndpoint(variable: string): Parser<string> {
  return (v) => {
    const parsed = parseHttpUrl(variable, v, "a credentials endpoint", "http://127.0.0.1:9001/2021-04-23/credentials");
    if (typeof parsed === "string") return invalid(parsed);
    const host = parsed.url.hostname;
    if (parsed.url.protocol === "http:" && !isLoopback(host) && !["169.254.170.2", "169.254.170.23", "[fd00:ec2::23]"].includes(host)) {
      return invalid(`${quote(v)}: plain http is allowed only to this host (127.0.0.1) or AWS's link-local credential addresses; use https for ${host}`);
    }
    return parsed.normalised;
  };
}

export function isLoopback(hostname: string): boolean {
  return (
    hostname === "localhost" ||
    hostname === "[::1]" ||
    hostname === "0.0.0.0" || // connecting to it reaches this host
    /^127\.\d+\.\d+\.\d+$/.test(hostname)
  );
}

export function urlPort(url: URL): number {
  return url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

/** A value for a message: JSON-quoted, cut to a readable length; not shown when it looks like a credential. */
export function quote(v: string): string {
  const kind = credentialKind(v);
  if (kind !== undefined) return `the value (not shown: it looks like ${kind})`;
  const cut = v.length > 80 ? `${v.slice(0, 77)}...` : v;
  return JSON.stringify(cut);
}

/** A role name: any text without control characters, and not a credential pasted into the wrong variable. */
export function parseRoleName(v: string): string | Invalid {
  if (hasControl(v)) return invalid("contains control characters; set it to the Vault role's name");
  const kind = knownCredentialKind(v);
  return kind === undefined ? v : invalid(`holds what looks like ${kind}, not a role name (value not shown); set it to the Vault role's name`);
}

// What a credential looks like, for a value found where none belongs. Two tiers: shapes that are
// nothing but a credential (a Vault token's prefix, an AWS key id, a PEM private key, a JWT), which
// may refuse a value outright; and the generic shape of a random key (long, one word of base64 or
// hex-like characters mixing cases and digits, high entropy), which only stops a value from being
// shown, since a real name may look like that too.
const KNOWN_CREDENTIALS: ReadonlyArray<[RegExp, string]> = [
  [/^(hv[sbr]\.|[sbr]\.)[A-Za-z0-9_-]{20,}/, "a Vault token"],
  [/^(AKIA|ASIA)[A-Z0-9]{16}$/, "an AWS access key id"],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----/, "a private key"],
  [/^eyJ[\w-]+\.eyJ[\w-]+\.[\w-]+$/, "a JSON web token"],
  [/^(IQoJb3JpZ2lu|FwoGZXIvYXdz|AQoDYXdz)[A-Za-z0-9+/=]{40,}$/, "an AWS session token"],
];

/** What credential a value looks like (or holds, with something around it), when it is unmistakably one. */
export function knownCredentialKind(v: string): string | undefined {
  for (const piece of pieces(v)) {
    const kind = KNOWN_CREDENTIALS.find(([shape]) => shape.test(piece))?.[1];
    if (kind !== undefined) return kind;
  }
  return undefined;
}

/** What credential a value looks like or holds, including the generic random-key shape; undefined for ordinary text. */
export function credentialKind(v: string): string | undefined {
  return knownCredentialKind(v) ?? (pieces(v).some(looksRandom) ? "a secret key or token" : undefined);
}

/** A path under one of the file system's top directories (a key may start with "/", not with "/tmp/"). */
const FILE_PATH = /^\/(tmp|var|opt|mnt|etc|home|dev|run|usr|srv|proc)\//;

/**
 * The value, and its words: a key with a "?x" or a space after it is still a key. A file path
 * (a secret file under a mktemp directory) is judged by its segments, not as one random-looking word.
 */
function pieces(v: string): string[] {
  if (FILE_PATH.test(v)) return v.split(/[^A-Za-z0-9+=_.~-]+/).filter((w) => w !== "");
  const words = v.split(/[^A-Za-z0-9+/=_.~-]+/).filter((w) => w !== "" && w !== v);
  return [v, ...words];
}

/** Long, one word, mixed case and digits, and close to random (Shannon entropy of at least 4 bits a character). */
function looksRandom(v: string): boolean {
  if (v.length < 20 || !/^[A-Za-z0-9+/=_.~-]+$/.test(v) || !/[a-z]/.test(v) || !/[A-Z]/.test(v) || !/\d/.test(v)) return false;
  const counts = new Map<string, number>();
  for (const c of v) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / v.length) * Math.log2(n / v.length);
  return bits >= 4;
}

/** A value sent as an HTTP header: printable ASCII. */
export function headerValue(header: string): Parser<string> {
  return (v) => (isHeaderValue(v) ? v : invalid(`must be printable ASCII (it is sent as the ${header} header)`));
}

export function parseRoleArn(v: string): string | Invalid {
  return ROLE_ARN.test(v) ? v : invalid(`${quote(v)} is not an IAM role ARN (expected arn:aws:iam::123456789012:role/name)`);
}

export function parseHostname(v: string): string | Invalid {
  return HOSTNAME.test(v) ? v : invalid(`${quote(v)} is not a host name (e.g. vault.example.com)`);
}

/**
 * The path of a PEM file (VAULT_CACERT, VAULT_CLIENT_KEY...). Never quoted back: for
 * VAULT_CLIENT_KEY a pasted value would be a private key.
 */
export function parsePemPath(v: string): string | Invalid {
  if (v.includes("-----BEGIN") || v.includes("\n")) return invalid("must be the path of a PEM file, not the PEM content itself");
  if (hasControl(v)) return invalid("contains control characters; it must be the path of a PEM file");
  return v;
}

/** An http(s) URL as a parser (for variables whose value may be quoted back). */
export function httpUrl(variable: string, what: string, example: string): Parser<string> {
  return (v) => {
    const parsed = parseHttpUrl(variable, v, what, example);
    return typeof parsed === "string" ? invalid(parsed) : parsed.normalised;
  };
}
