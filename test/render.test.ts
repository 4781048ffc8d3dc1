/**
 * What a held secret looks like on the wire (and in its file): the time left on the effective
 * lease, the end of it, KV metadata and Vault's warnings; AWS credentials that expire when the
 * extension stops serving them.
 */
import { describe, expect, it } from "vitest";
import type { SecretRecord } from "../src/cache/record.ts";
import type { DeclaredSecret } from "../src/config.ts";
import { effectiveLease, planLease, planStatic } from "../src/lease/policy.ts";
import { renderAwsCredentials, renderSecret } from "../src/render.ts";
import type { TokenState } from "../src/vault/token.ts";
import { answer, MINUTE, T0 } from "./vault/fakes.ts";

const SECRET: DeclaredSecret = { name: "DB", key: "db", path: "database/creds/app", variable: "VAULT_SECRET_PATH_DB" };
const token = (expiresInMs: number): TokenState => ({ clientToken: "t", accessor: "a", serial: 1, policies: [], durationS: 0, lease: planLease(expiresInMs, T0, true, 10_000, 0), dead: false });

function record(extra: Partial<SecretRecord>): SecretRecord {
  return { path: SECRET.path, response: answer(200, {}), json: {}, data: { username: "u" }, leaseId: "", leaseDurationS: 0, token: token(4 * 60 * MINUTE), lease: planStatic(T0, 0), readAt: T0, ...extra };
}

describe("renderSecret", () => {
  it("a leased value: the time left on its effective lease, and its end", () => {
    const r = record({ leaseId: "database/creds/app/x", leaseDurationS: 3600, lease: planLease(60 * MINUTE, T0, true, 10_000, 0), token: token(30 * MINUTE) });
    const body = renderSecret(SECRET, r, effectiveLease(r.lease, r.token), T0 + 60_500);
    expect(body).toEqual({
      name: "DB",
      path: "database/creds/app",
      data: { username: "u" },
      lease_id: "database/creds/app/x",
      lease_duration: 29 * 60 - 1, // bounded by the token's 30 min, rounded down
      renewable: true,
      expires_at: new Date(T0 + 30 * MINUTE).toISOString(),
    });
  });

  it("a KV value: no lease, no end, its metadata and Vault's warnings, in a stable key order", () => {
    const r = record({ metadata: { version: 3 }, json: { warnings: ["old version"] } });
    const body = renderSecret(SECRET, r, effectiveLease(r.lease, r.token), T0);
    expect(Object.keys(body)).toEqual(["name", "path", "data", "metadata", "lease_id", "lease_duration", "renewable", "expires_at", "warnings"]);
    expect(body).toMatchObject({ lease_id: "", lease_duration: 0, renewable: false, expires_at: null, metadata: { version: 3 }, warnings: ["old version"] });
  });
});

describe("renderAwsCredentials", () => {
  const creds = { access_key: "AKIA", secret_key: "s" };

  it("expires when the extension stops serving them: the lease end less the grace period", () => {
    const r = record({ data: { ...creds, security_token: "st" }, leaseId: "aws/creds/x", lease: planLease(60 * MINUTE, T0, false, 10_000, 0) });
    expect(renderAwsCredentials(r, r.lease, 0, T0)).toEqual({ AccessKeyId: "AKIA", SecretAccessKey: "s", Token: "st", Expiration: new Date(T0 + 60 * MINUTE - 10_000).toISOString() });
  });

  it("without a lease: at the next re-read, or after the fallback TTL; Token is empty for IAM users", () => {
    const reread = record({ data: creds, lease: planStatic(T0, 5 * MINUTE) });
    expect(renderAwsCredentials(reread, reread.lease, MINUTE, T0)).toMatchObject({ Token: "", Expiration: new Date(T0 + 5 * MINUTE).toISOString() });
    const kept = record({ data: creds, lease: planStatic(T0, 0) });
    expect(renderAwsCredentials(kept, kept.lease, MINUTE, T0)?.Expiration).toBe(new Date(T0 + MINUTE).toISOString());
  });

  it("is undefined for a secret that holds no AWS credentials", () => {
    const r = record({});
    expect(renderAwsCredentials(r, r.lease, MINUTE, T0)).toBeUndefined();
  });
});
