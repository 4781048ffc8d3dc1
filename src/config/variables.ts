// The configuration table: every single-valued variable with its default and its parser (which
// holds its checks and its messages). Read in this order, so that problems come in this order.
// Variables with more to them are read by their own code: the Vault address (./checks.ts), the
// declared secrets (./secrets.ts) and the AWS environment (../config.ts).
import type { MetricsSink, RunMode } from "../config.ts";
import type { LogLevel } from "../log.ts";
import {
  durationIn,
  enumOf,
  headerValue,
  integerIn,
  parseBool,
  parseHostname,
  parseMountPath,
  parsePemPath,
  parseRegion,
  parseRoleArn,
  parseRoleName,
  type Parser,
} from "./parsers.ts";
import type { Reader } from "./reader.ts";

export const RUN_MODES: readonly RunMode[] = ["default", "proxy", "file"];
const METRICS_SINKS: readonly MetricsSink[] = ["off", "emf"];
const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "off"];

interface Variable<T> {
  variable: string;
  /** The value when unset (or, after a problem, so that the rest can still be checked). */
  fallback: T;
  parse: Parser<Exclude<T, undefined>>;
}

function variable<T, F extends T | undefined>(name: string, fallback: F, parse: Parser<T>): Variable<T | F> {
  return { variable: name, fallback, parse: parse as Parser<Exclude<T | F, undefined>> };
}

const parseLogLevel: Parser<LogLevel> = (v) => (v.toLowerCase() === "warning" ? "warn" : enumOf(LOG_LEVELS)(v)); // hclog's spelling too

export const VARIABLES = {
  authProvider: variable("VAULT_AUTH_PROVIDER", "aws", parseMountPath),
  authRole: variable("VAULT_AUTH_ROLE", undefined, parseRoleName),
  iamServerId: variable("VAULT_IAM_SERVER_ID", undefined, headerValue("X-Vault-AWS-IAM-Server-ID")),
  stsRegion: variable("VAULT_STS_ENDPOINT_REGION", undefined, parseRegion),
  assumedRoleArn: variable("VAULT_ASSUMED_ROLE_ARN", undefined, parseRoleArn),
  namespace: variable("VAULT_NAMESPACE", undefined, headerValue("X-Vault-Namespace")),
  caCert: variable("VAULT_CACERT", undefined, parsePemPath),
  caPath: variable("VAULT_CAPATH", undefined, parsePemPath),
  clientCert: variable("VAULT_CLIENT_CERT", undefined, parsePemPath),
  clientKey: variable("VAULT_CLIENT_KEY", undefined, parsePemPath),
  serverName: variable("VAULT_TLS_SERVER_NAME", undefined, parseHostname),
  skipVerify: variable("VAULT_SKIP_VERIFY", false, parseBool),
  clientTimeoutMs: variable("VAULT_CLIENT_TIMEOUT", 5_000, durationIn("5s", 0, false, 600_000)),
  maxRetries: variable("VAULT_MAX_RETRIES", 2, integerIn(0, 10, "a whole number from 0 to 10")),
  gracePeriodMs: variable("VAULT_TOKEN_EXPIRY_GRACE_PERIOD", 10_000, durationIn("10s", 0, true)),
  runMode: variable("VAULT_RUN_MODE", "default", enumOf(RUN_MODES)),
  port: variable("VAULT_AGENT_PORT", 8200, integerIn(1, 65535, "a port number (1-65535)")),
  requireToken: variable("VAULT_AGENT_REQUIRE_TOKEN", true, parseBool),
  // 0 = a static secret is kept until a refresh is asked for.
  staticSecretTtlMs: variable("VAULT_STATIC_SECRET_TTL", 300_000, durationIn("5m", 0, true)),
  defaultCacheEnabled: variable("VAULT_DEFAULT_CACHE_ENABLED", false, parseBool),
  // Unset means "never cache lease-less responses"; 0 would mean the same thing in a confusing way
  // (HashiCorp's extension silently turns its cache off), so it is refused with that advice.
  defaultCacheTtlMs: variable("VAULT_DEFAULT_CACHE_TTL", undefined, durationIn("5m", 0, false, undefined, "unset it to not cache responses without a lease")),
  revokeOnShutdown: variable("VAULT_REVOKE_ON_SHUTDOWN", true, parseBool),
  logLevel: variable("VAULT_LOG_LEVEL", "info", parseLogLevel),
  metrics: variable("VAULT_METRICS", "off", enumOf(METRICS_SINKS)),
};

export type Settings = { [K in keyof typeof VARIABLES]: (typeof VARIABLES)[K]["fallback"] };

/** Reads every variable of the table: its value, its fallback when unset or invalid (with a problem). */
export function readVariables(r: Reader): Settings {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(VARIABLES) as Array<[string, Variable<unknown>]>) out[field] = r.optional(spec.variable, spec.fallback, spec.parse);
  return out as Settings;
}
