/**
 * `/health`'s status as a pure function of the state and the clock: ok, degraded (a refresh failing,
 * a value served STALE, Vault failing), failing (no valid token, a declared secret expired and
 * unavailable), with the reasons in words; and the body's fields.
 */
import { describe, expect, it } from "vitest";
import { assessHealth, healthBody, type HealthInput, type SecretSnapshot } from "../../src/server/health.ts";
import { planLease, planStatic, type Lease } from "../../src/lease/policy.ts";
import { Outcomes } from "../../src/outcomes.ts";
import { MINUTE, SECOND, T0 } from "../vault/fakes.ts";

const GRACE = 10 * SECOND;
const HOUR = 60 * MINUTE;

function outcomes(o: { ok?: number; failures?: number; error?: string } = { ok: T0 }): Outcomes {
  const out = new Outcomes();
  if (o.ok !== undefined) out.succeeded(o.ok);
  for (let i = 0; i < (o.failures ?? 0); i++) out.failed(T0 + 30 * MINUTE + i, o.error ?? "Vault answered 503 to GET database/creds/app: Vault is sealed");
  return out;
}

function secret(over: Partial<SecretSnapshot> = {}): SecretSnapshot {
  return { name: "DB", path: "database/creds/app", lease: planLease(HOUR, T0, true, GRACE, 0), outcomes: outcomes(), stale: false, ...over };
}

function input(over: Partial<HealthInput> = {}): HealthInput {
  return {
    ready: true,
    token: { lease: planLease(4 * HOUR, T0, true, GRACE, 0), dead: false },
    tokenOutcomes: outcomes(),
    secrets: [secret(), secret({ name: "CONFIG", path: "secret/data/app", lease: planStatic(T0, 5 * MINUTE) })],
    vault: outcomes(),
    leases: 1,
    ...over,
  };
}

const at = (ms: number) => T0 + ms;
const kv = secret({ name: "CONFIG", path: "secret/data/app", lease: planStatic(T0, 5 * MINUTE) });

describe("the status, from the state and the clock", () => {
  const cases: Array<[string, HealthInput, number, "ok" | "degraded" | "failing", RegExp[]]> = [
    ["everything fresh", input(), at(MINUTE), "ok", []],
    ["a KV value (no lease), under a token without a TTL, never expires", input({ token: { lease: planStatic(T0, 0), dead: false }, secrets: [kv] }), at(30 * 24 * HOUR), "ok", []],
    ["starting", input({ ready: false }), at(0), "failing", [/starting/]],
    ["no token at all after a failed login", input({ token: undefined, tokenOutcomes: outcomes({ failures: 1, error: "login failed: Vault is sealed" }) }), at(0), "failing", [/no Vault token: login failed: Vault is sealed/]],
    [
      "a secret's renewal failing while its value is valid, served STALE",
      input({ secrets: [secret({ outcomes: outcomes({ ok: T0, failures: 2 }), stale: true })] }),
      at(45 * MINUTE),
      "degraded",
      [/refreshing secret DB \(database\/creds\/app\) failed 2 times in a row: Vault answered 503 .*sealed; its value is still valid for 890 s and is served STALE/],
    ],
    [
      "a secret failing once, not yet served STALE",
      input({ secrets: [secret({ outcomes: outcomes({ ok: T0, failures: 1 }) })] }),
      at(45 * MINUTE),
      "degraded",
      [/failed once: .*; its value is still valid for 890 s$/],
    ],
    [
      "a secret expired (past its grace period) and its re-read failing",
      input({ secrets: [secret({ outcomes: outcomes({ ok: T0, failures: 3 }), stale: true })] }),
      at(HOUR - GRACE),
      "failing",
      [/secret DB \(database\/creds\/app\) has expired and reading it again failed: .*sealed/],
    ],
    [
      "a secret expired across a freeze, not tried yet: read again at the next request",
      input(),
      at(HOUR + MINUTE),
      "degraded",
      [/secret DB .* has expired; it is read again at the next request or invocation/],
    ],
    [
      "the token's renewal failing while it is valid",
      input({ tokenOutcomes: outcomes({ ok: T0, failures: 1, error: "could not reach Vault" }), secrets: [kv] }),
      at(3 * HOUR),
      "degraded",
      [/renewing the Vault token failed once: could not reach Vault; it is still valid for 3590 s/],
    ],
    [
      "the token revoked and the new login failing",
      input({ token: { lease: planLease(4 * HOUR, T0, true, GRACE, 0), dead: true }, tokenOutcomes: outcomes({ ok: T0, failures: 1, error: "login refused" }) }),
      at(MINUTE),
      "failing",
      [/no valid Vault token: it was revoked and logging in again failed: login refused/],
    ],
    [
      "Vault failing on a proxied request while every held value is fine",
      input({ vault: outcomes({ ok: T0, failures: 2, error: "Vault did not answer GET kv/x in time" }) }),
      at(MINUTE),
      "degraded",
      [/the last 2 requests to Vault failed: Vault did not answer GET kv\/x in time/],
    ],
    [
      "the worst finding decides",
      input({ secrets: [secret({ outcomes: outcomes({ ok: T0, failures: 1 }) }), secret({ name: "OLD", lease: planLease(MINUTE, T0, false, GRACE, 0), outcomes: outcomes({ ok: T0, failures: 1 }) })] }),
      at(2 * MINUTE),
      "failing",
      [/refreshing secret DB/, /secret OLD .* has expired and reading it again failed/],
    ],
  ];
  it.each(cases)("%s", (_name, state, now, status, reasons) => {
    const got = assessHealth(state, now);
    expect(got.status).toBe(status);
    expect(got.reasons).toHaveLength(reasons.length);
    reasons.forEach((r, i) => expect(got.reasons[i]).toMatch(r));
  });

  it("back to ok once the refresh succeeds again (the last error stays on record)", () => {
    const o = outcomes({ ok: T0, failures: 2 });
    const state = input({ secrets: [secret({ outcomes: o, stale: true })] });
    expect(assessHealth(state, at(45 * MINUTE)).status).toBe("degraded");
    o.succeeded(at(46 * MINUTE));
    expect(assessHealth({ ...state, secrets: [secret({ outcomes: o, lease: planLease(HOUR, at(46 * MINUTE), true, GRACE, 0) })] }, at(46 * MINUTE))).toEqual({ status: "ok", reasons: [] });
  });
});

