// Configuration: every environment variable of DESIGN section 2, parsed and validated in one pass.
//
// parseConfig collects EVERY problem it finds and throws them together in one ConfigError, so a
// user fixes a broken deployment in one round trip instead of one cold start per mistake. Messages
// start with the variable's name, say what is wrong and how to fix it, and never contain the value
// of a credential variable (CREDENTIAL_VARIABLES below).
//
// Decisions where DESIGN section 2 is silent (each also noted at the code that implements it):
//   - Values are trimmed and an empty value counts as unset (the Lambda console keeps empty rows).
//   - Booleans: Go's strconv.ParseBool set (1, t, true, 0, f, false), case-insensitively.
//   - Secret paths: leading slashes are stripped; "v1/" is NOT stripped (a mount may be called
//     "v1"), but a path starting with it draws a warning. Paths with "." or ".." segments, "?",
//     "#", "%", control characters or empty segments are rejected.
//   - Secret files: in file mode a secret without VAULT_SECRET_FILE_<NAME> is written to
//     /tmp/vault/<name lower-cased>.json, and the unnamed secret (VAULT_SECRET_PATH) to
//     /tmp/vault/secret.json, the file HashiCorp's extension uses, so that the layer stays a
//     drop-in replacement. In default mode only secrets that name a file get one. In proxy mode a
//     file variable is an error (it would silently do nothing).
//   - VAULT_ADDR (when it is what the extension uses) must not point at the extension's own
//     listener: that is the classic mistake of pointing the function's VAULT_ADDR at the local
//     proxy without setting VLE_VAULT_ADDR, and it would make the extension log in to itself.
//   - Unknown VAULT_* / VLE_* variables that look like misspellings of ours, and Vault CLI
//     variables we do not support, are returned as warnings, not errors.

import { posix as path } from "node:path";
import { formatDuration, parseDuration } from "./duration.ts";
import { ConfigError, type ConfigProblem } from "./errors.ts";
import type { LogLevel } from "./log.ts";
import type { TlsConfig } from "./vault/client.ts";

export type RunMode = "default" | "proxy" | "file";

export const RUN_MODES: readonly RunMode[] = ["default", "proxy", "file"];
export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "off"];

/** Where relative secret files go, and where file mode writes by default. */
export const SECRET_FILE_DIR = "/tmp/vault";
/** Name of the secret declared by `VAULT_SECRET_PATH` (served as `/secrets/default`). */
export const DEFAULT_SECRET_NAME = "default";
/** File-mode default for the unnamed secret: HashiCorp's extension writes it here. */
export const DEFAULT_SECRET_FILE = `${SECRET_FILE_DIR}/secret.json`;
/** Used as the AssumeRole session name outside Lambda. */
export const DEFAULT_FUNCTION_NAME = "vault-lambda-agent";

export interface DeclaredSecret {
  /** As declared: "DB" for VAULT_SECRET_PATH_DB, "default" for VAULT_SECRET_PATH. */
  name: string;
  /** `name` lower-cased: the lookup key (secret names match case-insensitively). */
  key: string;
  /**
   * Vault path, no leading slash, no `/v1/`, as written (not percent-encoded): encode it per
   * segment when building a URL. Free of `.`/`..`/empty segments, `?`, `#`, `%` and controls.
   */
  path: string;
  /** Absolute, normalised path of the file this secret is written to, when it is. */
  file?: string;
  /** The variable that declared it: "VAULT_SECRET_PATH_DB" or "VAULT_SECRET_PATH". */
  variable: string;
  /** The variable that named the file, when one did (absent for file mode's default file). */
  fileVariable?: string;
}

export interface AwsEnvironment {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** AWS_REGION ?? AWS_DEFAULT_REGION. */
  region?: string;
  /** AWS_LAMBDA_FUNCTION_NAME, or "vault-lambda-agent". */
  functionName: string;
  /** AWS_ENDPOINT_URL_STS, normalised without a trailing slash: where AssumeRole is sent. */
  stsEndpointUrl?: string;
}

