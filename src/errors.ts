/**
 * The extension's one error model. Every failure has a kind, which decides what happens next:
 *
 *   config           a variable is wrong: reported at init (Extension.ConfigInvalid), never retried
 *   auth             Vault or STS refused who we are: Extension.AuthFailed
 *   vault-transient  Vault unreachable, sealed, overloaded (connection errors, 412, 429, 5xx but
 *                    501): retried with backoff; a held value is served STALE meanwhile
 *   vault-permanent  Vault answered and meant it (400, 403, 404, 501...): not retried as is
 *   timeout          Vault did not answer in time: retried like a transient failure; 504 to a caller
 *   local            this process's own trouble (a file, a port, the Extensions API)
 *
 * `kindOf` and `isTransient` are the one place those are decided, and `describe` the one place an
 * error is put into words for a human (a log line, an init/error body, a 502 body). Causes are kept
 * (`Error.cause`). Messages are built without tokens or secret values, but Vault's own words may
 * echo what it was sent: every text that leaves the process goes through the redactor
 * (docs/architecture.md, "Logging and redaction").
 */
import type { IncomingHttpHeaders } from "node:http";

export type ErrorKind = "config" | "auth" | "vault-transient" | "vault-permanent" | "timeout" | "local";

/** An error of the extension itself, with its kind. */
export class AgentError extends Error {
  constructor(
    readonly kind: ErrorKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "AgentError";
  }
}

// ---------------------------------------------------------------------------------------------
// Vault

/** Vault's whole HTTP answer. */
export interface HttpAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** How a request to Vault failed: an answer with a bad status, or no answer at all. */
export type VaultFailure = "status" | "timeout" | "connection" | "aborted";

/** HTTP statuses worth another attempt: 412 (a standby not caught up), 429, and 5xx but 501. */
export function isTransientStatus(status: number): boolean {
  return status === 412 || status === 429 || (status >= 500 && status !== 501);
}

/** A failed request to Vault. The message carries Vault's own words, which may echo what it was sent: scrub before it leaves the process. */
export class VaultError extends Error {
  /** Vault's whole answer, when there was one (the proxy passes it through). */
  response?: HttpAnswer;
  /** Vault's `warnings`, which often say why a request did not do what was asked. */
  readonly warnings: string[];

  constructor(
    readonly kind: VaultFailure,
    readonly method: string,
    readonly path: string,
    readonly status: number | undefined,
    readonly errors: string[],
    options: { warnings?: string[]; cause?: unknown; response?: HttpAnswer } = {},
  ) {
    super(vaultMessage(kind, method, path, status, errors, options.warnings ?? []), { cause: options.cause });
    this.name = "VaultError";
    this.warnings = options.warnings ?? [];
    if (options.response) this.response = options.response;
  }

  /** Worth another attempt: connection trouble, timeouts, 412, 429 and 5xx other than 501. */
  get transient(): boolean {
    return isTransient(this);
  }

  get permissionDenied(): boolean {
    return this.status === 403;
  }

  /** Vault's reason in plain words (its errors, then its warnings), for answers to the handler. */
  get reason(): string {
    if (this.errors.length === 0) return this.message;
    return this.errors.join("; ") + warningSuffix(this.warnings);
  }
}

function vaultMessage(kind: VaultFailure, method: string, p: string, status: number | undefined, errors: string[], warnings: string[]): string {
  const where = `${method} ${stripQuery(p)}`;
  switch (kind) {
    case "timeout":
      return `Vault did not answer ${where} in time`;
    case "connection":
      return `could not reach Vault for ${where}: ${errors.join("; ")}`;
    case "aborted":
      return `request ${where} to Vault was abandoned`;
    default:
      return `Vault answered ${status} to ${where}${errors.length ? `: ${errors.join("; ")}` : ""}${warningSuffix(warnings)}`;
  }
}

function warningSuffix(warnings: string[]): string {
  return warnings.length ? ` (Vault warned: ${warnings.join("; ")})` : "";
}

