// Configuration: every environment variable (README, "Configuration"; docs/architecture.md),
// parsed and validated in one pass.
//
// parseConfig collects EVERY problem it finds and throws them together in one ConfigError, so a
// user fixes a broken deployment in one round trip instead of one cold start per mistake. Messages
// start with the variable's name, say what is wrong and how to fix it, and never contain the value
// of a credential variable (CREDENTIAL_VARIABLES below).
//
// Where the pieces are:
//   config/variables.ts  the table: each single-valued variable, its default and its parser
//   config/parsers.ts    the parsers (values, their checks and their messages)
//   config/checks.ts     the Vault address, and rules that tie several variables together
//   config/secrets.ts    declared secrets and their files
//   config/lookalikes.ts warnings for misspelt or unsupported variables
// Decisions where the contract is silent: values are trimmed and an empty value counts as unset
// (the Lambda console keeps empty rows); booleans are Go's strconv.ParseBool set (1, t, true, 0,
// f, false), case-insensitively; a misspelt variable is a warning, not an error.

import { lambdaLogLevel, type LogLevel } from "./log.ts";
import type { TlsConfig } from "./vault/client.ts";
import { ConfigError } from "./errors.ts";
import { AWS_REGION_SHAPE, type AwsCredentials } from "./aws/sts-endpoint.ts";
import type { ContainerCredentialsEndpoint } from "./aws/credentials.ts";
import { checkFileMode, checkTlsFiles, checkVaultAddress, readVaultAddress } from "./config/checks.ts";
import { lookalikeWarnings } from "./config/lookalikes.ts";
import { credentialKind, credentialsEndpoint, httpUrl, knownCredentialKind, quote } from "./config/parsers.ts";
import { Reader } from "./config/reader.ts";
import { parseSecrets } from "./config/secrets.ts";
import { readVariables, VARIABLES, type Settings } from "./config/variables.ts";

export { defaultSecretFile, resolveSecretFile } from "./config/secrets.ts";

export type RunMode = "default" | "proxy" | "file";
/** `VAULT_METRICS`: `emf` writes CloudWatch Embedded Metric Format lines on stdout. */
export type MetricsSink = "off" | "emf";

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
  /** AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN: the login is signed with these when set. */
  credentials?: AwsCredentials;
  /** AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN (SnapStart): used when the keys are not set. */
  containerCredentials?: ContainerCredentialsEndpoint;
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
  metrics: MetricsSink;
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

/** Names of variables that hold a secret by convention (the function's own DB_PASSWORD, API_TOKEN...). */
const SECRET_BEARING_NAME = /(^|_)(TOKEN|SECRET|PASSWORD|PASSWD|SECRET_KEY|API_KEY|PRIVATE_KEY|SECRET_ACCESS_KEY)$/;

/**
 * Every secret the environment holds, for the redactor, before the configuration is parsed (so that
 * not even a configuration error can quote one): the credential variables, AWS_ACCESS_KEY_ID,
 * VAULT_TOKEN, any variable whose name says it holds a secret (but our own settings, such as VAULT_AGENT_REQUIRE_TOKEN), and any value that looks like a
 * credential whatever its variable (a token pasted into VAULT_AUTH_ROLE, which Vault's answer
 * would quote back). VAULT_CLIENT_KEY is a file's path and counts only when it holds a key itself.
 */
export function environmentSecrets(env: Record<string, string | undefined>): string[] {
  const out: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    const value = raw?.trim();
    if (!value) continue;
    const named = name === "VAULT_CLIENT_KEY" ? knownCredentialKind(value) !== undefined : CREDENTIAL_VARIABLES.includes(name) || (SECRET_BEARING_NAME.test(name) && !KNOWN_VARIABLES.includes(name));
    if (named || name === "AWS_ACCESS_KEY_ID" || credentialKind(value) !== undefined) out.push(value);
  }
  return out;
}

/** Every fixed-name variable of the VAULT_/VLE_ families this extension reads. */
export const KNOWN_VARIABLES: readonly string[] = [
  "VLE_VAULT_ADDR",
  "VAULT_ADDR",
  ...Object.values(VARIABLES).map((v) => v.variable),
  "VAULT_SECRET_PATH",
  "VAULT_SECRET_FILE",
];

/**
 * Parses and validates the configuration from an environment (normally `process.env`).
 * Throws a ConfigError that lists every problem found.
 */
export function parseConfig(env: Record<string, string | undefined>): Config {
  const r = new Reader(env);
  const warnings: string[] = [];
  const address = readVaultAddress(r);
  const s = readVariables(r);
  // Lambda's own log level applies when the extension is not told otherwise.
  if (!r.has(VARIABLES.logLevel.variable)) s.logLevel = lambdaLogLevel(r.get("AWS_LAMBDA_LOG_LEVEL")) ?? "info";
  checkTlsFiles(s, r, warnings);
  checkVaultAddress(address, s, r, warnings);
  const secrets = parseSecrets(env, r, s.runMode, warnings);
  checkFileMode(s.runMode, secrets.length, r);
  const aws = readAwsEnvironment(r, s);
  const callerToken = readCallerToken(r, s);
  warnings.push(...lookalikeWarnings(env, KNOWN_VARIABLES));
  if (r.problems.length > 0) throw new ConfigError(r.problems);
  return assemble(address.vaultAddr, address.vaultAddrVariable, s, secrets, aws, callerToken, warnings);
}

