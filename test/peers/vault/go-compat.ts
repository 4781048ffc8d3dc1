/**
 * Small re-implementations of Go standard-library behaviour that Vault's AWS auth method relies
 * on. The test server must accept and reject exactly what Vault accepts and rejects, and Node's
 * own parsers are more lenient (Buffer base64, WHATWG URL, URLSearchParams), so these follow the
 * Go sources instead.
 */

/** Go's `strconv.Quote` / `%q` for the strings Vault quotes in its error messages. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) ?? 0;
    switch (ch) {
      case '"':
        out += '\\"';
        break;
      case "\\":
        out += "\\\\";
        break;
      case "\n":
        out += "\\n";
        break;
      case "\r":
        out += "\\r";
        break;
      case "\t":
        out += "\\t";
        break;
      case "\u0007":
        out += "\\a";
        break;
      case "\b":
        out += "\\b";
        break;
      case "\f":
        out += "\\f";
        break;
      case "\u000b":
        out += "\\v";
        break;
      default:
        if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
        else out += ch;
    }
  }
  return `${out}"`;
}

/**
 * Go's `base64.StdEncoding.DecodeString`: standard alphabet, padding required, `\r` and `\n`
 * ignored, anything else rejected. Returns undefined on error.
 */
export function goBase64StdDecode(input: string): Buffer | undefined {
  const s = input.replace(/[\r\n]/g, "");
  if (s.length % 4 !== 0) return undefined;
  if (!/^[A-Za-z0-9+/]*(={0,2})$/.test(s)) return undefined;
  const pad = s.length - s.replace(/=+$/, "").length;
  if (pad > 0 && s.length === 0) return undefined;
  return Buffer.from(s, "base64");
}

/** Go's `url.QueryUnescape`: `+` is a space, `%XX` must be valid hex. Throws on a bad escape. */
function goQueryUnescape(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; ) {
    const c = s[i] as string;
    if (c === "%") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        let bad = s.slice(i, i + 3);
        if (bad.length > 3) bad = bad.slice(0, 3);
        throw new Error(`invalid URL escape ${goQuote(bad)}`);
      }
      bytes.push(Number.parseInt(hex, 16));
      i += 3;
    } else if (c === "+") {
      bytes.push(0x20);
      i += 1;
    } else {
      for (const b of Buffer.from(c, "utf8")) bytes.push(b);
      i += 1;
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/**
 * Go's `url.ParseQuery`: splits on `&`, rejects `;`, skips empty keys, keeps going after an error
 * and reports the first one. Returns the values and that first error (if any).
 */
export function goParseQuery(query: string): { values: Map<string, string[]>; error?: string } {
  const values = new Map<string, string[]>();
  let error: string | undefined;
  let rest = query;
  while (rest !== "") {
    let key: string;
    const amp = rest.indexOf("&");
    if (amp >= 0) {
      key = rest.slice(0, amp);
      rest = rest.slice(amp + 1);
    } else {
      key = rest;
      rest = "";
    }
    if (key.includes(";")) {
      error ??= "invalid semicolon separator in query";
      continue;
    }
    if (key === "") continue;
    const eq = key.indexOf("=");
    let value = "";
    if (eq >= 0) {
      value = key.slice(eq + 1);
      key = key.slice(0, eq);
    }
    let k: string;
    let v: string;
    try {
      k = goQueryUnescape(key);
    } catch (e) {
      error ??= (e as Error).message;
      continue;
    }
    try {
      v = goQueryUnescape(value);
    } catch (e) {
      error ??= (e as Error).message;
      continue;
    }
    const list = values.get(k);
    if (list) list.push(v);
    else values.set(k, [v]);
  }
  return error === undefined ? { values } : { values, error };
}

const TOKEN_CHARS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Go's `textproto.CanonicalMIMEHeaderKey` (Go >= 1.21): "x-amz-date" -> "X-Amz-Date". A key with
 * a space or a byte that is not a valid header token character is returned unchanged.
 */
export function canonicalHeaderKey(key: string): string {
  if (!TOKEN_CHARS.test(key)) return key;
  let upper = true;
  let out = "";
  for (const ch of key) {
    if (upper && ch >= "a" && ch <= "z") out += ch.toUpperCase();
    else if (!upper && ch >= "A" && ch <= "Z") out += ch.toLowerCase();
    else out += ch;
    upper = ch === "-";
  }
  return out;
}

/** The parts of Go's `url.URL` that Vault uses when it forwards the login request to STS. */
export interface GoUrl {
  scheme: string;
  opaque: string;
  host: string;
  /** The path as written in the URL (still escaped), used for `RequestURI()`. */
  rawPath: string;
  rawQuery: string;
  forceQuery: boolean;
}

function hasCtlByte(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

function validOptionalPort(port: string): boolean {
  if (port === "") return true;
  if (!port.startsWith(":")) return false;
  return /^[0-9]*$/.test(port.slice(1));
}

function checkEscapes(s: string): void {
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "%" && !/^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      throw new Error(`invalid URL escape ${goQuote(s.slice(i, i + 3))}`);
    }
  }
}