describe("the body", () => {
  it("names, times left, last refresh and last error per secret; the token; Vault; version, flavor, mode", () => {
    const db = secret({ outcomes: outcomes({ ok: T0, failures: 1 }), stale: true });
    const body = healthBody(input({ secrets: [db, secret({ name: "CONFIG", path: "secret/data/app", lease: planStatic(T0, 5 * MINUTE) })] }), { version: "1.2.3", flavor: "standalone", mode: "snap-start", startedAt: T0 - 5 * SECOND }, at(45 * MINUTE));
    expect(body).toEqual({
      status: "degraded",
      reasons: [expect.stringMatching(/^refreshing secret DB/)],
      version: "1.2.3",
      flavor: "standalone",
      mode: "snap-start",
      uptime_seconds: 45 * 60 + 5,
      token: { ttl_seconds: 4 * 3600 - 45 * 60 - 10, renewable: true, last_refresh: new Date(T0).toISOString(), last_error: null, consecutive_failures: 0 },
      secrets: {
        DB: {
          path: "database/creds/app",
          ttl_seconds: 15 * 60 - 10,
          stale: true,
          last_refresh: new Date(T0).toISOString(),
          last_error: { at: new Date(T0 + 30 * MINUTE).toISOString(), message: expect.stringContaining("sealed") },
          consecutive_failures: 1,
        },
        CONFIG: { path: "secret/data/app", ttl_seconds: null, stale: false, last_refresh: new Date(T0).toISOString(), last_error: null, consecutive_failures: 0 },
      },
      leases: 1,
      vault: { last_success: new Date(T0).toISOString(), last_error: null, consecutive_failures: 0 },
    });
  });

  it("before the first login: no token, and a secret without a value has no time left", () => {
    const body = healthBody(input({ ready: false, token: undefined, tokenOutcomes: new Outcomes(), secrets: [secret({ lease: undefined, outcomes: new Outcomes() })], vault: new Outcomes() }), { version: "v", flavor: "slim", mode: "on-demand", startedAt: T0 }, T0);
    expect(body).toMatchObject({ status: "failing", token: null, secrets: { DB: { ttl_seconds: null, last_refresh: null, last_error: null } }, vault: { last_success: null, last_error: null, consecutive_failures: 0 } });
  });

  it("a token past its end shows 0 s left, a dead one too", () => {
    const lease: Lease = planLease(HOUR, T0, true, GRACE, 0);
    expect(healthBody(input({ token: { lease, dead: false } }), { version: "v", flavor: "slim", mode: "on-demand", startedAt: T0 }, at(2 * HOUR)).token?.ttl_seconds).toBe(0);
    expect(healthBody(input({ token: { lease, dead: true } }), { version: "v", flavor: "slim", mode: "on-demand", startedAt: T0 }, at(MINUTE)).token?.ttl_seconds).toBe(0);
  });
});
