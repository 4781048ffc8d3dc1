/**
 * The error model: every failure's kind, the one "transient" rule, the init error type a kind
 * leads to, and how an error reads (Vault's errors and warnings, never more).
 */
import { describe, expect, it } from "vitest";
import {
  AgentError,
  ConfigError,
  describe as describeError,
  ExtensionsApiError,
  initErrorType,
  isTransient,
  isTransientStatus,
  kindOf,
  reasonOf,
  VaultError,
  vaultMessages,
  type ErrorKind,
} from "../src/errors.ts";

const status = (code: number, errors: string[] = [], warnings: string[] = []) => new VaultError("status", "GET", "secret/data/app?version=2", code, errors, { warnings });

describe("kinds and transience", () => {
  it.each([
    ["connection refused", new VaultError("connection", "GET", "x", undefined, ["ECONNREFUSED"]), "vault-transient", true],
    ["a timeout", new VaultError("timeout", "GET", "x", undefined, []), "timeout", true],
    ["a request the extension abandoned before a freeze", new VaultError("aborted", "GET", "x", undefined, []), "vault-transient", false],
    ["412", status(412), "vault-transient", true],
    ["429", status(429), "vault-transient", true],
    ["500", status(500), "vault-transient", true],
    ["503 (sealed)", status(503), "vault-transient", true],
    ["501", status(501), "vault-permanent", false],
    ["400", status(400), "vault-permanent", false],
    ["403", status(403), "vault-permanent", false],
    ["404", status(404), "vault-permanent", false],
    ["a configuration error", new ConfigError([{ variable: "VAULT_ADDR", message: "VAULT_ADDR: not set" }]), "config", false],
    ["a refused login", new AgentError("auth", "login refused"), "auth", false],
    ["the cache's wait bound", new AgentError("timeout", "no answer"), "timeout", true],
    ["the Extensions API", new ExtensionsApiError(500, "register answered 500"), "local", false],
    ["anything else", new TypeError("boom"), "local", false],
  ] as Array<[string, unknown, ErrorKind, boolean]>)("%s: %s", (_, err, kind, transient) => {
    expect(kindOf(err)).toBe(kind);
    expect(isTransient(err)).toBe(transient);
  });

  it("the transient statuses are 412, 429 and 5xx but 501", () => {
    const transient = [200, 400, 403, 404, 412, 429, 500, 501, 502, 503, 504].filter(isTransientStatus);
    expect(transient).toEqual([412, 429, 500, 502, 503, 504]);
    expect(status(503).transient).toBe(true);
    expect(status(501).transient).toBe(false);
  });
});

describe("init error types", () => {
  it.each([
    ["config", "login", "Extension.ConfigInvalid"],
    ["auth", "login", "Extension.AuthFailed"],
    ["vault-transient", "login", "Extension.VaultUnreachable"],
    ["timeout", "read", "Extension.VaultUnreachable"],
    ["vault-permanent", "login", "Extension.AuthFailed"],
    ["vault-permanent", "read", "Extension.SecretReadFailed"],
    ["local", "listen", "Extension.ConfigInvalid"],
    ["local", "read", "Extension.SecretReadFailed"],
    ["local", "login", "Extension.VaultUnreachable"],
  ] as const)("%s at %s → %s", (kind, step, type) => {
    expect(initErrorType(kind, step)).toBe(type);
  });
});

describe("in words", () => {
  it("says what Vault answered, to which request (without its query), with Vault's warnings", () => {
    const err = status(400, ["invalid version"], ["version is ignored for KV v1"]);
    expect(describeError(err)).toBe("Vault answered 400 to GET secret/data/app: invalid version (Vault warned: version is ignored for KV v1)");
    expect(reasonOf(err)).toBe("invalid version (Vault warned: version is ignored for KV v1)");
    expect(reasonOf(status(500))).toBe("Vault answered 500 to GET secret/data/app");
    expect(describeError(new VaultError("timeout", "PUT", "sys/leases/renew", undefined, []))).toBe("Vault did not answer PUT sys/leases/renew in time");
    expect(describeError("plain")).toBe("plain");
  });

  it("keeps the cause", () => {
    const cause = Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    const err = new VaultError("connection", "GET", "x", undefined, ["ECONNREFUSED"], { cause });
    expect(err.cause).toBe(cause);
    expect(new AgentError("auth", "refused", { cause: err }).cause).toBe(err);
  });

  it("reads Vault's errors and warnings from its JSON, whatever else is there", () => {
    expect(vaultMessages({ errors: [" a ", 1, "b"], warnings: ["w"] })).toEqual({ errors: ["a", "b"], warnings: ["w"] });
    expect(vaultMessages(undefined)).toEqual({ errors: [], warnings: [] });
    expect(vaultMessages({ errors: "not a list" })).toEqual({ errors: [], warnings: [] });
  });
});
