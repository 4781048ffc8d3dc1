// Compatibility with HashiCorp's vault-lambda-extension (VLE), for functions that switch layers
// without changing their configuration (docs/migration-from-vle.md lists every difference).
//
// Runs on the environment before the configuration is parsed. What maps cleanly onto a variable of
// ours is honoured by setting that variable (never overriding one the user set) and said in a
// notice; what this extension does differently, in a way a VLE user would not notice until a
// function breaks, is a warning naming what to set. Pure: the environment in, a new one out.

export interface VleCompat {
  /** The environment to parse: the input plus the variables the VLE settings map to. */
  env: Record<string, string | undefined>;
  /** Settings ignored or behaving differently: logged at `warn`, with the fix. */
  warnings: string[];
  /** VLE behaviour kept by mapping a setting: logged at `info`. */
  notices: string[];
}

/** Where HashiCorp's extension writes the unnamed secret, relative to /tmp/vault/. */
export const VLE_SECRET_FILE = "secret.json";

function value(env: Record<string, string | undefined>, name: string): string | undefined {
  const v = env[name]?.trim();
  return v === undefined || v === "" ? undefined : v;
}

/** Loopback host and port of an http(s) URL, or undefined. */
function loopbackPort(addr: string): number | undefined {
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    return undefined;
  }
  const host = url.hostname.replace(/^\[|\]$/g, "");
  if (host !== "localhost" && host !== "::1" && !/^127\./.test(host)) return undefined;
  return url.port === "" ? (url.protocol === "https:" ? 443 : 80) : Number(url.port);
}

export function vleCompat(input: Record<string, string | undefined>): VleCompat {
  const env = { ...input };
  const warnings: string[] = [];
  const notices: string[] = [];
  const runMode = (value(env, "VAULT_RUN_MODE") ?? "default").toLowerCase();

  // The unnamed secret: VLE's default mode (file + proxy) writes it to /tmp/vault/secret.json, and
  // functions open that file in their init. Writing it makes this extension register after the
  // read (the function's init waits for login + read, as it did under VLE); the named form, or
  // proxy mode, keeps the early registration.
  if (runMode === "default" && value(env, "VAULT_SECRET_PATH") !== undefined && value(env, "VAULT_SECRET_FILE") === undefined) {
    env.VAULT_SECRET_FILE = VLE_SECRET_FILE;
    notices.push(
      `VAULT_SECRET_PATH: the unnamed secret is written to /tmp/vault/${VLE_SECRET_FILE}, as HashiCorp's extension did, so the extension registers only after reading it and the function's init waits for the login and the read; for an earlier start, declare it as VAULT_SECRET_PATH_<NAME> and read it from the localhost API, or set VAULT_RUN_MODE=proxy`,
    );
  }

  // VLE (AWS SDK v1) signed the login for the regional STS endpoint with this setting.
  const regional = value(env, "AWS_STS_REGIONAL_ENDPOINTS")?.toLowerCase();
  if (regional !== undefined && value(env, "VAULT_STS_ENDPOINT_REGION") === undefined) {
    const region = value(env, "AWS_REGION");
    if (regional === "regional" && region !== undefined) {
      env.VAULT_STS_ENDPOINT_REGION = region;
      notices.push(
        `AWS_STS_REGIONAL_ENDPOINTS=regional: the Vault login is signed for sts.${region}.amazonaws.com, as HashiCorp's extension did; set VAULT_STS_ENDPOINT_REGION=${region} to say so explicitly`,
      );
    } else if (regional !== "legacy") {
      warnings.push(`AWS_STS_REGIONAL_ENDPOINTS=${input.AWS_STS_REGIONAL_ENDPOINTS?.trim()}: ignored; to sign the Vault login for a regional STS endpoint set VAULT_STS_ENDPOINT_REGION`);
    }
  }

  // A name a VLE user may carry over; VLE itself reads VAULT_DEFAULT_CACHE_TTL.
  const cacheTtl = value(env, "VAULT_CACHE_TTL");
  if (cacheTtl !== undefined) {
    if (value(env, "VAULT_DEFAULT_CACHE_TTL") === undefined) {
      env.VAULT_DEFAULT_CACHE_TTL = cacheTtl;
      warnings.push("VAULT_CACHE_TTL: read as VAULT_DEFAULT_CACHE_TTL, the name this extension and HashiCorp's read; rename it");
    } else {
      warnings.push("VAULT_CACHE_TTL: ignored, VAULT_DEFAULT_CACHE_TTL is set; remove VAULT_CACHE_TTL");
    }
  }

  // VLE's proxy cache: one TTL for every answer, and no cache at all without a TTL. Here leased
  // answers (dynamic secrets) are cached until their lease nears its end, and the TTL applies only
  // to answers without a lease.
  const cacheEnabled = /^(1|t|true)$/i.test(value(env, "VAULT_DEFAULT_CACHE_ENABLED") ?? "");
  if (runMode !== "file" && cacheEnabled && value(env, "VAULT_DEFAULT_CACHE_TTL") === undefined) {
    warnings.push(
      "VAULT_DEFAULT_CACHE_ENABLED=true without VAULT_DEFAULT_CACHE_TTL: HashiCorp's extension cached nothing then; this one caches proxied answers that carry a lease until the lease nears its end (answers without a lease are not cached); set VAULT_DEFAULT_CACHE_ENABLED=false to cache only on request (X-Vault-Cache-Control: cache)",
    );
  }

  // The function's own Vault client pointed at the proxy (VLE's VLE_VAULT_ADDR pattern): VLE's
  // proxy asked for no caller token; this one answers 403 without it.
  const agentPort = Number(value(env, "VAULT_AGENT_PORT") ?? 8200);
  const requireToken = !/^(0|f|false)$/i.test(value(env, "VAULT_AGENT_REQUIRE_TOKEN") ?? "true");
  const functionAddr = value(env, "VAULT_ADDR");
  if (runMode !== "file" && requireToken && value(env, "VLE_VAULT_ADDR") !== undefined && functionAddr !== undefined && loopbackPort(functionAddr) === agentPort) {
    warnings.push(
      "VAULT_ADDR points the function's Vault client at this extension's proxy, which (unlike HashiCorp's) requires a caller token: give the client X-Vault-Token = the function's AWS_SESSION_TOKEN (e.g. token: process.env.AWS_SESSION_TOKEN); VAULT_AGENT_REQUIRE_TOKEN=false drops that SSRF guard",
    );
  }

  // VLE's files hold Vault's raw answer (KV v2 under data.data); ours hold what /secrets/<name>
  // answers, with KV v2 unwrapped into data.
  const declared = (prefix: string) => Object.keys(env).some((k) => (k === prefix || k.startsWith(`${prefix}_`)) && value(env, k) !== undefined);
  const writesFiles = runMode === "file" ? declared("VAULT_SECRET_PATH") : runMode === "default" && declared("VAULT_SECRET_FILE");
  if (writesFiles) {
    notices.push(
      'secret files hold {"name","path","data","lease_id","lease_duration","renewable","expires_at",...} with a KV v2 secret unwrapped into "data" (HashiCorp\'s extension wrote Vault\'s raw answer, KV v2 under "data.data"): read data.<key>',
    );
  }

  return { env, warnings, notices };
}