export interface Config {
  /** Normalised, no trailing slash; a path prefix is kept ("https://vault.example.com/prefix"). */
  vaultAddr: string;
  vaultAddrVariable: "VLE_VAULT_ADDR" | "VAULT_ADDR";
  /** Mount path of the AWS auth method, without leading or trailing slashes. */
  authProvider: string;
  authRole?: string;
  iamServerId?: string;
  /** Lower-cased region. */
  stsRegion?: string;
  assumedRoleArn?: string;
  namespace?: string;
  tls: TlsConfig;
  clientTimeoutMs: number;
  maxRetries: number;
  gracePeriodMs: number;
  /** Sorted by key. */
  secrets: DeclaredSecret[];
  runMode: RunMode;
  port: number;
  requireToken: boolean;
  /** 0 = a static secret is kept until a refresh is asked for. */
  staticSecretTtlMs: number;
  defaultCacheEnabled: boolean;
  /** Unset = proxy responses without a lease are never cached. */
  defaultCacheTtlMs?: number;
  revokeOnShutdown: boolean;
  logLevel: LogLevel;
  /** AWS_SESSION_TOKEN, else AWS_CONTAINER_AUTHORIZATION_TOKEN (SnapStart). */
  callerToken?: string;
  aws: AwsEnvironment;
  /** Things worth a log line at init that do not stop the extension (e.g. a misspelt variable). */
  warnings: string[];
}

/** Variables whose value must never appear in a message, whatever is wrong with it. */
export const CREDENTIAL_VARIABLES: readonly string[] = [
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_CONTAINER_AUTHORIZATION_TOKEN",
  "VAULT_CLIENT_KEY",
];

/** Every fixed-name variable this module reads from the VAULT_/VLE_ families. */
export const KNOWN_VARIABLES: readonly string[] = [
  "VLE_VAULT_ADDR",
  "VAULT_ADDR",
  "VAULT_AUTH_PROVIDER",
  "VAULT_AUTH_ROLE",
  "VAULT_IAM_SERVER_ID",
  "VAULT_STS_ENDPOINT_REGION",
  "VAULT_ASSUMED_ROLE_ARN",
  "VAULT_NAMESPACE",
  "VAULT_CACERT",
  "VAULT_CAPATH",
  "VAULT_CLIENT_CERT",
  "VAULT_CLIENT_KEY",
  "VAULT_TLS_SERVER_NAME",
  "VAULT_SKIP_VERIFY",
  "VAULT_CLIENT_TIMEOUT",
  "VAULT_MAX_RETRIES",
  "VAULT_TOKEN_EXPIRY_GRACE_PERIOD",
  "VAULT_SECRET_PATH",
  "VAULT_SECRET_FILE",
  "VAULT_RUN_MODE",
  "VAULT_AGENT_PORT",
  "VAULT_AGENT_REQUIRE_TOKEN",
  "VAULT_STATIC_SECRET_TTL",
  "VAULT_DEFAULT_CACHE_ENABLED",
  "VAULT_DEFAULT_CACHE_TTL",
  "VAULT_REVOKE_ON_SHUTDOWN",
  "VAULT_LOG_LEVEL",
];

const SECRET_PATH_PREFIX = "VAULT_SECRET_PATH_";
const SECRET_FILE_PREFIX = "VAULT_SECRET_FILE_";
const SECRET_NAME = /^[A-Za-z0-9_]+$/;

// Vault CLI/API variables a function may legitimately set for its own Vault client: never
// reported as misspellings of ours.
const FOREIGN_VAULT_VARIABLES = new Set([
  "VAULT_TOKEN",
  "VAULT_AGENT_ADDR",
  "VAULT_FORMAT",
  "VAULT_CLI_NO_COLOR",
  "VAULT_MFA",
  "VAULT_DISABLE_REDIRECTS",
  "VAULT_SRV_LOOKUP",
  "VAULT_WRAP_TTL",
  "VAULT_LICENSE",
  "VAULT_LICENSE_PATH",
  "VAULT_API_ADDR",
  "VAULT_CLUSTER_ADDR",
  "VAULT_REDIRECT_ADDR",
  "VAULT_LOG_FORMAT",
]);

// Vault API variables HashiCorp's extension inherits but this one does not implement: a user
// migrating would otherwise lose them without a word.
const UNSUPPORTED_VAULT_VARIABLES: Readonly<Record<string, string>> = {
  VAULT_CACERT_BYTES: "put the PEM in a file (e.g. in the function package) and set VAULT_CACERT",
  VAULT_RATE_LIMIT: "remove it",
  VAULT_HTTP_PROXY: "remove it; the extension connects to Vault directly",
  VAULT_PROXY_ADDR: "remove it; the extension connects to Vault directly",
};

// ---------------------------------------------------------------------------------------------

