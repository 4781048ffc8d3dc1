// Declared secrets: VAULT_SECRET_PATH_<NAME> (and VAULT_SECRET_PATH for the secret named
// "default"), each with an optional VAULT_SECRET_FILE_<NAME> (VAULT_SECRET_FILE).
//
//   - Names match case-insensitively (/secrets/db is VAULT_SECRET_PATH_DB); two variables that
//     differ only by case declare the same secret twice, which is an error.
//   - Paths: leading slashes are stripped; "v1/" is NOT stripped (a mount may be called "v1"), but
//     a path starting with it draws a warning. Paths with "." or ".." segments, "?", "#", "%",
//     a backslash, control characters or empty segments are rejected.
//   - Files: in file mode a secret without VAULT_SECRET_FILE_<NAME> is written to
//     /tmp/vault/<name lower-cased>.json, and the unnamed secret to /tmp/vault/secret.json, the
//     file HashiCorp's extension uses, so that the layer stays a drop-in replacement. In default
//     mode only secrets that name a file get one. In proxy mode a file variable is an error (it
//     would silently do nothing). A relative file is under /tmp/vault/.
import { posix as path } from "node:path";
import type { DeclaredSecret, RunMode } from "../config.ts";
import { hasControl, knownCredentialKind, quote } from "./parsers.ts";
import type { Reader } from "./reader.ts";

export const SECRET_PATH_PREFIX = "VAULT_SECRET_PATH_";
export const SECRET_FILE_PREFIX = "VAULT_SECRET_FILE_";
const SECRET_NAME = /^[A-Za-z0-9_]+$/;

/** Where relative secret files go, and where file mode writes by default. */
export const SECRET_FILE_DIR = "/tmp/vault";
/** Name of the secret declared by `VAULT_SECRET_PATH` (served as `/secrets/default`). */
const DEFAULT_SECRET_NAME = "default";
/** File-mode default for the unnamed secret: HashiCorp's extension writes it here. */
const DEFAULT_SECRET_FILE = `${SECRET_FILE_DIR}/secret.json`;

interface Declaration {
  name: string;
  variable: string;
  value: string;
}

/** key → declarations; more than one for a key is the "differs only by case" error. */
type Declarations = Map<string, Declaration[]>;

/** Every declared secret, sorted by key; problems and warnings go to the reader and `warnings`. */
export function parseSecrets(env: Record<string, string | undefined>, r: Reader, runMode: RunMode, warnings: string[]): DeclaredSecret[] {
  const { paths, files } = collect(env, r);
  const secrets: DeclaredSecret[] = [];
  const byFile = new Map<string, DeclaredSecret>();
  for (const key of [...new Set([...paths.keys(), ...files.keys()])].sort()) {
    const pathDecls = paths.get(key) ?? [];
    const fileDecls = files.get(key) ?? [];
    const pathsOk = unique(pathDecls, r);
    const filesOk = unique(fileDecls, r); // both checked, so that both problems are reported
    if (!pathsOk || !filesOk) continue;
    const secret = declare(key, pathDecls[0], fileDecls[0], r, runMode, warnings);
    if (secret && claimFile(secret, byFile, r, warnings)) secrets.push(secret);
  }
  return secrets;
}

/** Sorts the PATH and FILE variables by secret key; refuses bad names. */
function collect(env: Record<string, string | undefined>, r: Reader): { paths: Declarations; files: Declarations } {
  const paths: Declarations = new Map();
  const files: Declarations = new Map();
  for (const variable of Object.keys(env).sort()) {
    let name: string;
    let target: Declarations;
    if (variable === "VAULT_SECRET_PATH") [name, target] = [DEFAULT_SECRET_NAME, paths];
    else if (variable === "VAULT_SECRET_FILE") [name, target] = [DEFAULT_SECRET_NAME, files];
    else if (variable.startsWith(SECRET_PATH_PREFIX)) [name, target] = [variable.slice(SECRET_PATH_PREFIX.length), paths];
    else if (variable.startsWith(SECRET_FILE_PREFIX)) [name, target] = [variable.slice(SECRET_FILE_PREFIX.length), files];
    else continue;
    const value = r.get(variable);
    if (value === undefined) continue; // empty = unset
    if (name === "") {
      const family = target === paths ? "PATH" : "FILE";
      r.problem(variable, `has no secret name; use VAULT_SECRET_${family}_<NAME> (e.g. VAULT_SECRET_${family}_DB), or VAULT_SECRET_${family} for the unnamed secret`);
      continue;
    }
    if (!SECRET_NAME.test(name)) {
      r.problem(variable, `the secret name ${quote(name)} may only contain letters, digits and "_"`);
      continue;
    }
    const key = name.toLowerCase();
    target.set(key, [...(target.get(key) ?? []), { name, variable, value }]);
  }
  return { paths, files };
}

/** One declaration per key, or a problem naming them all. */
function unique(decls: Declaration[], r: Reader): boolean {
  if (decls.length <= 1) return true;
  r.problem(
    decls[0]?.variable ?? "VAULT_SECRET_PATH",
    `${decls.map((d) => d.variable).join(" and ")}: secret names match case-insensitively, so these declare the same secret twice; keep one`,
  );
  return false;
}

