/**
 * JSON-lines logger in Lambda's JSON log format (`timestamp`, `level`, `message`, plus fields).
 *
 * No caller should ever hand a secret to the logger; the redactor is a second line of defence:
 * every token, password and credential the extension receives is registered with it, and any
 * occurrence in a log line is replaced before the line is written.
 */
import { writeLine } from "./output.ts";
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

/** Values shorter than this are not scrubbed: they would mangle ordinary words and numbers. */
const MIN_SECRET_LENGTH = 6;

export class Redactor {
  private readonly secrets = new Set<string>();

  add(value: unknown): void {
    if (typeof value === "string" && value.length >= MIN_SECRET_LENGTH) this.secrets.add(value);
  }

  /** Registers every string value found in a (JSON-like) structure, e.g. a secret's data map. */
  addAll(value: unknown, depth = 0): void {
    if (depth > 8 || value === null || value === undefined) return;
    if (typeof value === "string") this.add(value);
    else if (Array.isArray(value)) for (const v of value) this.addAll(v, depth + 1);
    else if (typeof value === "object") for (const v of Object.values(value)) this.addAll(v, depth + 1);
  }

  scrub(text: string): string {
    if (this.secrets.size === 0) return text;
    let out = text;
    for (const s of this.secrets) if (out.includes(s)) out = out.split(s).join("[redacted]");
    return out;
  }
}

export type LogFields = Record<string, unknown>;

export interface Logger {
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

export function createLogger(opts: LoggerOptions): Logger {
  const threshold = LEVELS[opts.level];
  const write =
    opts.write ??
    ((line: string, level: LogLevel) => writeLine(LEVELS[level] >= LEVELS.warn ? process.stderr : process.stdout, line));

  let requestId: string | undefined;
  const emit = (level: LogLevel, message: string, fields?: LogFields) => {
    if (LEVELS[level] < threshold) return;
    const record = { timestamp: new Date().toISOString(), level: level.toUpperCase(), message, extension: "vault-lambda-agent", requestId, ...fields };
    write(opts.redactor.scrub(JSON.stringify(record)), level);
  };

  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    setRequestId: (id) => void (requestId = id),
  };
}