/**
 * Parses and validates the configuration from an environment (normally `process.env`).
 * Throws a ConfigError that lists every problem found.
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const r = new Reader(env);
  const warnings: string[] = [];

  // --- Vault address ---------------------------------------------------------------------------
  const vleAddr = r.get("VLE_VAULT_ADDR");
  const vaultAddrVariable = vleAddr !== undefined ? "VLE_VAULT_ADDR" : "VAULT_ADDR";
  const rawAddr = vleAddr ?? r.get("VAULT_ADDR");
  let vaultAddr = "";
  let vaultUrl: URL | undefined;
  if (rawAddr === undefined) {
    r.problem(
      "VAULT_ADDR",
      "not set (set VAULT_ADDR or VLE_VAULT_ADDR to your Vault address, e.g. https://vault.example.com:8200)",
    );
  } else {
    const parsed = parseHttpUrl(vaultAddrVariable, rawAddr, "the Vault address", "https://vault.example.com:8200");
    if (typeof parsed === "string") r.problem(vaultAddrVariable, parsed);
    else ({ normalised: vaultAddr, url: vaultUrl } = parsed);
  }

  // --- Auth method -----------------------------------------------------------------------------
  const authProvider = r.optional("VAULT_AUTH_PROVIDER", "aws", parseMountPath);
  const authRole = r.get("VAULT_AUTH_ROLE");
  if (authRole !== undefined && hasControl(authRole)) {
    r.problem("VAULT_AUTH_ROLE", "contains control characters; set it to the Vault role's name");
  }
  const iamServerId = r.optional("VAULT_IAM_SERVER_ID", undefined, (v) =>
    isHeaderValue(v) ? v : invalid("must be printable ASCII (it is sent as the X-Vault-AWS-IAM-Server-ID header)"),
  );
  const stsRegion = r.optional("VAULT_STS_ENDPOINT_REGION", undefined, parseRegion);
  const assumedRoleArn = r.optional("VAULT_ASSUMED_ROLE_ARN", undefined, (v) =>
    ROLE_ARN.test(v)
      ? v
      : invalid(`${quote(v)} is not an IAM role ARN (expected arn:aws:iam::123456789012:role/name)`),
  );
  const namespace = r.optional("VAULT_NAMESPACE", undefined, (v) =>
    isHeaderValue(v) ? v : invalid("must be printable ASCII (it is sent as the X-Vault-Namespace header)"),
  );

  // --- TLS -------------------------------------------------------------------------------------
  const tls: TlsConfig = { skipVerify: r.optional("VAULT_SKIP_VERIFY", false, parseBool) };
  for (const [field, variable] of [
    ["caCert", "VAULT_CACERT"],
    ["caPath", "VAULT_CAPATH"],
    ["clientCert", "VAULT_CLIENT_CERT"],
    ["clientKey", "VAULT_CLIENT_KEY"],
  ] as const) {
    const value = r.get(variable);
    if (value === undefined) continue;
    if (value.includes("-----BEGIN") || value.includes("\n")) {
      // Someone pasted the PEM itself. Never echo it: for VAULT_CLIENT_KEY it is a private key.
      r.problem(variable, "must be the path of a PEM file, not the PEM content itself");
      continue;
    }
    if (hasControl(value)) {
      r.problem(variable, "contains control characters; it must be the path of a PEM file");
      continue;
    }
    if (!value.startsWith("/")) {
      warnings.push(
        `${variable}: relative path is resolved against the extension's working directory; ` +
          "prefer an absolute path such as /var/task/<file> or /opt/<file>",
      );
    }
    tls[field] = value;
  }
  if (r.has("VAULT_CLIENT_CERT") !== r.has("VAULT_CLIENT_KEY")) {
    const missing = r.has("VAULT_CLIENT_CERT") ? "VAULT_CLIENT_KEY" : "VAULT_CLIENT_CERT";
    r.problem(missing, "not set; a client certificate needs both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY");
  }
  const serverName = r.optional("VAULT_TLS_SERVER_NAME", undefined, (v) =>
    HOSTNAME.test(v) ? v : invalid(`${quote(v)} is not a host name (e.g. vault.example.com)`),
  );
  if (serverName !== undefined) tls.serverName = serverName;

  // --- Client behaviour ------------------------------------------------------------------------
  const clientTimeoutMs = r.optional("VAULT_CLIENT_TIMEOUT", 5_000, durationIn("5s", 0, false, 600_000));
  const maxRetries = r.optional("VAULT_MAX_RETRIES", 2, integerIn(0, 10, "a whole number from 0 to 10"));
  const gracePeriodMs = r.optional(
    "VAULT_TOKEN_EXPIRY_GRACE_PERIOD",
    10_000,
    durationIn("10s", 0, true),
  );

  // --- Modes and listener ----------------------------------------------------------------------
  const runMode = r.optional("VAULT_RUN_MODE", "default" as RunMode, enumOf(RUN_MODES));
  const port = r.optional("VAULT_AGENT_PORT", 8200, integerIn(1, 65535, "a port number (1-65535)"));
  const requireToken = r.optional("VAULT_AGENT_REQUIRE_TOKEN", true, parseBool);
  const staticSecretTtlMs = r.optional(
    "VAULT_STATIC_SECRET_TTL",
    300_000,
    durationIn("5m", 0, true),
  );
  const defaultCacheEnabled = r.optional("VAULT_DEFAULT_CACHE_ENABLED", false, parseBool);
  // VAULT_DEFAULT_CACHE_TTL: unset means "never cache lease-less responses"; 0 would mean the
  // same thing in a confusing way (HashiCorp's extension silently turns its cache off), so it is
  // refused with that advice.
  const defaultCacheTtlMs = r.optional(
    "VAULT_DEFAULT_CACHE_TTL",
    undefined,
    durationIn("5m", 0, false, undefined, "unset it to not cache responses without a lease"),
  );
  const revokeOnShutdown = r.optional("VAULT_REVOKE_ON_SHUTDOWN", true, parseBool);
  const logLevel = r.optional("VAULT_LOG_LEVEL", "info" as LogLevel, (v): LogLevel | Invalid =>
    // hclog (HashiCorp's extension) also accepts "warning".
    v.toLowerCase() === "warning" ? "warn" : enumOf(LOG_LEVELS)(v),
  );

  // The extension would log in to itself: see the header comment.
  if (vaultUrl !== undefined && runMode !== "file" && isLoopback(vaultUrl.hostname) && urlPort(vaultUrl) === port) {
    r.problem(
      vaultAddrVariable,
      `points at this extension's own listener (port ${port}); set VLE_VAULT_ADDR to the real Vault address` +
        (vaultAddrVariable === "VAULT_ADDR" ? " (the function may keep VAULT_ADDR for the local proxy)" : ""),
    );
  }
  if (vaultUrl !== undefined && vaultUrl.protocol === "http:") {
    if (!isLoopback(vaultUrl.hostname)) {
      warnings.push(`${vaultAddrVariable}: uses plain http to a remote host; the Vault token travels unencrypted (use https)`);
    }
    const tlsVars = ["VAULT_CACERT", "VAULT_CAPATH", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY", "VAULT_TLS_SERVER_NAME"].filter((v) => r.has(v));
    if (tlsVars.length > 0) warnings.push(`${tlsVars.join(", ")}: ignored, because ${vaultAddrVariable} uses http, not https`);
  }
  if (tls.skipVerify) {
    warnings.push("VAULT_SKIP_VERIFY: Vault's TLS certificate is not verified; use VAULT_CACERT instead in production");
  }

  // --- Declared secrets and their files --------------------------------------------------------
  const secrets = parseSecrets(env, r, runMode, warnings);
  if (runMode === "file" && secrets.length === 0) {
    r.problem(
      "VAULT_RUN_MODE",
      "is file, but no secret is declared, so there is nothing to do (declare one with VAULT_SECRET_PATH_<NAME>=<vault path>, or use VAULT_RUN_MODE=default)",
    );
  }

  // --- AWS environment -------------------------------------------------------------------------
  const signingHelp =
    "the extension signs its Vault login with the function's AWS credentials, which Lambda sets; " +
    "outside Lambda set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)";
  const accessKeyId = r.get("AWS_ACCESS_KEY_ID");
  const secretAccessKey = r.get("AWS_SECRET_ACCESS_KEY");
  if (accessKeyId === undefined) r.problem("AWS_ACCESS_KEY_ID", `not set (${signingHelp})`);
  if (secretAccessKey === undefined) r.problem("AWS_SECRET_ACCESS_KEY", `not set (${signingHelp})`);
  const sessionToken = r.get("AWS_SESSION_TOKEN");
  const regionVariable = r.has("AWS_REGION") ? "AWS_REGION" : "AWS_DEFAULT_REGION";
  const region = r.get("AWS_REGION") ?? r.get("AWS_DEFAULT_REGION");
  if (assumedRoleArn !== undefined) {
    if (region === undefined) {
      r.problem(
        "AWS_REGION",
        "not set, but VAULT_ASSUMED_ROLE_ARN needs it: AssumeRole is sent to the STS endpoint of the function's region " +
          "(Lambda sets AWS_REGION; outside Lambda set it, e.g. AWS_REGION=us-east-1)",
      );
    } else if (!REGION.test(region.toLowerCase())) {
      r.problem(regionVariable, `${quote(region)} is not an AWS region (e.g. us-east-1); VAULT_ASSUMED_ROLE_ARN needs it`);
    }
  }
  const functionName = r.get("AWS_LAMBDA_FUNCTION_NAME") ?? DEFAULT_FUNCTION_NAME;
  const stsEndpointUrl = r.optional("AWS_ENDPOINT_URL_STS", undefined, (v) => {
    const parsed = parseHttpUrl("AWS_ENDPOINT_URL_STS", v, "an STS endpoint", "https://sts.us-east-1.amazonaws.com");
    return typeof parsed === "string" ? invalid(parsed) : parsed.normalised;
  });

  // The caller token guards the localhost listener (DESIGN 4.1); file mode has no listener.
  const callerToken = sessionToken ?? r.get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (callerToken === undefined && requireToken && runMode !== "file") {
    r.problem(
      "AWS_SESSION_TOKEN",
      "not set, but handlers must present it to the localhost endpoint (VAULT_AGENT_REQUIRE_TOKEN is true); " +
        "Lambda sets it; outside Lambda set AWS_SESSION_TOKEN (or AWS_CONTAINER_AUTHORIZATION_TOKEN). " +
        "Only as a last resort set VAULT_AGENT_REQUIRE_TOKEN=false, which lets any local process read the secrets",
    );
  }

  warnings.push(...lookalikeWarnings(env));

  if (r.problems.length > 0) throw new ConfigError(r.problems);

  const aws: AwsEnvironment = {
    accessKeyId: accessKeyId ?? "",
    secretAccessKey: secretAccessKey ?? "",
    functionName,
  };
  if (sessionToken !== undefined) aws.sessionToken = sessionToken;
  if (region !== undefined) aws.region = region.toLowerCase();
  if (stsEndpointUrl !== undefined) aws.stsEndpointUrl = stsEndpointUrl;

  const config: Config = {
    vaultAddr,
    vaultAddrVariable,
    authProvider,
    tls,
    clientTimeoutMs,
    maxRetries,
    gracePeriodMs,
    secrets,
    runMode,
    port,
    requireToken,
    staticSecretTtlMs,
    defaultCacheEnabled,
    revokeOnShutdown,
    logLevel,
    aws,
    warnings,
  };
  // Optional fields are left out rather than set to undefined, so that a spread or a
  // JSON.stringify of the config shows only what is configured.
  if (authRole !== undefined) config.authRole = authRole;
  if (iamServerId !== undefined) config.iamServerId = iamServerId;
  if (stsRegion !== undefined) config.stsRegion = stsRegion;
  if (assumedRoleArn !== undefined) config.assumedRoleArn = assumedRoleArn;
  if (namespace !== undefined) config.namespace = namespace;
  if (defaultCacheTtlMs !== undefined) config.defaultCacheTtlMs = defaultCacheTtlMs;
  if (callerToken !== undefined) config.callerToken = callerToken;
  return config;
}

/** The declared secret for a name (case-insensitive), or undefined. */
export function findSecret(config: Pick<Config, "secrets">, name: string): DeclaredSecret | undefined {
  const key = name.toLowerCase();
  return config.secrets.find((s) => s.key === key);
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

// ---------------------------------------------------------------------------------------------
// Declared secrets

function parseSecrets(
  env: Record<string, string | undefined>,
  r: Reader,
  runMode: RunMode,
  warnings: string[],
): DeclaredSecret[] {
  interface Declaration {
    name: string;
    variable: string;
    value: string;
  }
  // key → declarations; several entries for one key is the "differs only by case" error.
  const paths = new Map<string, Declaration[]>();
  const files = new Map<string, Declaration[]>();

  for (const variable of Object.keys(env).sort()) {
    let name: string;
    let target: Map<string, Declaration[]>;
    if (variable === "VAULT_SECRET_PATH") [name, target] = [DEFAULT_SECRET_NAME, paths];
    else if (variable === "VAULT_SECRET_FILE") [name, target] = [DEFAULT_SECRET_NAME, files];
    else if (variable.startsWith(SECRET_PATH_PREFIX)) [name, target] = [variable.slice(SECRET_PATH_PREFIX.length), paths];
    else if (variable.startsWith(SECRET_FILE_PREFIX)) [name, target] = [variable.slice(SECRET_FILE_PREFIX.length), files];
    else continue;
    const value = r.get(variable);
    if (value === undefined) continue; // empty = unset
    if (name === "") {
      const family = target === paths ? "PATH" : "FILE";
      r.problem(
        variable,
        `has no secret name; use VAULT_SECRET_${family}_<NAME> (e.g. VAULT_SECRET_${family}_DB), or VAULT_SECRET_${family} for the unnamed secret`,
      );
      continue;
    }
    if (!SECRET_NAME.test(name)) {
      r.problem(variable, `the secret name ${quote(name)} may only contain letters, digits and "_"`);
      continue;
    }
    const key = name.toLowerCase();
    const list = target.get(key) ?? [];
    list.push({ name, variable, value });
    target.set(key, list);
  }

  // The PATH variable that a FILE variable pairs with.
  const pathVariableFor = (fileDecl: Declaration) =>
    fileDecl.variable === "VAULT_SECRET_FILE" ? "VAULT_SECRET_PATH" : `${SECRET_PATH_PREFIX}${fileDecl.name}`;

  const secrets: DeclaredSecret[] = [];
  const byFile = new Map<string, DeclaredSecret>();
  for (const key of [...new Set([...paths.keys(), ...files.keys()])].sort()) {
    const pathDecls = paths.get(key) ?? [];
    const fileDecls = files.get(key) ?? [];
    let ok = true;
    for (const decls of [pathDecls, fileDecls]) {
      if (decls.length > 1) {
        ok = false;
        r.problem(
          decls[0]?.variable ?? "VAULT_SECRET_PATH",
          `${decls.map((d) => d.variable).join(" and ")}: secret names match case-insensitively, so these declare the same secret twice; keep one`,
        );
      }
    }
    if (!ok) continue;
    const pathDecl = pathDecls[0];
    const fileDecl = fileDecls[0];
    if (pathDecl === undefined) {
      if (fileDecl !== undefined) {
        const pathVar = pathVariableFor(fileDecl);
        r.problem(
          fileDecl.variable,
          `set, but ${pathVar} is not: a file needs a secret to hold (set ${pathVar} to its Vault path, or remove ${fileDecl.variable})`,
        );
      }
      continue;
    }

    // The path and the file are checked independently, so that both problems are reported.
    const vaultPath = parseSecretPath(pathDecl.value);
    if (typeof vaultPath !== "string") r.problem(pathDecl.variable, vaultPath.error);
    else if (vaultPath.startsWith("v1/")) {
      warnings.push(
        `${pathDecl.variable}: the path starts with "v1/"; Vault paths are relative to /v1/, so unless a mount is really called "v1", drop that prefix`,
      );
    }
    let file: string | undefined;
    if (fileDecl !== undefined) {
      const resolved = resolveSecretFile(fileDecl.value);
      if (runMode === "proxy") {
        r.problem(
          fileDecl.variable,
          "files are not written in proxy mode (VAULT_RUN_MODE=proxy); remove it or use VAULT_RUN_MODE=default",
        );
      } else if (typeof resolved !== "string") {
        r.problem(fileDecl.variable, resolved.error);
      } else {
        file = resolved;
      }
      if (file === undefined) continue;
    } else if (runMode === "file") {
      // The unnamed secret keeps HashiCorp's file name; see DEFAULT_SECRET_FILE.
      file = pathDecl.variable === "VAULT_SECRET_PATH" ? DEFAULT_SECRET_FILE : defaultSecretFile(pathDecl.name);
    }
    if (typeof vaultPath !== "string") continue;

    const secret: DeclaredSecret = { name: pathDecl.name, key, path: vaultPath, variable: pathDecl.variable };
    if (file !== undefined) secret.file = file;
    if (file !== undefined && fileDecl !== undefined) secret.fileVariable = fileDecl.variable;

    if (secret.file !== undefined) {
      const other = byFile.get(secret.file);
      if (other !== undefined) {
        const vars = [other.fileVariable ?? other.variable, secret.fileVariable ?? secret.variable];
        r.problem(
          vars[0] ?? secret.variable,
          `${vars.join(" and ")}: the secrets ${quote(other.name)} and ${quote(secret.name)} would both be written to ${secret.file}; give each its own VAULT_SECRET_FILE_<NAME>`,
        );
        continue;
      }
      byFile.set(secret.file, secret);
      if (!secret.file.startsWith("/tmp/")) {
        warnings.push(
          `${secret.fileVariable ?? secret.variable}: ${secret.file} is outside /tmp, the only writable directory in Lambda`,
        );
      }
    }
    secrets.push(secret);
  }
  return secrets;
}

/** A declared secret's Vault path, leading slashes stripped; or what is wrong with it. */
function parseSecretPath(value: string): string | { error: string } {
  const p = value.replace(/^\/+/, "");
  if (p === "") return { error: `${quote(value)} is not a Vault path (e.g. secret/data/my-app)` };
  if (hasControl(p)) return { error: "contains control characters; set it to a Vault path such as secret/data/my-app" };
  if (/[?#%]/.test(p)) {
    return { error: `${quote(value)} must be a plain Vault path, without "?", "#" or "%" (e.g. secret/data/my-app)` };
  }
  const segments = p.replace(/\/$/, "").split("/");
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    return { error: `${quote(value)} must not contain empty, "." or ".." segments (e.g. secret/data/my-app)` };
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Value parsers: each returns the parsed value, or a message (without the variable name).

/** A value that did not parse, with what is wrong with it (without the variable's name). */
class Invalid {
  constructor(readonly message: string) {}
}
function invalid(message: string): Invalid {
  return new Invalid(message);
}
type Parser<T> = (value: string) => T | Invalid;

function parseBool(v: string): boolean | Invalid {
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

function enumOf<T extends string>(allowed: readonly T[]): Parser<T> {
  return (v) => {
    const lower = v.toLowerCase();
    return allowed.find((a) => a === lower) ?? invalid(`${quote(v)} is not one of ${allowed.join(", ")}`);
  };
}

function integerIn(min: number, max: number, what: string): Parser<number> {
  return (v) => {
    const n = /^\d{1,9}$/.test(v) ? Number(v) : NaN;
    return n >= min && n <= max ? n : invalid(`${quote(v)} is not ${what}`);
  };
}

/**
 * A duration parser with bounds. `example` is suggested when the text is not a duration at all
 * (the variable's default, e.g. `"ten" is not a duration (try "10s")`).
 */
function durationIn(
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

function parseMountPath(v: string): string | Invalid {
  // Trim slashes ("/aws/" is the mount "aws"). Each segment must be a URL path segment that needs
  // no percent-encoding, and not "." or "..", so that auth/<provider>/login is the path it looks like.
  const p = v.replace(/^\/+|\/+$/g, "");
  const segments = p.split("/");
  if (p === "" || segments.some((s) => s === "" || s === "." || s === ".." || !/^[A-Za-z0-9._~!$&'()*+,;=:@-]+$/.test(s))) {
    return invalid(`${quote(v)} is not a mount path (the path of the AWS auth method, e.g. aws)`);
  }
  return p;
}

// Region shape of every AWS partition: us-east-1, us-gov-west-1, cn-north-1, eusc-de-east-1,
// us-isob-east-1, ap-southeast-5 …
const REGION = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;

function parseRegion(v: string): string | Invalid {
  const lower = v.toLowerCase();
  return REGION.test(lower) ? lower : invalid(`${quote(v)} is not an AWS region (e.g. us-east-1, eu-west-1)`);
}

// arn:<partition>:iam::<account>:role/<optional path/>name. Role names: [\w+=,.@-], 1-64 chars.
// Path characters are \x21-\x7e without "/" (which separates them), so the match cannot backtrack
// exponentially.
const ROLE_ARN = /^arn:aws(-[a-z]+)*:iam::\d{12}:role\/([\x21-\x2e\x30-\x7e]+\/)*[\w+=,.@-]{1,64}$/;

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;

function isHeaderValue(v: string): boolean {
  return /^[\x20-\x7e]+$/.test(v);
}

function hasControl(v: string): boolean {
  return /[\x00-\x1f\x7f]/.test(v);
}

interface ParsedUrl {
  normalised: string;
  url: URL;
}

/** An http(s) base URL without credentials, query or fragment; or what is wrong with it. */
function parseHttpUrl(variable: string, value: string, what: string, example: string): ParsedUrl | string {
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

function isLoopback(hostname: string): boolean {
  return (
    hostname === "localhost" ||
    hostname === "[::1]" ||
    hostname === "0.0.0.0" || // connecting to it reaches this host
    /^127\.\d+\.\d+\.\d+$/.test(hostname)
  );
}

function urlPort(url: URL): number {
  return url.port !== "" ? Number(url.port) : url.protocol === "https:" ? 443 : 80;
}

/** A value for a message: JSON-quoted, cut to a readable length. Never used on credentials. */
function quote(v: string): string {
  const cut = v.length > 80 ? `${v.slice(0, 77)}...` : v;
  return JSON.stringify(cut);
}

// ---------------------------------------------------------------------------------------------

/** Reads trimmed values (empty = unset) and collects problems. */
class Reader {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly env: Record<string, string | undefined>) {}

  get(variable: string): string | undefined {
    const v = this.env[variable]?.trim();
    return v === undefined || v === "" ? undefined : v;
  }

  has(variable: string): boolean {
    return this.get(variable) !== undefined;
  }

  /** Prefixes the variable's name unless `message` already starts with it ("A: …", "A and B: …"). */
  problem(variable: string, message: string): void {
    const named = message.startsWith(`${variable}:`) || message.startsWith(`${variable} and `);
    this.problems.push({ variable, message: named ? message : `${variable}: ${message}` });
  }

  /** Parses an optional variable: unset → fallback; invalid → a problem, and the fallback. */
  optional<T, F extends T | undefined>(variable: string, fallback: F, parse: Parser<T>): T | F {
    const raw = this.get(variable);
    if (raw === undefined) return fallback;
    const parsed = parse(raw);
    if (parsed instanceof Invalid) {
      this.problem(variable, parsed.message);
      return fallback;
    }
    return parsed;
  }
}

// ---------------------------------------------------------------------------------------------
// Misspelt variables

function lookalikeWarnings(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  const known = new Set(KNOWN_VARIABLES);
  const squash = (s: string) => s.replace(/_/g, "");
  const knownSquashed = KNOWN_VARIABLES.map((k) => [k, squash(k)] as const);

  for (const variable of Object.keys(env).sort()) {
    const upper = variable.toUpperCase();
    if (!upper.startsWith("VAULT") && !upper.startsWith("VLE")) continue;
    if (known.has(variable) || variable.startsWith(SECRET_PATH_PREFIX) || variable.startsWith(SECRET_FILE_PREFIX)) continue;
    if (FOREIGN_VAULT_VARIABLES.has(variable)) continue;
    const unsupported = UNSUPPORTED_VAULT_VARIABLES[variable];
    if (unsupported !== undefined) {
      out.push(`${variable}: not supported by vault-lambda-agent and ignored; ${unsupported}`);
      continue;
    }
    if (known.has(upper) || upper.startsWith(SECRET_PATH_PREFIX) || upper.startsWith(SECRET_FILE_PREFIX)) {
      const suggestion = known.has(upper) ? upper : upper.slice(0, SECRET_PATH_PREFIX.length) + variable.slice(SECRET_PATH_PREFIX.length);
      out.push(`${variable}: ignored, variable names are case-sensitive; did you mean ${suggestion}?`);
      continue;
    }
    const suggestion = suggestFor(upper, variable, knownSquashed, squash);
    if (suggestion !== undefined) out.push(`${variable}: not a variable of vault-lambda-agent and ignored; did you mean ${suggestion}?`);
  }
  return out;
}

function suggestFor(
  upper: string,
  original: string,
  knownSquashed: readonly (readonly [string, string])[],
  squash: (s: string) => string,
): string | undefined {
  // VAULT_SECRETS_PATH_DB, VAULT_SECRETPATH_DB, VAULT_SECRET_FILES_DB …: try every split after an
  // underscore; a prefix close to VAULT_SECRET_PATH_/VAULT_SECRET_FILE_ keeps the rest as the name.
  // Tried first, so that VAULT_SECRETPATH_DB suggests VAULT_SECRET_PATH_DB, not VAULT_SECRET_PATH.
  for (let i = upper.indexOf("_"); i >= 0 && i < upper.length - 1; i = upper.indexOf("_", i + 1)) {
    const prefix = squash(upper.slice(0, i));
    const rest = original.slice(i + 1);
    for (const target of [SECRET_PATH_PREFIX, SECRET_FILE_PREFIX]) {
      if (editDistance(prefix, squash(target), 2) <= 2) return `${target}${rest}`;
    }
  }
  // A misspelling (VAULT_RUNMODE, VAULT_ADR): at most two edits, underscores ignored.
  const s = squash(upper);
  let best: { name: string; score: number } | undefined;
  for (const [name, squashed] of knownSquashed) {
    const d = editDistance(s, squashed, 2);
    if (d <= 2 && (best === undefined || d < best.score)) best = { name, score: d };
  }
  if (best !== undefined) return best.name;
  // A truncation or an extension (VAULT_TOKEN_EXPIRY_GRACE, VAULT_ADDRESS): one is a prefix of the
  // other, and the shorter is long enough (≥ 9 characters, VAULTADDR) to mean something.
  for (const [name, squashed] of knownSquashed) {
    const [shorter, longer] = s.length <= squashed.length ? [s, squashed] : [squashed, s];
    if (shorter.length >= 9 && longer.startsWith(shorter)) {
      const score = longer.length - shorter.length;
      if (best === undefined || score < best.score) best = { name, score };
    }
  }
  return best?.name;
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min((prev[j] ?? Infinity) + 1, (cur[j - 1] ?? Infinity) + 1, (prev[j - 1] ?? Infinity) + cost);
      cur.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length] ?? limit + 1;
}
