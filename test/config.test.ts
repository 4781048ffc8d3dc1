// Configuration (docs/architecture.md, "Configuration"; README) and durations: every variable with good and bad values.
import { describe, expect, it } from "vitest";
import fs from "node:fs";
import { CREDENTIAL_VARIABLES, defaultSecretFile, findSecret, KNOWN_VARIABLES, parseConfig, resolveSecretFile, type Config } from "../src/config.ts";
import { ConfigError, type ConfigProblem } from "../src/errors.ts";
import { formatDuration, parseDuration } from "../src/duration.ts";

// Sentinels in every credential variable: no message or warning may ever contain them.
const SECRET_KEY = "SECRETKEY-sentinel-7f3a/K7MDENG+bPxRfiCY";
const SESSION_TOKEN = "SESSIONTOKEN-sentinel-IQoJb3JpZ2luX2Vj";
const CONTAINER_TOKEN = "CONTAINERTOKEN-sentinel-c0ffee";
const CLIENT_KEY_PEM = "-----BEGIN PRIVATE KEY-----\nKEYMATERIAL-sentinel-MIIEvQ\n-----END PRIVATE KEY-----";
const SENTINELS = [SECRET_KEY, SESSION_TOKEN, CONTAINER_TOKEN, "KEYMATERIAL-sentinel", "sentinel"];

type Env = Record<string, string | undefined>;

const BASE: Env = {
  VAULT_ADDR: "https://vault.example.com:8200",
  AWS_ACCESS_KEY_ID: "ASIAEXAMPLEEXAMPLE00",
  AWS_SECRET_ACCESS_KEY: SECRET_KEY,
  AWS_SESSION_TOKEN: SESSION_TOKEN,
  AWS_REGION: "eu-west-1",
  AWS_LAMBDA_FUNCTION_NAME: "my-function",
  // Noise a real Lambda environment carries: never a problem, never a warning.
  AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
  PATH: "/usr/local/bin:/usr/bin",
};

function parse(extra: Env = {}): Config {
  return parseConfig({ ...BASE, ...extra });
}

