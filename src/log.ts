/**
 * JSON-lines logger in Lambda's JSON log format (`timestamp`, `level`, `message`, plus fields).
 *
 * No caller should ever hand a secret to the logger; the redactor is a second line of defence:
 * every token, password and credential the extension receives is registered with it, and any
 * occurrence in a log line is replaced before the line is written.
 */
import { writeLine } from "./output.ts";
import { stripQuery } from "./errors.ts";
export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "off";

const LEVELS: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, off: 100 };

/**
 * `AWS_LAMBDA_LOG_LEVEL` (the function's "application log level": TRACE, DEBUG, INFO, WARN, ERROR
 * or FATAL, in any case) as a level of ours; undefined when unset or unknown. `VAULT_LOG_LEVEL` wins.
 */
export function lambdaLogLevel(value: string | undefined): LogLevel | undefined {
  const v = (value ?? "").trim().toLowerCase();
  if (v === "fatal") return "error";
  return v === "trace" || v === "debug" || v === "info" || v === "warn" || v === "error" ? v : undefined;
}

/**
 * Secrets at least this long are replaced wherever they appear. Shorter ones (a PIN, "pw1", a port
 * kept in a secret) would also match ordinary words, numbers and pieces of other values, so they
 * are replaced only where they stand as a whole value: a whole JSON string (`"x9Qz"`, also quoted
 * inside a JSON string, `\"x9Qz\"`) or a field value (`pin=x9Qz` up to `&`, a quote, a space, `,`,
 * `;` or the end). A short secret in running text ("the pin x9Qz is wrong") is not matched: that is
 * the price of not mangling every log line that happens to contain "5432".
 */
const SHORT_SECRET_LENGTH = 6;
const REDACTED = "[redacted]";
const NOTHING_KEPT: ReadonlySet<string> = new Set();

/**
 * Every token, password, signature and credential the extension comes across is registered here
 * the moment it exists; `scrub` replaces each of them in a text (a log line, an `init/error` body,
 * an HTTP error body) in every form it can take there: as is, JSON-escaped (once, and twice for JSON
 * inside a JSON string: a PEM key's newlines, a password's quotes and backslashes), URL-encoded
 * and in base64.
 */
export class Redactor {
  /**
   * Every value known, with how many holds keep it: `Infinity` for one registered for good (`add`,
   * `addAll`: credentials, tokens, values without a lease), else the number of leases whose values
   * hold it (`hold`), forgotten when the last of them is released (`release`).
   */
  private readonly secrets = new Map<string, number>();
  /** The forms of the long secrets, longest first (so that a secret containing another goes whole); rebuilt after a change. */
  private long: string[] | undefined;
  /** One pattern for every form of the short secrets, or null when there are none; rebuilt after a change. */
  private short: RegExp | null | undefined;

  /** How many values it knows. */
  get size(): number {
    return this.secrets.size;
  }

  /** Registers a value for good. */
  add(value: unknown): void {
    if (typeof value !== "string" || value === "" || this.secrets.get(value) === Infinity) return;
    if (!this.secrets.has(value)) this.changed();
    this.secrets.set(value, Infinity);
  }

  /**
   * Registers every string value found in a (JSON-like) structure, e.g. a secret's data map, and
   * every number long enough to be a credential (a PIN or an account key stored as a JSON number);
   * shorter numbers are ports and counts far more often than secrets. Booleans are never secrets.
   */
  addAll(value: unknown): void {
    for (const v of valuesIn(value)) this.add(v);
  }

  /**
   * Registers the values of a structure for as long as something holds them (a lease's data: once
   * the lease is dead long enough that its values cannot appear anywhere any more, `release` them).
   * Returns what to release. A value also registered for good, or held by another lease, stays.
   */
  hold(value: unknown): string[] {
    const held = [...new Set(valuesIn(value))];
    for (const v of held) {
      const count = this.secrets.get(v);
      if (count === undefined) this.changed();
      this.secrets.set(v, (count ?? 0) + 1);
    }
    return held;
  }

  /** Gives back what `hold` returned: values no longer held by anything are forgotten. */
  release(held: readonly string[]): void {
    for (const v of held) {
      const count = this.secrets.get(v);
      if (count === undefined || count === Infinity) continue;
      if (count > 1) this.secrets.set(v, count - 1);
      else {
        this.secrets.delete(v);
        this.changed();
      }
    }
  }

  private changed(): void {
    this.long = undefined;
    this.short = undefined;
  }

  scrub(text: string): string {
    if (this.secrets.size === 0) return text;
    let out = text;
    for (const form of (this.long ??= this.longForms())) if (out.includes(form)) out = out.split(form).join(REDACTED);
    const short = this.short === undefined ? (this.short = this.shortPattern()) : this.short;
    return short ? out.replace(short, REDACTED) : out;
  }

  /**
   * One string that stands as a whole value (a log field, a string of a JSON answer): replaced
   * whole when it is a secret, however short, else scrubbed as text.
   */
  scrubValue(text: string): string {
    return this.secrets.has(text) ? REDACTED : this.scrub(text);
  }

