/**
 * A declared secret's path is sent to Vault as it is: one that could climb out of `/v1/` (a
 * backslash, which some gateways treat as "/", next to "..") is a configuration error that names
 * the variable (defect 1 of the hardening issue).
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { ConfigError } from "../../src/errors.ts";

const BASE = { VAULT_ADDR: "https://vault.example.com:8200", AWS_REGION: "eu-west-1", AWS_LAMBDA_FUNCTION_NAME: "my-function" };

function problem(path: string): string {
  try {
    parseConfig({ ...BASE, VAULT_SECRET_PATH_DB: path });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  return "accepted";
}

describe("VAULT_SECRET_PATH_* escapes", () => {
  it.each(["secret\\..\\..\\sys\\raw", "..\\sys/raw", "secret/data\\x", "\\secret/data/x"])("refuses %j with a named error", (path) => {
    const message = problem(path);
    expect(message).toMatch(/^VAULT_SECRET_PATH_DB: .* must not contain a backslash: Vault paths use "\/"/);
  });

  it.each(["secret/%2e%2e/sys", "secret/data/x%5C..", "secret/../sys"])("still refuses %j", (path) => {
    expect(problem(path)).toMatch(/^VAULT_SECRET_PATH_DB: /);
  });
});