/** One secret from its PATH (and FILE) variable; the path and the file are checked independently. */
function declare(key: string, pathDecl: Declaration | undefined, fileDecl: Declaration | undefined, r: Reader, runMode: RunMode, warnings: string[]): DeclaredSecret | undefined {
  if (pathDecl === undefined) {
    if (fileDecl !== undefined) {
      const pathVar = fileDecl.variable === "VAULT_SECRET_FILE" ? "VAULT_SECRET_PATH" : `${SECRET_PATH_PREFIX}${fileDecl.name}`;
      r.problem(fileDecl.variable, `set, but ${pathVar} is not: a file needs a secret to hold (set ${pathVar} to its Vault path, or remove ${fileDecl.variable})`);
    }
    return undefined;
  }
  // A token or key pasted here would be sent to Vault as a path, and Vault's 404 would quote it.
  const credential = knownCredentialKind(pathDecl.value.replace(/^\/+/, ""));
  const vaultPath = credential ? { error: `holds what looks like ${credential}, not a Vault path (value not shown); set it to a path such as secret/data/my-app` } : parseSecretPath(pathDecl.value);
  if (typeof vaultPath !== "string") r.problem(pathDecl.variable, vaultPath.error);
  else if (vaultPath.startsWith("v1/")) {
    warnings.push(`${pathDecl.variable}: the path starts with "v1/"; Vault paths are relative to /v1/, so unless a mount is really called "v1", drop that prefix`);
  }
  const file = fileOf(pathDecl, fileDecl, r, runMode);
  if (file === false || typeof vaultPath !== "string") return undefined;
  const secret: DeclaredSecret = { name: pathDecl.name, key, path: vaultPath, variable: pathDecl.variable };
  if (file !== undefined) secret.file = file;
  if (file !== undefined && fileDecl !== undefined) secret.fileVariable = fileDecl.variable;
  return secret;
}

/** The file a secret is written to: a path, none (undefined), or `false` when its variable is wrong. */
function fileOf(pathDecl: Declaration, fileDecl: Declaration | undefined, r: Reader, runMode: RunMode): string | undefined | false {
  if (fileDecl === undefined) {
    if (runMode !== "file") return undefined;
    // The unnamed secret keeps HashiCorp's file name; see DEFAULT_SECRET_FILE.
    return pathDecl.variable === "VAULT_SECRET_PATH" ? DEFAULT_SECRET_FILE : defaultSecretFile(pathDecl.name);
  }
  if (runMode === "proxy") {
    r.problem(fileDecl.variable, "files are not written in proxy mode (VAULT_RUN_MODE=proxy); remove it or use VAULT_RUN_MODE=default");
    return false;
  }
  const resolved = resolveSecretFile(fileDecl.value);
  if (typeof resolved === "string") return resolved;
  r.problem(fileDecl.variable, resolved.error);
  return false;
}

/** Two secrets must not share a file; a file outside /tmp draws a warning. */
function claimFile(secret: DeclaredSecret, byFile: Map<string, DeclaredSecret>, r: Reader, warnings: string[]): boolean {
  if (secret.file === undefined) return true;
  const other = byFile.get(secret.file);
  if (other !== undefined) {
    const vars = [other.fileVariable ?? other.variable, secret.fileVariable ?? secret.variable];
    r.problem(
      vars[0] ?? secret.variable,
      `${vars.join(" and ")}: the secrets ${quote(other.name)} and ${quote(secret.name)} would both be written to ${secret.file}; give each its own VAULT_SECRET_FILE_<NAME>`,
    );
    return false;
  }
  byFile.set(secret.file, secret);
  if (!secret.file.startsWith("/tmp/")) warnings.push(`${secret.fileVariable ?? secret.variable}: ${secret.file} is outside /tmp, the only writable directory in Lambda`);
  return true;
}

/** A declared secret's Vault path, leading slashes stripped; or what is wrong with it. */
function parseSecretPath(value: string): string | { error: string } {
  const p = value.replace(/^\/+/, "");
  if (p === "") return { error: `${quote(value)} is not a Vault path (e.g. secret/data/my-app)` };
  if (hasControl(p)) return { error: "contains control characters; set it to a Vault path such as secret/data/my-app" };
  if (p.includes("\\")) {
    return { error: `${quote(value)} must not contain a backslash: Vault paths use "/" (e.g. secret/data/my-app)` };
  }
  if (/[?#%]/.test(p)) {
    return { error: `${quote(value)} must be a plain Vault path, without "?", "#" or "%" (e.g. secret/data/my-app)` };
  }
  const segments = p.replace(/\/$/, "").split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    return { error: `${quote(value)} must not contain empty, "." or ".." segments (e.g. secret/data/my-app)` };
  }
  return p;
}

/**
 * Where a VAULT_SECRET_FILE value points: a relative path is under /tmp/vault/. Returns the
 * absolute, normalised path, or a message (without the variable name) saying what is wrong.
 */
export function resolveSecretFile(value: string): string | { error: string } {
  if (hasControl(value)) return { error: "contains control characters" };
  const segments = value.split("/");
  if (segments.includes("..")) {
    return { error: `${quote(value)} must not contain ".." (use an absolute path, or one relative to ${SECRET_FILE_DIR}/)` };
  }
  const last = segments[segments.length - 1];
  if (last === "" || last === ".") return { error: `${quote(value)} names a directory, not a file (e.g. ${SECRET_FILE_DIR}/db.json)` };
  const absolute = value.startsWith("/") ? value : `${SECRET_FILE_DIR}/${value}`;
  return path.normalize(absolute);
}

/**
 * File mode's default file for a named secret: /tmp/vault/<name lower-cased>.json. (The unnamed
 * secret of VAULT_SECRET_PATH uses DEFAULT_SECRET_FILE instead.) Lower-cased because names match
 * case-insensitively everywhere else: VAULT_SECRET_PATH_DB is /secrets/db and /tmp/vault/db.json.
 */
export function defaultSecretFile(name: string): string {
  return `${SECRET_FILE_DIR}/${name.toLowerCase()}.json`;
}
