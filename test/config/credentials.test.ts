// A credential in the wrong variable: the configuration error says what is wrong and names the
// variable, but never shows the value; and every secret the environment holds is known to the
// redactor before the configuration is parsed.
import { describe, expect, it } from "vitest";
import { environmentSecrets, parseConfig } from "../../src/config.ts";
import { credentialKind, knownCredentialKind } from "../../src/config/parsers.ts";
import { ConfigError } from "../../src/errors.ts";

const VAULT_TOKEN = "hvs.CAESIJ7xdO4zGs3lDIXXyCuqJzxgcOyLQ4oLX6lXshNu5rIRGh4KHGh2cy5ZaUdVbG9xN0FOdEdiRnpQa2s1cENPSTQ";
const AWS_SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY";
const SESSION_TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQDexample0123456789abcdef";

const BASE = {
  VAULT_ADDR: "https://vault.example.com:8200",
  AWS_ACCESS_KEY_ID: "ASIAEXAMPLEEXAMPLE00",
  AWS_SECRET_ACCESS_KEY: "environment-secret-key-0123456789",
  AWS_SESSION_TOKEN: "environment-session-token-0123456789",
  AWS_REGION: "eu-west-1",
};

function messageOf(env: Record<string, string>): string {
  try {
    parseConfig({ ...BASE, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error("the configuration was accepted");
}

describe("a credential pasted into the wrong variable", () => {
  it.each([
    ["VAULT_ASSUMED_ROLE_ARN", AWS_SECRET_KEY, "is not an IAM role ARN"],
    ["VAULT_ASSUMED_ROLE_ARN", VAULT_TOKEN, "is not an IAM role ARN"],
    ["VAULT_AUTH_ROLE", VAULT_TOKEN, "looks like a Vault token, not a role name"],
    ["VAULT_AUTH_ROLE", SESSION_TOKEN, "looks like an AWS session token, not a role name"],
    ["VAULT_SECRET_PATH_DB", VAULT_TOKEN, "looks like a Vault token, not a Vault path"],
    ["VAULT_SECRET_PATH_DB", `${AWS_SECRET_KEY}?x`, "must be a plain Vault path"],
    ["VAULT_STS_ENDPOINT_REGION", AWS_SECRET_KEY, "is not an AWS region"],
    ["VAULT_TOKEN_EXPIRY_GRACE_PERIOD", AWS_SECRET_KEY, "is not a duration"],
    ["VAULT_NAMESPACE", `${VAULT_TOKEN}\u00e9`, "must be printable ASCII"],
    ["VAULT_TLS_SERVER_NAME", AWS_SECRET_KEY, "is not a host name"],
  ])("%s holding a credential: named, what is wrong said, the value not shown", (variable, value, wrong) => {
    const message = messageOf({ [variable]: value });
    expect(message).toContain(`${variable}:`);
    expect(message).toContain(wrong);
    // Not the value, nor any long piece of it.
    for (let i = 0; i + 12 <= value.length; i += 6) expect(message).not.toContain(value.slice(i, i + 12));
  });

  it("ordinary wrong values are still quoted back, so the user sees the typo", () => {
    expect(messageOf({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten" })).toContain('VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "ten" is not a duration (try "10s")');
    expect(messageOf({ VAULT_SECRET_PATH_DB: "secret/data/../x" })).toContain('"secret/data/../x" must not contain');
  });

  it("tells the shapes apart: unmistakable credentials, random keys, and ordinary names", () => {
    expect(knownCredentialKind(VAULT_TOKEN)).toBe("a Vault token");
    expect(knownCredentialKind("AKIAIOSFODNN7EXAMPLE")).toBe("an AWS access key id");
    expect(knownCredentialKind("-----BEGIN RSA PRIVATE KEY-----\nMIIE")).toBe("a private key");
    expect(knownCredentialKind(AWS_SECRET_KEY)).toBeUndefined();
    expect(credentialKind(AWS_SECRET_KEY)).toBe("a secret key or token");
    for (const ordinary of ["secret/data/MyApp2024", "database/creds/ReadOnly-Role01", "kv/data/team-a/Service2/config", "arn:aws:iam::123456789012:role/name", "fn-role", "eu-west-1"]) {
      expect(credentialKind(ordinary), ordinary).toBeUndefined();
    }
  });
});

describe("environmentSecrets", () => {
  it("holds the credential variables, secret-named variables and credential-shaped values; not our settings or ordinary values", () => {
    const secrets = environmentSecrets({
      ...BASE,
      AWS_CONTAINER_AUTHORIZATION_TOKEN: "container-token-0123456789",
      VAULT_TOKEN: "hvs.handler-token",
      DB_PASSWORD: "pw1",
      VAULT_AUTH_ROLE: VAULT_TOKEN,
      VAULT_SECRET_PATH_DB: AWS_SECRET_KEY,
      VAULT_AGENT_REQUIRE_TOKEN: "true",
      VAULT_CLIENT_KEY: "/var/task/client.key",
      AWS_LAMBDA_FUNCTION_NAME: "orders-api",
      EMPTY_TOKEN: "  ",
    });
    expect(secrets.sort()).toEqual(
      [
        BASE.AWS_ACCESS_KEY_ID,
        BASE.AWS_SECRET_ACCESS_KEY,
        BASE.AWS_SESSION_TOKEN,
        "container-token-0123456789",
        "hvs.handler-token",
        "pw1",
        VAULT_TOKEN,
        AWS_SECRET_KEY,
      ].sort(),
    );
    expect(environmentSecrets({ VAULT_CLIENT_KEY: "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----" })).toHaveLength(1);
  });

  it("does not take a path with a random-looking directory (mktemp) for a credential, but still a key that starts with a slash", () => {
    expect(environmentSecrets({ VAULT_SECRET_FILE_DB: "/tmp/tmp.Xa9dKq2LmZ/db.json", LAMBDA_TASK_ROOT: "/var/task" })).toEqual([]);
    const slashKey = "/" + AWS_SECRET_KEY.slice(1);
    expect(environmentSecrets({ SOME_SETTING: slashKey })).toEqual([slashKey]);
  });
});