/** A logical Vault path without its query string (which may carry anything), for messages. */
export function stripQuery(p: string): string {
  const q = p.indexOf("?");
  return q < 0 ? p : p.slice(0, q);
}

/** The `errors` and `warnings` string arrays of a Vault JSON answer (either may be absent). */
export function vaultMessages(json: unknown): { errors: string[]; warnings: string[] } {
  const j = json as { errors?: unknown; warnings?: unknown } | undefined;
  return { errors: strings(j?.errors), warnings: strings(j?.warnings) };
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((e): e is string => typeof e === "string").map((e) => e.trim()) : [];
}

// ---------------------------------------------------------------------------------------------
// Configuration

export interface ConfigProblem {
  variable: string;
  /** Starts with the variable's name. */
  message: string;
}

/** Every problem found in the configuration, together, so that one deployment fixes them all. */
export class ConfigError extends Error {
  readonly problems: ConfigProblem[];
  constructor(problems: ConfigProblem[]) {
    super(problems.map((p) => p.message).join("; "));
    this.name = "ConfigError";
    this.problems = problems;
  }
}

// ---------------------------------------------------------------------------------------------
// Lambda

/** The Extensions API answered an error or garbage: the extension cannot go on. */
export class ExtensionsApiError extends AgentError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super("local", message);
    this.name = "ExtensionsApiError";
  }
}

export type InitErrorType = "Extension.ConfigInvalid" | "Extension.VaultUnreachable" | "Extension.AuthFailed" | "Extension.SecretReadFailed";

/** An init failure, with the type Lambda reports and a message that says what to fix. */
export class InitError extends Error {
  constructor(
    readonly type: InitErrorType,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "InitError";
  }
}

/**
 * The `Lambda-Extension-Function-Error-Type` of an init failure of this kind, in this init step:
 * Vault that cannot be reached is `VaultUnreachable` whatever the step; a permanent refusal is
 * `AuthFailed` at login and `SecretReadFailed` when reading (or writing) the declared secrets.
 */
export function initErrorType(kind: ErrorKind, step: "listen" | "login" | "read"): InitErrorType {
  switch (kind) {
    case "config":
      return "Extension.ConfigInvalid";
    case "auth":
      return "Extension.AuthFailed";
    case "vault-transient":
    case "timeout":
      return "Extension.VaultUnreachable";
    case "vault-permanent":
      return step === "read" ? "Extension.SecretReadFailed" : "Extension.AuthFailed";
    case "local":
      return step === "read" ? "Extension.SecretReadFailed" : step === "listen" ? "Extension.ConfigInvalid" : "Extension.VaultUnreachable";
  }
}

// ---------------------------------------------------------------------------------------------
// The one place for "what kind", "transient" and "in words"

export function kindOf(err: unknown): ErrorKind {
  if (err instanceof AgentError) return err.kind;
  if (err instanceof ConfigError) return "config";
  if (err instanceof VaultError) {
    if (err.kind === "timeout") return "timeout";
    if (err.kind === "connection" || err.kind === "aborted") return "vault-transient";
    return err.status !== undefined && isTransientStatus(err.status) ? "vault-transient" : "vault-permanent";
  }
  return "local";
}

/**
 * Worth another attempt later. An abandoned request (`aborted`: the extension gave it up before a
 * freeze) is not: the extension chose to stop, and retrying it at once would defeat that.
 */
export function isTransient(err: unknown): boolean {
  if (err instanceof VaultError && err.kind === "aborted") return false;
  const kind = kindOf(err);
  return kind === "vault-transient" || kind === "timeout";
}

/** Vault answered 403 (a dead token, or a policy that denies the path). */
export function isPermissionDenied(err: unknown): boolean {
  return err instanceof VaultError && err.permissionDenied;
}

/** An error in plain words for a log line or a message; Vault's own reason when it gave one. */
export function describe(err: unknown): string {
  if (err instanceof VaultError) return err.message;
  return err instanceof Error ? err.message : String(err);
}

/** What Vault said, when it said something; otherwise the error in words (for 502 bodies). */
export function reasonOf(err: unknown): string {
  return err instanceof VaultError ? err.reason : describe(err);
}