  /**
   * A JSON value as JSON text with every string in it scrubbed (`scrubValue`), and nothing else:
   * keys, numbers, booleans and the structure are the extension's own and stay as they are, so the
   * text stays the JSON it was whatever a secret looks like (a key name, a number, a piece of JSON).
   * Scrubbing the encoded text instead would turn `"message":` into `"[redacted]":` for a secret
   * "message", or `"ms":1234567` into `"ms":[redacted]7`. Keys named in `keep` at the top level keep
   * their string values too (the logger's own `extension`).
   */
  scrubJson(value: unknown, keep: ReadonlySet<string> = NOTHING_KEPT): string {
    if (this.secrets.size === 0) return JSON.stringify(value);
    const top = value;
    const scrubber = this;
    return JSON.stringify(value, function (this: unknown, key: string, v: unknown) {
      if (typeof v !== "string") return v;
      if (this === top && keep.has(key)) return v;
      return scrubber.scrubValue(v);
    });
  }

  private longForms(): string[] {
    const forms = new Set<string>();
    for (const s of this.secrets.keys()) if (s.length >= SHORT_SECRET_LENGTH) for (const f of formsOf(s, true)) forms.add(f);
    return [...forms].sort((a, b) => b.length - a.length);
  }

  private shortPattern(): RegExp | null {
    const forms = new Set<string>();
    for (const s of this.secrets.keys()) if (s.length < SHORT_SECRET_LENGTH) for (const f of formsOf(s, false)) forms.add(f);
    if (forms.size === 0) return null;
    const alternatives = [...forms].sort((a, b) => b.length - a.length).map(escapeRegExp);
    // Left: an opening quote (JSON's `"`, or the `"` of an escaped `\"`) or a field's `=`.
    // Right: a closing quote (`"`, or `\"` however deeply escaped), a field separator, a space, or the end.
    return new RegExp(`(?<=["=])(?:${alternatives.join("|")})(?=\\\\*"|[&\\s,;)\\]}]|$)`, "g");
  }
}

/** The strings in a (JSON-like) structure, and its numbers long enough to be credentials, to depth 8. */
function valuesIn(value: unknown, depth = 0, out: string[] = []): string[] {
  if (depth > 8 || value === null || value === undefined) return out;
  if (typeof value === "string") {
    if (value !== "") out.push(value);
  } else if (typeof value === "number" && Number.isFinite(value) && String(value).length >= SHORT_SECRET_LENGTH) out.push(String(value));
  else if (Array.isArray(value)) for (const v of value) valuesIn(v, depth + 1, out);
  else if (typeof value === "object") for (const v of Object.values(value)) valuesIn(v, depth + 1, out);
  return out;
}

/**
 * The forms a secret takes in a text we write: raw; JSON-escaped once and twice, and as Go's JSON
 * escapes it (`<`, `>`, `&` as `\u003c`...: Vault's errors may quote a JSON body it was sent); URL-
 * and form-encoded (a query, a signed form body); base64.
 */
function formsOf(value: string, withEncodings: boolean): string[] {
  const once = jsonEscaped(value);
  const forms = [value, once, jsonEscaped(once)];
  if (withEncodings) {
    const go = goJsonEscaped(once);
    forms.push(go, jsonEscaped(go), encodeURIComponent(value), new URLSearchParams({ v: value }).toString().slice(2), Buffer.from(value, "utf8").toString("base64"));
  }
  return forms;
}

/** Go's encoding/json escapes these too (HTML-safe by default), and the line and paragraph separators. */
function goJsonEscaped(jsonEscapedText: string): string {
  return jsonEscapedText.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function jsonEscaped(value: string): string {
  return JSON.stringify(value).slice(1, -1);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

export type LogFields = Record<string, unknown>;

export interface Logger {
  /** The redactor every line goes through: whatever reports a text outside the process (an init/error body) scrubs it with this. */
  readonly redactor: Redactor;
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  /** The invocation every following line belongs to (Lambda's INVOKE `requestId`), until the next one; undefined outside an invocation. */
  setRequestId(requestId: string | undefined): void;
}

export interface LoggerOptions {
  level: LogLevel;
  redactor: Redactor;
  write?: (line: string, level: LogLevel) => void;
}

/** Fields whose values the logger writes itself (never a secret, and never to be mangled by one). */
const LOGGER_OWN: ReadonlySet<string> = new Set(["extension"]);

/** Fields that name a path or URL, logged without their query (which may carry a token: `auth/token/lookup?token=…`). */
const PATH_FIELDS = new Set(["path", "url"]);

function withoutQueries(fields: LogFields | undefined): LogFields | undefined {
  if (!fields) return fields;
  let out: LogFields | undefined;
  for (const key of PATH_FIELDS) {
    const value = fields[key];
    if (typeof value === "string" && value.includes("?")) (out ??= { ...fields })[key] = stripQuery(value);
  }
  return out ?? fields;
}

export function createLogger(opts: LoggerOptions): Logger {
  const threshold = LEVELS[opts.level];
  const write =
    opts.write ??
    ((line: string, level: LogLevel) => writeLine(LEVELS[level] >= LEVELS.warn ? process.stderr : process.stdout, line));

  let requestId: string | undefined;
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] < threshold) return;
    // The timestamp and the level are ours and are kept out of the scrub: a short secret that
    // happens to read "WARN" must not take the level Lambda filters on.
    const head = JSON.stringify({ timestamp: new Date().toISOString(), level: level.toUpperCase() });
    // Each string is scrubbed as a value, never the encoded line: a secret equal to a key, a number
    // or a piece of JSON must not change the line's structure (`Redactor.scrubJson`).
    const rest = opts.redactor.scrubJson({ message, extension: "vault-lambda-agent", requestId, ...withoutQueries(fields) }, LOGGER_OWN);
    write(`${head.slice(0, -1)},${rest.slice(1)}`, level);
  };

  return {
    redactor: opts.redactor,
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    setRequestId: (id) => void (requestId = id),
  };
}
