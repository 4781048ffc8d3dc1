/**
 * Property-based fuzzing of the configuration (fast-check): thousands of generated environments go
 * through what the extension does with `process.env` at start (`vleCompat`, then `parseConfig`).
 * Each is a valid configuration or a ConfigError whose every problem names a variable (its message
 * starts with that name), never another exception; and no credential value is ever quoted in a
 * problem or a warning. fast-check prints the seed and the shrunk counterexample on failure.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KNOWN_VARIABLES, parseConfig } from "../../src/config.ts";
import { vleCompat } from "../../src/config/vle-compat.ts";
import { ConfigError } from "../../src/errors.ts";

/** Enough runs to cover the grammar, few enough for < 20 s on a busy machine. */
const RUNS = 3_000;

/** Values that are credentials: they must never appear in a message. Distinctive, so a match is a leak. */
const credential = fc.stringMatching(/^[A-Za-z0-9+/]{24,48}$/).map((s) => `cred${s}`);
const CREDENTIAL_VARIABLES = ["AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_CONTAINER_AUTHORIZATION_TOKEN"] as const;

/** Values that look like what each kind of variable wants, and the edges around it. */
const plausible = fc.oneof(
  fc.constantFrom("", " ", "0", "1", "-1", "true", "FALSE", "t", "yes", "10s", "1m30s", "2h", "90", "0s", "-5s", "1e3", "5 s", "ten", "NaN", "Infinity"),
  fc.constantFrom("default", "proxy", "file", "FILE", "emf", "off", "debug", "WARNING", "trace"),
  fc.constantFrom("http://127.0.0.1:8200", "https://vault.example.com/prefix/", "vault.example.com", "http://[::1]:8200", "https://user:pw@vault:8200", "ftp://x", "http://", "https://vault:99999"),
  fc.constantFrom("us-east-1", "EU-WEST-1", "moon-1", "arn:aws:iam::123456789012:role/x", "arn:aws:iam::1:user/y", "secret/data/app", "database/creds/app", "a\\b", "../etc/passwd", "/tmp/vault/x.json", "x.json", "/etc/passwd", "a//b", "%2e%2e/x"),
  fc.integer({ min: -70000, max: 70000 }).map(String),
);
/** Anything: unicode, controls, NUL, long runs, whitespace. */
const anything = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.constantFrom("\0", "\n", "\r", "\t", " ", "\u2028", "\uFEFF", "é", "😀", "\\", "/", ".", "%", ":", "=", ";", '"'), maxLength: 30 }),
  fc.nat({ max: 3 }).map((n) => "a".repeat(10 ** (n + 2))),
);
const value = fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 2, arbitrary: anything });

/** Secret names: the valid shape and everything around it. */
const secretName = fc.oneof(fc.stringMatching(/^[A-Za-z0-9_]{1,12}$/), fc.string({ maxLength: 8 }), fc.constantFrom("DB", "db", "Db", "", "A-B", "A.B", "é"));
const variableName = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...KNOWN_VARIABLES, "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_LAMBDA_FUNCTION_NAME", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_ENDPOINT_URL_STS", "AWS_STS_REGIONAL_ENDPOINTS", "AWS_LAMBDA_LOG_LEVEL", "VAULT_CACHE_TTL", "VAULT_TOKEN", "VAULT_SECERT_PATH_DB") },
  { weight: 2, arbitrary: secretName.map((n) => `VAULT_SECRET_PATH_${n}`) },
  { weight: 1, arbitrary: secretName.map((n) => `VAULT_SECRET_FILE_${n}`) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((n) => `VAULT_${n}`) },
);

interface Generated {
  env: Record<string, string>;
  credentials: string[];
}

/** A base that is usually valid (so that deep checks run), then random variables on top. */
const environment: fc.Arbitrary<Generated> = fc
  .record({
    base: fc.boolean(),
    creds: fc.tuple(credential, credential, credential),
    credentialSubset: fc.subarray([...CREDENTIAL_VARIABLES]),
    extra: fc.dictionary(variableName, value, { maxKeys: 8 }),
  })
  .map(({ base, creds, credentialSubset, extra }) => {
    const env: Record<string, string> = base ? { VAULT_ADDR: "https://vault.example.com:8200", AWS_ACCESS_KEY_ID: "AKIAFUZZEXAMPLE", VAULT_SECRET_PATH_DB: "database/creds/app" } : {};
    Object.assign(env, extra);
    // Credential variables always hold credential values (what Lambda puts there).
    const credentials: string[] = [];
    credentialSubset.forEach((name, i) => {
      env[name] = creds[i]!;
      credentials.push(creds[i]!);
    });
    return { env, credentials };
  });