function problemsOf(env: Env): ConfigProblem[] {
  try {
    parseConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) {
      for (const p of err.problems) {
        // Every message starts with the variable it is about.
        expect(p.message.startsWith(`${p.variable}:`) || p.message.startsWith(`${p.variable} and `), p.message).toBe(true);
        for (const s of SENTINELS) expect(p.message, "a credential value leaked into a message").not.toContain(s);
      }
      expect(err.message).toBe(err.problems.map((p) => p.message).join("; "));
      return err.problems;
    }
    throw err;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

/** The messages of a config that must fail (BASE + extra). */
function errors(extra: Env, base: Env = BASE): string[] {
  return problemsOf({ ...base, ...extra }).map((p) => p.message);
}

/** The single message of a config that must fail with exactly one problem. */
function error(extra: Env, base: Env = BASE): string {
  const list = errors(extra, base);
  expect(list, list.join("\n")).toHaveLength(1);
  return list[0] ?? "";
}

function without(env: Env, ...names: string[]): Env {
  const copy = { ...env };
  for (const n of names) delete copy[n];
  return copy;
}

// ---------------------------------------------------------------------------------------------

describe("parseDuration", () => {
  it.each([
    ["0", 0],
    ["90", 90_000],
    ["  90  ", 90_000],
    ["0s", 0],
    ["90s", 90_000],
    ["1m30s", 90_000],
    ["2h", 7_200_000],
    ["1.5s", 1_500],
    [".5s", 500],
    ["1.s", 1_000],
    ["500ms", 500],
    ["1h2m3.5s", 3_723_500],
    ["3s1h", 3_603_000],
    ["1500us", 1.5],
    ["1500\u00b5s", 1.5],
    ["1500\u03bcs", 1.5],
    ["2000000ns", 2],
    ["1.1s", 1_100],
    ["0.001s", 1],
    ["10m", 600_000],
  ])("%j → %d ms", (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each(["", "  ", "-1", "-5s", "+5s", "ten", "5x", "s", ".s", ".", "1h 30m", "5S", "1.5", "1e3", "0x10", "5s ms", "9999999999999", "3000000h", "1d"])(
    "rejects %j",
    (text) => {
      expect(parseDuration(text)).toBeUndefined();
    },
  );
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [90_000, "1m30s"],
    [10_000, "10s"],
    [500, "500ms"],
    [1_500, "1.5s"],
    [300_000, "5m"],
    [7_200_000, "2h"],
    [3_723_500, "1h2m3.5s"],
    [1.5, "1.5ms"],
    [0.0015, "1.5\u00b5s"],
    [0.000_25, "250ns"],
    [-10_000, "-10s"],
  ])("%d ms → %s", (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });

  it("round-trips through parseDuration", () => {
    for (const ms of [0, 1, 999, 1_000, 61_000, 3_599_999, 86_400_000, 0.5, 12_345.678]) {
      expect(parseDuration(formatDuration(ms))).toBeCloseTo(ms, 9);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("parseConfig: defaults", () => {
  it("gives the documented defaults for a minimal Lambda environment", () => {
    const c = parse();
    expect(c).toEqual({
      vaultAddr: "https://vault.example.com:8200",
      vaultAddrVariable: "VAULT_ADDR",
      authProvider: "aws",
      tls: { skipVerify: false },
      clientTimeoutMs: 5_000,
      maxRetries: 2,
      gracePeriodMs: 10_000,
      secrets: [],
      runMode: "default",
      port: 8200,
      requireToken: true,
      staticSecretTtlMs: 300_000,
      defaultCacheEnabled: false,
      revokeOnShutdown: true,
      logLevel: "info",
      metrics: "off",
      callerToken: SESSION_TOKEN,
      aws: {
        credentials: { accessKeyId: "ASIAEXAMPLEEXAMPLE00", secretAccessKey: SECRET_KEY, sessionToken: SESSION_TOKEN },
        region: "eu-west-1",
        functionName: "my-function",
      },
      warnings: [],
    } satisfies Config);
    // Unset optional fields are absent, not undefined.
    for (const k of ["authRole", "iamServerId", "stsRegion", "assumedRoleArn", "namespace", "defaultCacheTtlMs"]) {
      expect(Object.prototype.hasOwnProperty.call(c, k), k).toBe(false);
    }
  });

  it("treats empty and blank values as unset", () => {
    const blank: Env = {};
    for (const v of [
      "VAULT_AUTH_PROVIDER",
      "VAULT_AUTH_ROLE",
      "VAULT_IAM_SERVER_ID",
      "VAULT_STS_ENDPOINT_REGION",
      "VAULT_ASSUMED_ROLE_ARN",
      "VAULT_NAMESPACE",
      "VAULT_CACERT",
      "VAULT_SKIP_VERIFY",
      "VAULT_CLIENT_TIMEOUT",
      "VAULT_MAX_RETRIES",
      "VAULT_TOKEN_EXPIRY_GRACE_PERIOD",
      "VAULT_SECRET_PATH",
      "VAULT_SECRET_PATH_DB",
      "VAULT_RUN_MODE",
      "VAULT_AGENT_PORT",
      "VAULT_AGENT_REQUIRE_TOKEN",
      "VAULT_STATIC_SECRET_TTL",
      "VAULT_DEFAULT_CACHE_ENABLED",
      "VAULT_DEFAULT_CACHE_TTL",
      "VAULT_REVOKE_ON_SHUTDOWN",
      "VAULT_LOG_LEVEL",
      "VLE_VAULT_ADDR",
    ]) {
      blank[v] = v.length % 2 === 0 ? "" : "   ";
    }
    expect(parse(blank)).toEqual(parse());
  });

  it("outside Lambda, names the function vault-lambda-agent and has no region", () => {
    const c = parseConfig(without(BASE, "AWS_LAMBDA_FUNCTION_NAME", "AWS_REGION"));
    expect(c.aws.functionName).toBe("vault-lambda-agent");
    expect(c.aws).not.toHaveProperty("region");
  });

  it("trims every value", () => {
    const c = parse({
      VAULT_ADDR: "  https://vault.example.com  ",
      VAULT_AUTH_ROLE: " my-role\t",
      VAULT_RUN_MODE: " proxy ",
      VAULT_AGENT_PORT: " 8300 ",
    });
    expect(c.vaultAddr).toBe("https://vault.example.com");
    expect(c.authRole).toBe("my-role");
    expect(c.runMode).toBe("proxy");
    expect(c.port).toBe(8300);
  });
});

describe("parseConfig: Vault address", () => {
  it("says exactly what to set when no address is given", () => {
    expect(error({ VAULT_ADDR: undefined })).toBe(
      "VAULT_ADDR: not set (set VAULT_ADDR or VLE_VAULT_ADDR to your Vault address, e.g. https://vault.example.com:8200)",
    );
    expect(error({ VAULT_ADDR: "" })).toMatch(/^VAULT_ADDR: not set/);
  });

  it("prefers VLE_VAULT_ADDR over VAULT_ADDR", () => {
    const c = parse({ VLE_VAULT_ADDR: "https://real-vault.example.com", VAULT_ADDR: "http://127.0.0.1:8200" });
    expect(c.vaultAddr).toBe("https://real-vault.example.com");
    expect(c.vaultAddrVariable).toBe("VLE_VAULT_ADDR");
    const only = parseConfig({ ...without(BASE, "VAULT_ADDR"), VLE_VAULT_ADDR: "https://v.example.com" });
    expect(only.vaultAddr).toBe("https://v.example.com");
    // The function's own VAULT_ADDR (pointing at the local proxy) is then not an error, even if odd.
    expect(parse({ VLE_VAULT_ADDR: "https://v.example.com", VAULT_ADDR: "not a url" }).vaultAddr).toBe("https://v.example.com");
  });

  it("names VLE_VAULT_ADDR when that is the bad one", () => {
    expect(error({ VLE_VAULT_ADDR: "vault.example.com" })).toMatch(/^VLE_VAULT_ADDR: "vault.example.com" is not the Vault address/);
  });

  it.each([
    ["https://vault.example.com:8200", "https://vault.example.com:8200"],
    ["https://vault.example.com:8200/", "https://vault.example.com:8200"],
    ["https://vault.example.com/prefix", "https://vault.example.com/prefix"],
    ["https://vault.example.com/prefix/", "https://vault.example.com/prefix"],
    ["https://vault.example.com/a/b//", "https://vault.example.com/a/b"],
    ["HTTPS://Vault.Example.COM:8200", "https://vault.example.com:8200"],
    ["https://vault.example.com:443", "https://vault.example.com"],
    ["http://127.0.0.1:18200", "http://127.0.0.1:18200"],
    ["http://[::1]:18200/", "http://[::1]:18200"],
  ])("normalises %s to %s (a path prefix is kept)", (raw, expected) => {
    expect(parse({ VAULT_ADDR: raw }).vaultAddr).toBe(expected);
  });

  it.each([
    ["vault.example.com:8200", /is not the Vault address: use an http:\/\/ or https:\/\/ URL/],
    ["ftp://vault.example.com", /"ftp:\/\/vault.example.com" is not the Vault address/],
    ["https://", /is not the Vault address/],
    ["not a url", /is not the Vault address/],
    ["https://vault.example.com?x=1", /query string or fragment/],
    ["https://vault.example.com/#frag", /query string or fragment/],
  ])("rejects %s", (raw, pattern) => {
    expect(error({ VAULT_ADDR: raw })).toMatch(pattern);
  });

  it("rejects credentials in the address without echoing them", () => {
    for (const raw of [
      "https://admin:hunter2-sentinel@vault.example.com",
      "https://hunter2-sentinel@vault.example.com",
      "admin:hunter2-sentinel@vault.example.com",
    ]) {
      const m = error({ VAULT_ADDR: raw });
      expect(m).toBe("VAULT_ADDR: must not contain credentials (user:password@); remove them from VAULT_ADDR");
      expect(m).not.toContain("hunter2");
    }
  });

  it("does not echo a query string (it might carry a token)", () => {
    const m = error({ VAULT_ADDR: "https://vault.example.com/?token=hvs.sentinel" });
    expect(m).not.toContain("hvs.");
  });

  it("refuses an address that is the extension's own listener", () => {
    const m = error({ VAULT_ADDR: "http://127.0.0.1:8200" });
    expect(m).toMatch(/^VAULT_ADDR: points at this extension's own listener \(port 8200\); set VLE_VAULT_ADDR/);
    expect(error({ VAULT_ADDR: "http://localhost:9000", VAULT_AGENT_PORT: "9000" })).toMatch(/own listener/);
    // Another port, or file mode (no listener), is fine.
    expect(parse({ VAULT_ADDR: "http://127.0.0.1:8201" }).vaultAddr).toBe("http://127.0.0.1:8201");
    expect(parse({ VAULT_ADDR: "http://127.0.0.1:8200", VAULT_RUN_MODE: "file", VAULT_SECRET_PATH: "kv/x" }).runMode).toBe("file");
  });

  it("warns about plain http to a remote host, and about TLS settings http ignores", () => {
    expect(parse({ VAULT_ADDR: "http://127.0.0.1:18200" }).warnings).toEqual([]);
    const c = parse({ VAULT_ADDR: "http://vault.internal:8200", VAULT_CACERT: "/opt/ca.pem" });
    expect(c.warnings).toEqual([
      "VAULT_ADDR: uses plain http to a remote host; the Vault token travels unencrypted (use https)",
      "VAULT_CACERT: ignored, because VAULT_ADDR uses http, not https",
    ]);
  });
});

describe("parseConfig: auth method", () => {
  it.each([
    ["aws", "aws"],
    ["/aws/", "aws"],
    ["aws-prod", "aws-prod"],
    ["team/aws", "team/aws"],
    ["//team/aws_1//", "team/aws_1"],
  ])("VAULT_AUTH_PROVIDER %j → %j", (raw, mount) => {
    expect(parse({ VAULT_AUTH_PROVIDER: raw }).authProvider).toBe(mount);
  });

  it.each(["/", "..", "aws/../token", "a//b", "./aws", "a b", "aws?x", "aws#x", "aws%2f"])("rejects VAULT_AUTH_PROVIDER %j", (raw) => {
    expect(error({ VAULT_AUTH_PROVIDER: raw })).toBe(
      `VAULT_AUTH_PROVIDER: ${JSON.stringify(raw)} is not a mount path (the path of the AWS auth method, e.g. aws)`,
    );
  });

  it("reads the role, the server ID and the namespace", () => {
    const c = parse({ VAULT_AUTH_ROLE: "fn-role", VAULT_IAM_SERVER_ID: "vault.example.com", VAULT_NAMESPACE: "team-a/" });
    expect(c.authRole).toBe("fn-role");
    expect(c.iamServerId).toBe("vault.example.com");
    expect(c.namespace).toBe("team-a/");
  });

  it("rejects header values a request could not carry", () => {
    expect(error({ VAULT_IAM_SERVER_ID: "a\u0001b" })).toMatch(/^VAULT_IAM_SERVER_ID: must be printable ASCII/);
    expect(error({ VAULT_NAMESPACE: "ns\r\nX-Injected: 1" })).toMatch(/^VAULT_NAMESPACE: must be printable ASCII/);
    expect(error({ VAULT_NAMESPACE: "équipe" })).toMatch(/^VAULT_NAMESPACE:/);
    expect(error({ VAULT_AUTH_ROLE: "role\u0000" })).toMatch(/^VAULT_AUTH_ROLE: contains control characters/);
  });

  it.each(["us-east-1", "eu-west-1", "us-gov-west-1", "cn-north-1", "ap-southeast-5", "eusc-de-east-1", "us-isob-east-1", "EU-Central-2"])(
    "accepts VAULT_STS_ENDPOINT_REGION %s (lower-cased)",
    (region) => {
      expect(parse({ VAULT_STS_ENDPOINT_REGION: region }).stsRegion).toBe(region.toLowerCase());
    },
  );

  it.each(["global", "us-east", "useast1", "us_east_1", "sts.us-east-1.amazonaws.com", "us-east-1a", "x-y-1"])(
    "rejects VAULT_STS_ENDPOINT_REGION %s",
    (region) => {
      expect(error({ VAULT_STS_ENDPOINT_REGION: region })).toBe(
        `VAULT_STS_ENDPOINT_REGION: ${JSON.stringify(region)} is not an AWS region (e.g. us-east-1, eu-west-1)`,
      );
    },
  );

  it.each([
    "arn:aws:iam::123456789012:role/vault-login",
    "arn:aws:iam::123456789012:role/service-role/team/vault+login=x,y.z@w-1",
    "arn:aws-us-gov:iam::123456789012:role/r",
    "arn:aws-cn:iam::123456789012:role/r",
    "arn:aws-iso-b:iam::123456789012:role/r",
  ])("accepts VAULT_ASSUMED_ROLE_ARN %s", (arn) => {
    expect(parse({ VAULT_ASSUMED_ROLE_ARN: arn }).assumedRoleArn).toBe(arn);
  });

  it.each([
    "vault-login",
    "arn:aws:iam::123456789012:user/bob",
    "arn:aws:sts::123456789012:assumed-role/r/s",
    "arn:aws:iam::12345678901:role/r",
    "arn:aws:iam:us-east-1:123456789012:role/r",
    "arn:aws:iam::123456789012:role/",
    "arn:gcp:iam::123456789012:role/r",
    "arn:aws:iam::123456789012:role/has space",
  ])("rejects VAULT_ASSUMED_ROLE_ARN %s", (arn) => {
    expect(error({ VAULT_ASSUMED_ROLE_ARN: arn })).toBe(
      `VAULT_ASSUMED_ROLE_ARN: ${JSON.stringify(arn)} is not an IAM role ARN (expected arn:aws:iam::123456789012:role/name)`,
    );
  });

  it("needs a region for VAULT_ASSUMED_ROLE_ARN, from AWS_REGION or AWS_DEFAULT_REGION", () => {
    const arn = "arn:aws:iam::123456789012:role/vault-login";
    const noRegion = without(BASE, "AWS_REGION");
    expect(error({ VAULT_ASSUMED_ROLE_ARN: arn }, noRegion)).toMatch(
      /^AWS_REGION: not set, but VAULT_ASSUMED_ROLE_ARN needs it: AssumeRole is sent to the STS endpoint/,
    );
    expect(parseConfig({ ...noRegion, VAULT_ASSUMED_ROLE_ARN: arn, AWS_DEFAULT_REGION: "us-west-2" }).aws.region).toBe("us-west-2");
    expect(parse({ AWS_DEFAULT_REGION: "us-west-2" }).aws.region).toBe("eu-west-1"); // AWS_REGION wins
    expect(error({ VAULT_ASSUMED_ROLE_ARN: arn, AWS_REGION: "moon-1" })).toMatch(/^AWS_REGION: "moon-1" is not an AWS region/);
    // Without an assumed role no region is needed at all.
    expect(parseConfig(noRegion).aws).not.toHaveProperty("region");
  });

  it("reads AWS_ENDPOINT_URL_STS as a base URL", () => {
    expect(parse({ AWS_ENDPOINT_URL_STS: "http://127.0.0.1:4566/" }).aws.stsEndpointUrl).toBe("http://127.0.0.1:4566");
    expect(error({ AWS_ENDPOINT_URL_STS: "localhost:4566" })).toMatch(/^AWS_ENDPOINT_URL_STS: "localhost:4566" is not an STS endpoint/);
  });
});

describe("parseConfig: TLS", () => {
  it("reads the Vault CLI's TLS variables", () => {
    const c = parse({
      VAULT_CACERT: "/opt/vault/ca.pem",
      VAULT_CAPATH: "/opt/vault/cas",
      VAULT_CLIENT_CERT: "/opt/vault/client.pem",
      VAULT_CLIENT_KEY: "/opt/vault/client-key.pem",
      VAULT_TLS_SERVER_NAME: "vault.internal",
      VAULT_SKIP_VERIFY: "false",
    });
    expect(c.tls).toEqual({
      caCert: "/opt/vault/ca.pem",
      caPath: "/opt/vault/cas",
      clientCert: "/opt/vault/client.pem",
      clientKey: "/opt/vault/client-key.pem",
      serverName: "vault.internal",
      skipVerify: false,
    });
    expect(c.warnings).toEqual([]);
  });

  it("needs the client certificate and key together", () => {
    expect(error({ VAULT_CLIENT_CERT: "/opt/c.pem" })).toBe(
      "VAULT_CLIENT_KEY: not set; a client certificate needs both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY",
    );
    expect(error({ VAULT_CLIENT_KEY: "/opt/k.pem" })).toMatch(/^VAULT_CLIENT_CERT: not set/);
  });

  it("refuses PEM content instead of a path, without echoing it", () => {
    const m = error({ VAULT_CLIENT_CERT: "/opt/c.pem", VAULT_CLIENT_KEY: CLIENT_KEY_PEM });
    expect(m).toBe("VAULT_CLIENT_KEY: must be the path of a PEM file, not the PEM content itself");
    expect(error({ VAULT_CACERT: "-----BEGIN CERTIFICATE-----MIIB" })).toMatch(/^VAULT_CACERT: must be the path of a PEM file/);
  });

  it("warns about relative certificate paths", () => {
    expect(parse({ VAULT_CACERT: "ca.pem" }).warnings).toEqual([
      "VAULT_CACERT: relative path is resolved against the extension's working directory; prefer an absolute path such as /var/task/<file> or /opt/<file>",
    ]);
  });

  it("checks VAULT_TLS_SERVER_NAME is a host name", () => {
    expect(error({ VAULT_TLS_SERVER_NAME: "https://vault" })).toBe(
      'VAULT_TLS_SERVER_NAME: "https://vault" is not a host name (e.g. vault.example.com)',
    );
  });

  it("warns when certificate verification is off", () => {
    const c = parse({ VAULT_SKIP_VERIFY: "TRUE" });
    expect(c.tls.skipVerify).toBe(true);
    expect(c.warnings).toEqual(["VAULT_SKIP_VERIFY: Vault's TLS certificate is not verified; use VAULT_CACERT instead in production"]);
  });
});

describe("parseConfig: booleans, numbers, durations, enumerations", () => {
  const booleans = [
    ["VAULT_SKIP_VERIFY", (c: Config) => c.tls.skipVerify],
    ["VAULT_AGENT_REQUIRE_TOKEN", (c: Config) => c.requireToken],
    ["VAULT_DEFAULT_CACHE_ENABLED", (c: Config) => c.defaultCacheEnabled],
    ["VAULT_REVOKE_ON_SHUTDOWN", (c: Config) => c.revokeOnShutdown],
  ] as const;

  it.each(booleans)("%s accepts Go's ParseBool set, case-insensitively", (variable, read) => {
    for (const v of ["1", "t", "T", "true", "TRUE", "True", "tRuE"]) expect(read(parse({ [variable]: v })), v).toBe(true);
    for (const v of ["0", "f", "F", "false", "FALSE", "False"]) expect(read(parse({ [variable]: v })), v).toBe(false);
  });

  it.each(booleans)("%s rejects anything else", (variable) => {
    for (const v of ["yes", "no", "on", "2", "truthy"]) {
      expect(error({ [variable]: v })).toBe(`${variable}: ${JSON.stringify(v)} is not a boolean (use true or false)`);
    }
  });

  it("says how to write a duration, with the variable's default as the example", () => {
    expect(error({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten" })).toBe(
      'VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten" is not a duration (try "10s")',
    );
    expect(error({ VAULT_CLIENT_TIMEOUT: "soon" })).toBe('VAULT_CLIENT_TIMEOUT: "soon" is not a duration (try "5s")');
    expect(error({ VAULT_STATIC_SECRET_TTL: "-1m" })).toBe('VAULT_STATIC_SECRET_TTL: "-1m" is not a duration (try "5m")');
    expect(error({ VAULT_DEFAULT_CACHE_TTL: "1 hour" })).toBe('VAULT_DEFAULT_CACHE_TTL: "1 hour" is not a duration (try "5m")');
  });

  it("VAULT_CLIENT_TIMEOUT: more than 0, at most 10 minutes", () => {
    expect(parse({ VAULT_CLIENT_TIMEOUT: "30" }).clientTimeoutMs).toBe(30_000);
    expect(parse({ VAULT_CLIENT_TIMEOUT: "1.5s" }).clientTimeoutMs).toBe(1_500);
    expect(parse({ VAULT_CLIENT_TIMEOUT: "10m" }).clientTimeoutMs).toBe(600_000);
    expect(error({ VAULT_CLIENT_TIMEOUT: "0s" })).toBe('VAULT_CLIENT_TIMEOUT: "0s" must be more than 0s');
    expect(error({ VAULT_CLIENT_TIMEOUT: "10m1s" })).toBe('VAULT_CLIENT_TIMEOUT: "10m1s" must be at most 10m');
  });

  it("VAULT_TOKEN_EXPIRY_GRACE_PERIOD and VAULT_STATIC_SECRET_TTL accept 0", () => {
    expect(parse({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "30s" }).gracePeriodMs).toBe(30_000);
    expect(parse({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "0" }).gracePeriodMs).toBe(0);
    expect(parse({ VAULT_STATIC_SECRET_TTL: "1h" }).staticSecretTtlMs).toBe(3_600_000);
    expect(parse({ VAULT_STATIC_SECRET_TTL: "0" }).staticSecretTtlMs).toBe(0);
  });

  it("VAULT_DEFAULT_CACHE_TTL: unset or more than 0", () => {
    expect(parse({ VAULT_DEFAULT_CACHE_TTL: "2m" }).defaultCacheTtlMs).toBe(120_000);
    expect(parse({ VAULT_DEFAULT_CACHE_TTL: "45" }).defaultCacheTtlMs).toBe(45_000);
    expect(error({ VAULT_DEFAULT_CACHE_TTL: "0s" })).toBe(
      'VAULT_DEFAULT_CACHE_TTL: "0s" must be more than 0s (unset it to not cache responses without a lease)',
    );
  });

  it("VAULT_MAX_RETRIES: a whole number from 0 to 10", () => {
    expect(parse({ VAULT_MAX_RETRIES: "0" }).maxRetries).toBe(0);
    expect(parse({ VAULT_MAX_RETRIES: "10" }).maxRetries).toBe(10);
    for (const v of ["11", "-1", "2.5", "two", "1e1", "0x2"]) {
      expect(error({ VAULT_MAX_RETRIES: v })).toBe(`VAULT_MAX_RETRIES: ${JSON.stringify(v)} is not a whole number from 0 to 10`);
    }
  });

  it("VAULT_AGENT_PORT: 1 to 65535", () => {
    expect(parse({ VAULT_AGENT_PORT: "1" }).port).toBe(1);
    expect(parse({ VAULT_AGENT_PORT: "65535" }).port).toBe(65535);
    for (const v of ["0", "65536", "-1", "80.5", "http", "8200/tcp"]) {
      expect(error({ VAULT_AGENT_PORT: v })).toBe(`VAULT_AGENT_PORT: ${JSON.stringify(v)} is not a port number (1-65535)`);
    }
  });

  it("VAULT_RUN_MODE is case-insensitive (HashiCorp's extension is not) and checked", () => {
    expect(parse({ VAULT_RUN_MODE: "PROXY" }).runMode).toBe("proxy");
    expect(parse({ VAULT_RUN_MODE: "Default" }).runMode).toBe("default");
    expect(parse({ VAULT_RUN_MODE: "FILE", VAULT_SECRET_PATH: "kv/x" }).runMode).toBe("file");
    expect(error({ VAULT_RUN_MODE: "files" })).toBe('VAULT_RUN_MODE: "files" is not one of default, proxy, file');
  });

  it("VAULT_LOG_LEVEL is case-insensitive and checked", () => {
    for (const level of ["trace", "debug", "info", "warn", "error", "off"] as const) {
      expect(parse({ VAULT_LOG_LEVEL: level.toUpperCase() }).logLevel).toBe(level);
    }
    expect(parse({ VAULT_LOG_LEVEL: "Warning" }).logLevel).toBe("warn");
    expect(error({ VAULT_LOG_LEVEL: "verbose" })).toBe('VAULT_LOG_LEVEL: "verbose" is not one of trace, debug, info, warn, error, off');
  });

  it("VAULT_METRICS is off or emf, and says so otherwise", () => {
    expect(parse().metrics).toBe("off");
    expect(parse({ VAULT_METRICS: "EMF" }).metrics).toBe("emf");
    expect(error({ VAULT_METRICS: "prometheus" })).toBe('VAULT_METRICS: "prometheus" is not one of off, emf');
  });

  it("without VAULT_LOG_LEVEL, Lambda's AWS_LAMBDA_LOG_LEVEL (FATAL is error; an unknown value is info); VAULT_LOG_LEVEL wins", () => {
    expect(parse({ AWS_LAMBDA_LOG_LEVEL: "DEBUG" }).logLevel).toBe("debug");
    expect(parse({ AWS_LAMBDA_LOG_LEVEL: "warn" }).logLevel).toBe("warn");
    expect(parse({ AWS_LAMBDA_LOG_LEVEL: "FATAL" }).logLevel).toBe("error");
    expect(parse({ AWS_LAMBDA_LOG_LEVEL: "loud" }).logLevel).toBe("info");
    expect(parse({ AWS_LAMBDA_LOG_LEVEL: "ERROR", VAULT_LOG_LEVEL: "debug" }).logLevel).toBe("debug");
    expect(parse().logLevel).toBe("info");
  });

  it("cuts a long bad value in a message", () => {
    const m = error({ VAULT_RUN_MODE: "x".repeat(500) });
    expect(m.length).toBeLessThan(200);
    expect(m).toContain('..."');
  });
});

// ---------------------------------------------------------------------------------------------

describe("parseConfig: declared secrets", () => {
  it("declares named secrets and the unnamed one, sorted by key", () => {
    const c = parse({
      VAULT_SECRET_PATH_DB: "database/creds/app",
      VAULT_SECRET_PATH_Api_Key: "/secret/data/api",
      VAULT_SECRET_PATH: "//kv/config",
    });
    expect(c.secrets).toEqual([
      { name: "Api_Key", key: "api_key", path: "secret/data/api", variable: "VAULT_SECRET_PATH_Api_Key" },
      { name: "DB", key: "db", path: "database/creds/app", variable: "VAULT_SECRET_PATH_DB" },
      { name: "default", key: "default", path: "kv/config", variable: "VAULT_SECRET_PATH" },
    ]);
    expect(findSecret(c, "db")?.name).toBe("DB");
    expect(findSecret(c, "DB")?.name).toBe("DB");
    expect(findSecret(c, "API_KEY")?.path).toBe("secret/data/api");
    expect(findSecret(c, "nope")).toBeUndefined();
  });

  it("refuses two declarations that differ only by case", () => {
    expect(error({ VAULT_SECRET_PATH_DB: "a/b", VAULT_SECRET_PATH_db: "c/d" })).toBe(
      "VAULT_SECRET_PATH_DB and VAULT_SECRET_PATH_db: secret names match case-insensitively, so these declare the same secret twice; keep one",
    );
    expect(error({ VAULT_SECRET_PATH: "a/b", VAULT_SECRET_PATH_DEFAULT: "c/d" })).toMatch(
      /^VAULT_SECRET_PATH and VAULT_SECRET_PATH_DEFAULT: .* the same secret twice/,
    );
  });

  it.each([
    ["secret/data/app/", "secret/data/app/"],
    ["v1/secret/data/app", "v1/secret/data/app"],
    ["kv/with space/and:colon", "kv/with space/and:colon"],
  ])("keeps the path %j as %j", (raw, path) => {
    expect(parse({ VAULT_SECRET_PATH_X: raw }).secrets[0]?.path).toBe(path);
  });

  it("warns about a v1/ prefix but keeps it (a mount may be called v1)", () => {
    expect(parse({ VAULT_SECRET_PATH_X: "/v1/secret/data/app" }).warnings).toEqual([
      'VAULT_SECRET_PATH_X: the path starts with "v1/"; Vault paths are relative to /v1/, so unless a mount is really called "v1", drop that prefix',
    ]);
  });

  it.each(["/", "///", "secret/../sys/raw", "secret/./x", "a//b", "secret/data/x?version=2", "secret#x", "secret/%2e%2e", "a\u0000b"])(
    "rejects the path %j",
    (raw) => {
      expect(error({ VAULT_SECRET_PATH_X: raw })).toMatch(/^VAULT_SECRET_PATH_X: /);
    },
  );

  it("reports a bad path and a bad file of one secret together", () => {
    const list = errors({ VAULT_SECRET_PATH_DB: "a/../b", VAULT_SECRET_FILE_DB: "../x.json" });
    expect(list).toHaveLength(2);
    expect(list[0]).toMatch(/^VAULT_SECRET_PATH_DB: /);
    expect(list[1]).toMatch(/^VAULT_SECRET_FILE_DB: /);
  });

  it("rejects bad secret names", () => {
    expect(error({ "VAULT_SECRET_PATH_my-db": "a/b" })).toBe(
      'VAULT_SECRET_PATH_my-db: the secret name "my-db" may only contain letters, digits and "_"',
    );
    expect(error({ VAULT_SECRET_PATH_: "a/b" })).toMatch(/^VAULT_SECRET_PATH_: has no secret name; use VAULT_SECRET_PATH_<NAME>/);
    expect(error({ VAULT_SECRET_FILE_: "a.json" })).toMatch(/^VAULT_SECRET_FILE_: has no secret name; use VAULT_SECRET_FILE_<NAME>/);
  });

  describe("default mode: files only for secrets that name one", () => {
    it("writes a file only where VAULT_SECRET_FILE_<NAME> says", () => {
      const c = parse({
        VAULT_SECRET_PATH_DB: "database/creds/app",
        VAULT_SECRET_FILE_DB: "db.json",
        VAULT_SECRET_PATH_API: "secret/data/api",
        VAULT_SECRET_PATH: "kv/x",
        VAULT_SECRET_FILE: "/tmp/app/default.json",
      });
      expect(c.secrets.map((s) => [s.name, s.file, s.fileVariable])).toEqual([
        ["API", undefined, undefined],
        ["DB", "/tmp/vault/db.json", "VAULT_SECRET_FILE_DB"],
        ["default", "/tmp/app/default.json", "VAULT_SECRET_FILE"],
      ]);
      expect(c.secrets[0]).not.toHaveProperty("file");
    });

    it("pairs FILE and PATH case-insensitively", () => {
      expect(parse({ VAULT_SECRET_PATH_DB: "a/b", VAULT_SECRET_FILE_db: "x.json" }).secrets[0]?.file).toBe("/tmp/vault/x.json");
    });

    it("refuses a file without its secret, naming both variables", () => {
      expect(error({ VAULT_SECRET_FILE_DB: "db.json" })).toBe(
        "VAULT_SECRET_FILE_DB: set, but VAULT_SECRET_PATH_DB is not: a file needs a secret to hold (set VAULT_SECRET_PATH_DB to its Vault path, or remove VAULT_SECRET_FILE_DB)",
      );
      expect(error({ VAULT_SECRET_FILE: "x.json" })).toMatch(/^VAULT_SECRET_FILE: set, but VAULT_SECRET_PATH is not/);
    });

    it("refuses two secrets on one file", () => {
      expect(
        error({ VAULT_SECRET_PATH_A: "a/a", VAULT_SECRET_FILE_A: "same.json", VAULT_SECRET_PATH_B: "b/b", VAULT_SECRET_FILE_B: "/tmp/vault/./same.json" }),
      ).toBe(
        'VAULT_SECRET_FILE_A and VAULT_SECRET_FILE_B: the secrets "A" and "B" would both be written to /tmp/vault/same.json; give each its own VAULT_SECRET_FILE_<NAME>',
      );
    });
  });

  describe("file mode: every secret gets a file", () => {
    it("defaults to /tmp/vault/<name lower-cased>.json, and secret.json for the unnamed secret", () => {
      const c = parse({
        VAULT_RUN_MODE: "file",
        VAULT_SECRET_PATH_DB: "database/creds/app",
        VAULT_SECRET_PATH_Api: "secret/data/api",
        VAULT_SECRET_FILE_API: "/tmp/custom/api.json",
        VAULT_SECRET_PATH: "kv/x",
      });
      expect(c.secrets.map((s) => [s.name, s.file])).toEqual([
        ["Api", "/tmp/custom/api.json"],
        ["DB", "/tmp/vault/db.json"],
        ["default", "/tmp/vault/secret.json"],
      ]);
      expect(defaultSecretFile("DB")).toBe("/tmp/vault/db.json");
      // Only the unnamed secret uses secret.json; a secret *named* default is like any other.
      expect(parse({ VAULT_RUN_MODE: "file", VAULT_SECRET_PATH_Default: "kv/x" }).secrets[0]?.file).toBe("/tmp/vault/default.json");
    });

    it("does not need a caller token (no listener)", () => {
      const c = parseConfig({ ...without(BASE, "AWS_SESSION_TOKEN"), VAULT_RUN_MODE: "file", VAULT_SECRET_PATH: "kv/x" });
      expect(c.callerToken).toBeUndefined();
    });

    it("has nothing to do without a declared secret", () => {
      expect(error({ VAULT_RUN_MODE: "file" })).toMatch(/^VAULT_RUN_MODE: is file, but no secret is declared/);
    });

    it("refuses a name whose default file another secret claims", () => {
      expect(error({ VAULT_RUN_MODE: "file", VAULT_SECRET_PATH_A: "a/a", VAULT_SECRET_PATH_B: "b/b", VAULT_SECRET_FILE_B: "a.json" })).toMatch(
        /^VAULT_SECRET_PATH_A and VAULT_SECRET_FILE_B: .* both be written to \/tmp\/vault\/a\.json/,
      );
    });
  });

  describe("proxy mode: no files", () => {
    it("serves declared secrets over HTTP only", () => {
      const c = parse({ VAULT_RUN_MODE: "proxy", VAULT_SECRET_PATH_DB: "a/b" });
      expect(c.secrets).toEqual([{ name: "DB", key: "db", path: "a/b", variable: "VAULT_SECRET_PATH_DB" }]);
    });

    it("refuses a file variable, which would do nothing", () => {
      expect(error({ VAULT_RUN_MODE: "proxy", VAULT_SECRET_PATH_DB: "a/b", VAULT_SECRET_FILE_DB: "db.json" })).toBe(
        "VAULT_SECRET_FILE_DB: files are not written in proxy mode (VAULT_RUN_MODE=proxy); remove it or use VAULT_RUN_MODE=default",
      );
    });
  });

  describe("file paths", () => {
    it.each([
      ["db.json", "/tmp/vault/db.json"],
      ["./db.json", "/tmp/vault/db.json"],
      ["sub/dir/db.json", "/tmp/vault/sub/dir/db.json"],
      ["/tmp/other/db.json", "/tmp/other/db.json"],
      ["/tmp//vault///db.json", "/tmp/vault/db.json"],
    ])("resolves %j to %j", (raw, file) => {
      expect(resolveSecretFile(raw)).toBe(file);
      expect(parse({ VAULT_SECRET_PATH_DB: "a/b", VAULT_SECRET_FILE_DB: raw }).secrets[0]?.file).toBe(file);
    });

    it.each(["../etc/passwd", "/tmp/vault/../../etc/x", "sub/..", "/tmp/vault/", ".", "dir/."])("rejects %j", (raw) => {
      expect(error({ VAULT_SECRET_PATH_DB: "a/b", VAULT_SECRET_FILE_DB: raw })).toMatch(/^VAULT_SECRET_FILE_DB: ".*" (must not contain "\.\."|names a directory)/);
    });

    it("warns about a file outside /tmp (read-only in Lambda)", () => {
      expect(parse({ VAULT_SECRET_PATH_DB: "a/b", VAULT_SECRET_FILE_DB: "/var/task/db.json" }).warnings).toEqual([
        "VAULT_SECRET_FILE_DB: /var/task/db.json is outside /tmp, the only writable directory in Lambda",
      ]);
    });
  });
});

// ---------------------------------------------------------------------------------------------

describe("parseConfig: AWS credentials and the caller token", () => {
  it("needs the function's credentials to sign the login, naming both places they may come from", () => {
    const list = errors({}, without(BASE, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"));
    expect(list).toHaveLength(1);
    expect(list[0]).toMatch(/^AWS_ACCESS_KEY_ID: not set, and AWS_CONTAINER_CREDENTIALS_FULL_URI is not set either: the extension signs its Vault login/);
    expect(list[0]).toContain("outside Lambda set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
  });

  it("wants both keys or neither", () => {
    expect(error({}, without(BASE, "AWS_SECRET_ACCESS_KEY"))).toMatch(/^AWS_SECRET_ACCESS_KEY: not set, but AWS_ACCESS_KEY_ID is: set both, or neither/);
    expect(error({}, without(BASE, "AWS_ACCESS_KEY_ID"))).toMatch(/^AWS_ACCESS_KEY_ID: not set, but AWS_SECRET_ACCESS_KEY is: set both, or neither/);
  });

  it("takes the container-credentials endpoint when the keys are not set (SnapStart), with its token as the caller token", () => {
    const env = {
      ...without(BASE, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"),
      AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1:9001/2021-04-23/credentials",
      AWS_CONTAINER_AUTHORIZATION_TOKEN: CONTAINER_TOKEN,
    };
    const c = parseConfig(env);
    expect(c.aws.credentials).toBeUndefined();
    expect(c.aws.containerCredentials).toEqual({ uri: "http://127.0.0.1:9001/2021-04-23/credentials", authorizationToken: CONTAINER_TOKEN });
    expect(c.callerToken).toBe(CONTAINER_TOKEN);
    // The endpoint without a token is asked without one.
    const bare = parseConfig({ ...env, AWS_CONTAINER_AUTHORIZATION_TOKEN: undefined, VAULT_AGENT_REQUIRE_TOKEN: "false" });
    expect(bare.aws.containerCredentials).toEqual({ uri: "http://127.0.0.1:9001/2021-04-23/credentials" });
  });

  it("prefers the keys to the endpoint, as the AWS SDKs do", () => {
    const c = parseConfig({ ...BASE, AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1:9001/2021-04-23/credentials" });
    expect(c.aws.credentials?.accessKeyId).toBe("ASIAEXAMPLEEXAMPLE00");
    expect(c.aws.containerCredentials).toBeUndefined();
  });

  it("plain http to the endpoint only on this host or AWS's link-local addresses, as the AWS SDKs allow", () => {
    const env = without(BASE, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");
    for (const ok of ["http://127.0.0.1:9001/c", "http://localhost:9001/c", "http://169.254.170.2/v2/credentials", "http://169.254.170.23/v1/credentials", "https://creds.example.com/c"]) {
      expect(parseConfig({ ...env, AWS_CONTAINER_CREDENTIALS_FULL_URI: ok }).aws.containerCredentials?.uri, ok).toBe(ok);
    }
    expect(error({}, { ...env, AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://creds.example.com/c" })).toMatch(
      /^AWS_CONTAINER_CREDENTIALS_FULL_URI: "http:\/\/creds.example.com\/c": plain http is allowed only to this host .* use https for creds.example.com/,
    );
  });

  it("says what is wrong with an endpoint that is not an http URL", () => {
    const env = { ...without(BASE, "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), AWS_CONTAINER_CREDENTIALS_FULL_URI: "127.0.0.1:9001/creds" };
    expect(error({}, env)).toMatch(/^AWS_CONTAINER_CREDENTIALS_FULL_URI: "127.0.0.1:9001\/creds" is not a credentials endpoint: use an http:\/\/ or https:\/\/ URL/);
  });

  it("works with long-term credentials outside Lambda when the token check is off", () => {
    const c = parseConfig({ ...without(BASE, "AWS_SESSION_TOKEN"), VAULT_AGENT_REQUIRE_TOKEN: "false" });
    expect(c.aws).not.toHaveProperty("sessionToken");
    expect(c.callerToken).toBeUndefined();
    expect(c.requireToken).toBe(false);
  });

  it("needs a caller token for the listener, suggesting the opt-out only as a last resort", () => {
    const m = error({}, without(BASE, "AWS_SESSION_TOKEN"));
    expect(m).toMatch(/^AWS_SESSION_TOKEN: not set, but handlers must present it to the localhost endpoint/);
    expect(m).toMatch(/Only as a last resort set VAULT_AGENT_REQUIRE_TOKEN=false/);
  });

  it("takes the caller token from AWS_CONTAINER_AUTHORIZATION_TOKEN without a session token", () => {
    const c = parseConfig({ ...without(BASE, "AWS_SESSION_TOKEN"), AWS_CONTAINER_AUTHORIZATION_TOKEN: CONTAINER_TOKEN });
    expect(c.callerToken).toBe(CONTAINER_TOKEN);
    expect(parse({ AWS_CONTAINER_AUTHORIZATION_TOKEN: CONTAINER_TOKEN }).callerToken).toBe(SESSION_TOKEN);
  });
});

describe("parseConfig: every problem at once, and never a credential", () => {
  it("reports all problems together, in one ConfigError", () => {
    let caught: unknown;
    try {
      parseConfig({
        AWS_SECRET_ACCESS_KEY: SECRET_KEY,
        VAULT_RUN_MODE: "files",
        VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten",
        VAULT_AGENT_PORT: "99999",
        VAULT_SKIP_VERIFY: "maybe",
      });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    expect(caught).toBeInstanceOf(Error);
    const err = caught as ConfigError;
    expect(err.name).toBe("ConfigError");
    expect(err.problems.map((p) => p.variable).sort()).toEqual([
      "AWS_ACCESS_KEY_ID",
      "AWS_SESSION_TOKEN",
      "VAULT_ADDR",
      "VAULT_AGENT_PORT",
      "VAULT_RUN_MODE",
      "VAULT_SKIP_VERIFY",
      "VAULT_TOKEN_EXPIRY_GRACE_PERIOD",
    ]);
    expect(err.message).toContain('VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten" is not a duration (try "10s"); ');
  });

  it("never puts a credential value in a message or a warning, whatever is wrong", () => {
    const env: Env = {
      VAULT_ADDR: `https://user:${SESSION_TOKEN}@vault.example.com`,
      AWS_ACCESS_KEY_ID: "AKIAEXAMPLE",
      AWS_SECRET_ACCESS_KEY: SECRET_KEY,
      AWS_SESSION_TOKEN: SESSION_TOKEN,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: CONTAINER_TOKEN,
      VAULT_CLIENT_KEY: CLIENT_KEY_PEM,
      VAULT_ASSUMED_ROLE_ARN: "arn:aws:iam::123456789012:role/x",
      VAULT_SECRET_PATH_X: "a/../b",
      VAULT_CACERT: SECRET_KEY,
      VAULT_SKIP_VERIFY: "1",
      VAULT_RUNMODE: "proxy",
    };
    const problems = problemsOf(env); // asserts no sentinel in any message
    expect(problems.map((p) => p.variable)).toEqual(
      expect.arrayContaining(["VAULT_ADDR", "VAULT_CLIENT_KEY", "VAULT_CLIENT_CERT", "AWS_REGION", "VAULT_SECRET_PATH_X"]),
    );
    // The same credentials in a valid configuration: warnings are clean too.
    const c = parseConfig({ ...env, VAULT_ADDR: "http://vault.remote:8200", VAULT_CLIENT_KEY: "rel-key.pem", VAULT_CLIENT_CERT: "c.pem", AWS_REGION: "us-east-1", VAULT_SECRET_PATH_X: "a/b" });
    expect(c.warnings.length).toBeGreaterThan(3);
    for (const w of c.warnings) for (const s of SENTINELS) expect(w).not.toContain(s);
    // Every credential variable is covered by the sentinels above.
    expect(CREDENTIAL_VARIABLES).toEqual(["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN", "VAULT_CLIENT_KEY"]);
  });

  it("does not echo a credential put in the wrong variable's place either (e.g. a PEM or a token as a path)", () => {
    for (const s of problemsOf({ ...BASE, VAULT_CLIENT_CERT: "/c.pem", VAULT_CLIENT_KEY: `${SESSION_TOKEN}\nmore` })) {
      expect(s.message).not.toContain(SESSION_TOKEN);
    }
  });
});

describe("parseConfig: warnings about variables that look like ours", () => {
  it.each([
    ["VAULT_RUNMODE", "VAULT_RUN_MODE"],
    ["VAULT_ADR", "VAULT_ADDR"],
    ["VAULT_AUTH_PROVIDR", "VAULT_AUTH_PROVIDER"],
    ["VAULT_TOKEN_EXPIRY_GRACE", "VAULT_TOKEN_EXPIRY_GRACE_PERIOD"],
    ["VLE_VAULT_ADR", "VLE_VAULT_ADDR"],
    ["VAULT_SECRETS_PATH_DB", "VAULT_SECRET_PATH_DB"],
    ["VAULT_SECRETPATH_DB", "VAULT_SECRET_PATH_DB"],
    ["VAULT_SECRET_FILES_db", "VAULT_SECRET_FILE_db"],
    ["VAULT_ADDRESS", "VAULT_ADDR"],
    ["VAULT_CLIENT_TIMEOUT_MS", "VAULT_CLIENT_TIMEOUT"],
    ["VAULT_SECRET_PATHS", "VAULT_SECRET_PATH"],
  ])("%s → did you mean %s?", (typo, meant) => {
    expect(parse({ [typo]: "x" }).warnings).toEqual([
      `${typo}: not a variable of vault-lambda-agent and ignored; did you mean ${meant}?`,
    ]);
  });

  it("points out that names are case-sensitive", () => {
    expect(parse({ vault_run_mode: "proxy", Vault_Secret_Path_Db: "a/b" }).warnings).toEqual([
      "Vault_Secret_Path_Db: ignored, variable names are case-sensitive; did you mean VAULT_SECRET_PATH_Db?",
      "vault_run_mode: ignored, variable names are case-sensitive; did you mean VAULT_RUN_MODE?",
    ]);
  });

  it("names Vault variables HashiCorp's extension reads but this one does not", () => {
    expect(parse({ VAULT_RATE_LIMIT: "10" }).warnings).toEqual(["VAULT_RATE_LIMIT: not supported by vault-lambda-agent and ignored; remove it"]);
  });

  it("leaves the function's own Vault variables and unrelated ones alone", () => {
    const c = parse({
      VAULT_TOKEN: "hvs.function-own",
      VAULT_FORMAT: "json",
      VAULT_ROLE_FOR_APP: "x",
      VAULTED_FEATURE: "on",
      MY_VAULT_ADDR: "x",
      AWS_REGION: "us-east-1",
    });
    expect(c.warnings).toEqual([]);
  });
});

describe("the configuration table and the README", () => {
  const readme = fs.readFileSync(new URL("../README.md", import.meta.url), "utf8");
  const section = readme.slice(readme.indexOf("## Configuration"), readme.indexOf("\n## ", readme.indexOf("## Configuration") + 1));

  it("documents every variable the extension reads, and no other", () => {
    const documented = new Set([...section.matchAll(/`((?:VLE|VAULT)_[A-Z_]+?)(?:_<NAME>)?`/g)].map((m) => m[1]!));
    expect([...KNOWN_VARIABLES].sort()).toEqual([...documented].sort());
  });
});