function parseHost(host: string): string {
  if (host.startsWith("[")) {
    const close = host.lastIndexOf("]");
    if (close < 0) throw new Error("missing ']' in host");
    const colonPort = host.slice(close + 1);
    if (!validOptionalPort(colonPort)) throw new Error(`invalid port ${goQuote(colonPort)} after host`);
  } else {
    const i = host.lastIndexOf(":");
    if (i >= 0) {
      const colonPort = host.slice(i);
      if (!validOptionalPort(colonPort)) throw new Error(`invalid port ${goQuote(colonPort)} after host`);
    }
  }
  checkEscapes(host);
  for (const ch of host) {
    if (!/[A-Za-z0-9\-._~!$&'()*+,;=:[\]<>"%]/.test(ch) && ch.charCodeAt(0) < 0x80) {
      throw new Error(`invalid character ${goQuote(ch)} in host name`);
    }
  }
  return host;
}

/**
 * Go's `url.Parse` (the subset that decides success or failure and the fields Vault reads).
 * Throws an Error when Go would return an error.
 */
export function goParseUrl(rawUrl: string): GoUrl {
  const hash = rawUrl.indexOf("#");
  let rest = hash >= 0 ? rawUrl.slice(0, hash) : rawUrl;
  if (hash >= 0) checkEscapes(rawUrl.slice(hash + 1));
  if (hasCtlByte(rest)) throw new Error("net/url: invalid control character in URL");
  const url: GoUrl = { scheme: "", opaque: "", host: "", rawPath: "", rawQuery: "", forceQuery: false };
  if (rest === "*") {
    url.rawPath = "*";
    return url;
  }
  // getScheme
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i] as string;
    if (/[A-Za-z]/.test(c)) continue;
    if (/[0-9+\-.]/.test(c)) {
      if (i === 0) break;
      continue;
    }
    if (c === ":") {
      if (i === 0) throw new Error("missing protocol scheme");
      url.scheme = rest.slice(0, i).toLowerCase();
      rest = rest.slice(i + 1);
    }
    break;
  }
  if (rest.endsWith("?") && rest.split("?").length === 2) {
    url.forceQuery = true;
    rest = rest.slice(0, -1);
  } else {
    const q = rest.indexOf("?");
    if (q >= 0) {
      url.rawQuery = rest.slice(q + 1);
      rest = rest.slice(0, q);
    }
  }
  if (!rest.startsWith("/")) {
    if (url.scheme !== "") {
      url.opaque = rest;
      return url;
    }
    const slash = rest.indexOf("/");
    const segment = slash >= 0 ? rest.slice(0, slash) : rest;
    if (segment.includes(":")) throw new Error("first path segment in URL cannot contain colon");
  }
  if ((url.scheme !== "" || !rest.startsWith("///")) && rest.startsWith("//")) {
    const afterSlashes = rest.slice(2);
    const slash = afterSlashes.indexOf("/");
    const authority = slash >= 0 ? afterSlashes.slice(0, slash) : afterSlashes;
    rest = slash >= 0 ? afterSlashes.slice(slash) : "";
    const at = authority.lastIndexOf("@");
    const hostPart = at >= 0 ? authority.slice(at + 1) : authority;
    if (at >= 0 && !/^[A-Za-z0-9\-._~!$&'()*+,;=:%]*$/.test(authority.slice(0, at))) {
      throw new Error("net/url: invalid userinfo");
    }
    url.host = parseHost(hostPart);
  }
  checkEscapes(rest);
  url.rawPath = rest;
  return url;
}

/** Go's `(*url.URL).RequestURI()`. */
export function goRequestUri(u: GoUrl): string {
  let result = u.opaque;
  if (result === "") {
    result = u.rawPath === "" ? "/" : u.rawPath;
  } else if (result.startsWith("//")) {
    result = `${u.scheme}:${result}`;
  }
  if (u.forceQuery || u.rawQuery !== "") result += `?${u.rawQuery}`;
  return result;
}

/** A Go-ish rendering of a JSON value for `%s`/`%v` inside error messages. */
export function goValueString(v: unknown): string {
  if (v === null || v === undefined) return "%!s(<nil>)";
  if (typeof v === "boolean") return `%!s(bool=${v})`;
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return `[${v.map(goValueString).join(" ")}]`;
  return `map[${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${k}:${goValueString(x)}`)
    .join(" ")}]`;
}