/** Runs the start-up pipeline; returns the messages a user could see (problems and warnings). */
function configure(env: Record<string, string>): { messages: string[]; error?: ConfigError } {
  const compat = vleCompat(env);
  try {
    const config = parseConfig(compat.env);
    return { messages: [...compat.warnings, ...compat.notices, ...config.warnings] };
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return { messages: [...compat.warnings, ...compat.notices, err.message, ...err.problems.map((p) => p.message)], error: err };
  }
}

describe("configuration fuzz", () => {
  it("every environment is a configuration or a ConfigError naming variables; never another exception, never a credential quoted", () => {
    let valid = 0;
    fc.assert(
      fc.property(environment, ({ env, credentials }) => {
        const { messages, error } = configure(env);
        if (!error) valid++;
        if (error) {
          expect(error.problems.length).toBeGreaterThan(0);
          for (const p of error.problems) {
            expect(p.variable).toMatch(/^[A-Z][A-Z0-9_]*$|^VAULT_SECRET_(PATH|FILE)_/);
            expect(p.message.startsWith(p.variable)).toBe(true);
          }
        }
        for (const m of messages) for (const c of credentials) expect(m).not.toContain(c);
      }),
      { numRuns: RUNS },
    );
    // Not vacuous: a good share of the environments are valid, so the deep checks ran too.
    expect(valid).toBeGreaterThan(RUNS / 40);
  }, 120_000);

  /** A declared secret's path as a user might write it, and everything around it. */
  const secretPath = fc.oneof(
    fc.array(fc.oneof(fc.stringMatching(/^[A-Za-z0-9_-]{1,8}$/), fc.constantFrom("..", ".", "", "%2e%2e", "a\\b", "\\..", "x?y", "x#y", "é", "a\u0000b", " a ", "data")), { minLength: 1, maxLength: 5 }).map((segs) => segs.join("/")),
    fc.string({ maxLength: 30 }),
  );
  const pathsEnv = fc.record({ a: secretPath, b: secretPath }).map(({ a, b }) => ({
    VAULT_ADDR: "https://vault.example.com",
    AWS_ACCESS_KEY_ID: "AKIAFUZZEXAMPLE",
    AWS_SECRET_ACCESS_KEY: "fuzz-secret-access-key-value",
    AWS_SESSION_TOKEN: "fuzz-session-token-value",
    VAULT_SECRET_PATH_A: a,
    VAULT_SECRET_PATH_B: b,
  }));
  const acceptedPaths = (env: Record<string, string>): string[] => {
    try {
      return parseConfig(env).secrets.map((x) => x.path);
    } catch (err) {
      if (err instanceof ConfigError) return [];
      throw err;
    }
  };

  it("an accepted secret path has no dot or empty segments (but a trailing slash), no ?, #, % or control characters (the proxy and the reads build URLs from it)", () => {
    let accepted = 0;
    fc.assert(
      fc.property(pathsEnv, (env) => {
        for (const p of acceptedPaths(env)) {
          accepted++;
          // One trailing slash is allowed on purpose (a path Vault lists).
          for (const seg of p.replace(/\/$/, "").split("/")) expect(["", ".", ".."]).not.toContain(seg);
          expect(p).not.toMatch(/[?#%\u0000-\u001f\u007f]/);
        }
      }),
      { numRuns: 2_000 },
    );
    expect(accepted).toBeGreaterThan(100);
  });

  // Defect 1 (issue 10), before its fix: a backslash in VAULT_SECRET_PATH_* passes the check, and
  // relative URL resolution turns `..\` into a step outside the path.
  it("an accepted secret path has no backslash", () => {
    fc.assert(
      fc.property(pathsEnv, (env) => {
        for (const p of acceptedPaths(env)) expect(p).not.toContain("\\");
      }),
      { numRuns: 2_000 },
    );
  });

  /** What Lambda puts in AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN: random base64, 40 characters and a few hundred. */
  const realisticCredential = fc.oneof(
    fc.uint8Array({ minLength: 30, maxLength: 30 }).map((b) => `${Buffer.from(b).toString("base64").slice(0, 37)}a1Z`),
    fc.uint8Array({ minLength: 120, maxLength: 240 }).map((b) => `IQoJb3JpZ2luX2Vj${Buffer.from(b).toString("base64")}`),
  );

  // Defect 5 (issue 10), before its fix: a credential pasted into the wrong variable is quoted in the
  // configuration error (e.g. `VAULT_AUTH_ROLE: "<the session token>" is not a role name`).
  it("a real-looking credential pasted into another variable is never quoted in a message", () => {
    fc.assert(
      fc.property(environment, realisticCredential, fc.constantFrom(...KNOWN_VARIABLES.filter((v) => v !== "VAULT_ADDR" && v !== "VLE_VAULT_ADDR")), ({ env }, pasted, wrong) => {
        const { messages } = configure({ ...env, AWS_SESSION_TOKEN: pasted, [wrong]: pasted });
        for (const m of messages) expect(m).not.toContain(pasted);
      }),
      { numRuns: 500 },
    );
  });
});