/** The AWS credentials the login is signed with (or where to fetch them), the region, the function's name. */
function readAwsEnvironment(r: Reader, s: Settings): AwsEnvironment {
  const accessKeyId = r.get("AWS_ACCESS_KEY_ID");
  const secretAccessKey = r.get("AWS_SECRET_ACCESS_KEY");
  const endpointUri = r.optional("AWS_CONTAINER_CREDENTIALS_FULL_URI", undefined, credentialsEndpoint("AWS_CONTAINER_CREDENTIALS_FULL_URI"));
  const endpointSet = r.has("AWS_CONTAINER_CREDENTIALS_FULL_URI");
  if (accessKeyId === undefined && secretAccessKey === undefined && !endpointSet) {
    r.problem(
      "AWS_ACCESS_KEY_ID",
      "not set, and AWS_CONTAINER_CREDENTIALS_FULL_URI is not set either: the extension signs its Vault login with the function's AWS credentials, " +
        "which Lambda sets (as keys, or under SnapStart as the container-credentials endpoint); outside Lambda set AWS_ACCESS_KEY_ID and " +
        "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary credentials)",
    );
  } else if (accessKeyId !== undefined && secretAccessKey === undefined) {
    r.problem("AWS_SECRET_ACCESS_KEY", "not set, but AWS_ACCESS_KEY_ID is: set both, or neither (to use AWS_CONTAINER_CREDENTIALS_FULL_URI)");
  } else if (accessKeyId === undefined && secretAccessKey !== undefined) {
    r.problem("AWS_ACCESS_KEY_ID", "not set, but AWS_SECRET_ACCESS_KEY is: set both, or neither (to use AWS_CONTAINER_CREDENTIALS_FULL_URI)");
  }
  const regionVariable = r.has("AWS_REGION") ? "AWS_REGION" : "AWS_DEFAULT_REGION";
  const region = r.get("AWS_REGION") ?? r.get("AWS_DEFAULT_REGION");
  if (s.assumedRoleArn !== undefined) {
    if (region === undefined) {
      r.problem(
        "AWS_REGION",
        "not set, but VAULT_ASSUMED_ROLE_ARN needs it: AssumeRole is sent to the STS endpoint of the function's region " +
          "(Lambda sets AWS_REGION; outside Lambda set it, e.g. AWS_REGION=us-east-1)",
      );
    } else if (!AWS_REGION_SHAPE.test(region.toLowerCase())) {
      r.problem(regionVariable, `${quote(region)} is not an AWS region (e.g. us-east-1); VAULT_ASSUMED_ROLE_ARN needs it`);
    }
  }
  const functionName = r.get("AWS_LAMBDA_FUNCTION_NAME") ?? DEFAULT_FUNCTION_NAME;
  const stsEndpointUrl = r.optional("AWS_ENDPOINT_URL_STS", undefined, httpUrl("AWS_ENDPOINT_URL_STS", "an STS endpoint", "https://sts.us-east-1.amazonaws.com"));
  const credentials =
    accessKeyId !== undefined && secretAccessKey !== undefined ? compact({ accessKeyId, secretAccessKey, sessionToken: r.get("AWS_SESSION_TOKEN") }) : undefined;
  const containerCredentials = credentials || endpointUri === undefined ? undefined : compact({ uri: endpointUri, authorizationToken: r.get("AWS_CONTAINER_AUTHORIZATION_TOKEN") });
  return compact({
    credentials,
    containerCredentials,
    functionName,
    region: region?.toLowerCase(),
    stsEndpointUrl,
  });
}

/** The caller token guards the localhost listener (docs/architecture.md, "Caller token"); file mode has no listener. */
function readCallerToken(r: Reader, s: Settings): string | undefined {
  const callerToken = r.get("AWS_SESSION_TOKEN") ?? r.get("AWS_CONTAINER_AUTHORIZATION_TOKEN");
  if (callerToken === undefined && s.requireToken && s.runMode !== "file") {
    r.problem(
      "AWS_SESSION_TOKEN",
      "not set, but handlers must present it to the localhost endpoint (VAULT_AGENT_REQUIRE_TOKEN is true); " +
        "Lambda sets it; outside Lambda set AWS_SESSION_TOKEN (or AWS_CONTAINER_AUTHORIZATION_TOKEN). " +
        "Only as a last resort set VAULT_AGENT_REQUIRE_TOKEN=false, which lets any local process read the secrets",
    );
  }
  return callerToken;
}

function assemble(
  vaultAddr: string,
  vaultAddrVariable: Config["vaultAddrVariable"],
  s: Settings,
  secrets: DeclaredSecret[],
  aws: AwsEnvironment,
  callerToken: string | undefined,
  warnings: string[],
): Config {
  const { caCert, caPath, clientCert, clientKey, serverName, skipVerify, ...rest } = s;
  const tls: TlsConfig = compact({ skipVerify, caCert, caPath, clientCert, clientKey, serverName });
  return compact({ vaultAddr, vaultAddrVariable, ...rest, tls, secrets, aws, callerToken, warnings });
}

/**
 * Optional fields are left out rather than set to undefined, so that a spread or a JSON.stringify
 * of the config shows only what is configured.
 */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as Array<keyof T>) if (o[k] === undefined) delete o[k];
  return o;
}

/** The declared secret for a name (case-insensitive), or undefined. */
export function findSecret(config: Pick<Config, "secrets">, name: string): DeclaredSecret | undefined {
  const key = name.toLowerCase();
  return config.secrets.find((s) => s.key === key);
}

