import { describe, expect, it } from "vitest";
import {
  after403,
  afterFailedRefresh,
  afterFailedRenewal,
  afterFailure,
  backingOff,
  afterLeaseRenewal,
  afterRenewal,
  boundedBy,
  decide,
  dueAtInvoke,
  effectiveEnd,
  effectiveGrace,
  effectiveLease,
  evictable,
  isFresh,
  leaseProblem,
  nextWake,
  retryDelay,
  planLease,
  planProxyStatic,
  planServe,
  planStatic,
  planToken,
  secondsLeft,
  tokenAction,
  tokenUsable,
  usable,
  valueAction,
  wakeAt,
  type Backoff,
  type HeldValue,
  type LeaseAction,
  type ServePlan,
  type TokenAction,
  type TokenView,
} from "../../src/lease/policy.ts";

const T0 = 1_700_000_000_000;
const MIN = 60_000;

describe("planLease", () => {
  it("puts the refresh point at two thirds of the lease, pulled earlier by at most 5% of it", () => {
    const noJitter = planLease(60 * MIN, T0, true, 10_000, 0);
    expect(noJitter.refreshAt).toBe(T0 + 40 * MIN);
    const fullJitter = planLease(60 * MIN, T0, true, 10_000, 0.999999);
    expect(fullJitter.refreshAt).toBeGreaterThan(T0 + 37 * MIN);
    expect(fullJitter.refreshAt).toBeLessThan(T0 + 40 * MIN);
    expect(noJitter.expiresAt).toBe(T0 + 60 * MIN);
  });

  it("shrinks the grace period to a third of a short lease, so short credentials stay servable", () => {
    expect(effectiveGrace(3_000, 10_000)).toBe(1_000);
    expect(effectiveGrace(60_000, 10_000)).toBe(10_000);
    const l = planLease(3_000, T0, true, 10_000, 0);
    expect(usable(l, T0)).toBe(true);
    expect(usable(l, T0 + 1_999)).toBe(true);
    expect(usable(l, T0 + 2_000)).toBe(false);
  });

  it("never refreshes later than the start of the grace period", () => {
    const l = planLease(30_000, T0, true, 10_000, 0);
    expect(l.refreshAt).toBeLessThanOrEqual(l.expiresAt - l.graceMs);
  });
});

describe("decide", () => {
  const renewable = planLease(60 * MIN, T0, true, 10_000, 0);
  const fixed = planLease(60 * MIN, T0, false, 10_000, 0);

  it("keeps a lease before its refresh point", () => {
    expect(decide(renewable, T0)).toBe("keep");
    expect(decide(renewable, T0 + 40 * MIN - 1)).toBe("keep");
  });

  it("renews a renewable lease past its refresh point, replaces a non-renewable one", () => {
    expect(decide(renewable, T0 + 40 * MIN)).toBe("renew");
    expect(decide(fixed, T0 + 40 * MIN)).toBe("replace");
  });

  it("replaces any lease inside the grace period or past expiry (a thaw after a long freeze)", () => {
    expect(decide(renewable, T0 + 60 * MIN - 10_000)).toBe("replace");
    expect(decide(renewable, T0 + 600 * MIN)).toBe("replace");
    expect(usable(renewable, T0 + 60 * MIN - 10_000)).toBe(false);
    expect(usable(renewable, T0 + 60 * MIN - 10_001)).toBe(true);
  });
});

describe("planStatic", () => {
  it("never expires, and is re-read once older than the static TTL", () => {
    const s = planStatic(T0, 5 * MIN);
    expect(usable(s, T0 + 10_000 * MIN)).toBe(true);
    expect(decide(s, T0 + 5 * MIN - 1)).toBe("keep");
    expect(decide(s, T0 + 5 * MIN)).toBe("replace");
    expect(secondsLeft(s, T0)).toBe(0);
  });

  it("with a static TTL of 0 keeps the value until asked", () => {
    expect(decide(planStatic(T0, 0), T0 + 10_000 * MIN)).toBe("keep");
  });
});

describe("afterRenewal", () => {
  it("counts the renewed lease from now", () => {
    const { lease: l, capped } = afterRenewal(60_000, 60_000, T0 + 5_000, 10_000, 0);
    expect(capped).toBe(false);
    expect(l.renewable).toBe(true);
    expect(l.expiresAt).toBe(T0 + 65_000);
  });

  it("marks a renewal capped by the max TTL as final, so the next refresh replaces it", () => {
    const { lease: l, capped } = afterRenewal(20_000, 60_000, T0, 10_000, 0);
    expect(capped).toBe(true);
    expect(l.renewable).toBe(false);
    expect(decide(l, l.refreshAt)).toBe("replace");
  });

  it("tolerates Vault's whole-second rounding", () => {
    expect(afterRenewal(59_000, 60_000, T0, 10_000, 0).capped).toBe(false);
  });

  it("replaces at once when what is left already falls inside the grace period", () => {
    const { lease: l } = afterRenewal(2_000, 60_000, T0, 10_000, 0);
    expect(decide(l, T0 + 1_400)).toBe("replace");
  });
});

describe("boundedBy", () => {
  it("ends a secret's lease no later than its token's", () => {
    const secret = planLease(60 * MIN, T0, true, 10_000, 0);
    const b = boundedBy(secret, T0 + 10 * MIN);
    expect(b.expiresAt).toBe(T0 + 10 * MIN);
    expect(b.refreshAt).toBeLessThanOrEqual(T0 + 10 * MIN - b.graceMs);
    expect(usable(b, T0 + 10 * MIN)).toBe(false);
    expect(boundedBy(secret, T0 + 120 * MIN)).toBe(secret);
  });

  it("makes a value read by a dead token unusable", () => {
    expect(usable(boundedBy(planLease(60 * MIN, T0, true, 10_000, 0), 0), T0)).toBe(false);
  });
});

describe("secondsLeft", () => {
  it("rounds down and never goes negative", () => {
    const l = planLease(10_000, T0, true, 0, 0);
    expect(secondsLeft(l, T0 + 500)).toBe(9);
    expect(secondsLeft(l, T0 + 20_000)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------
// Decisions on held values and the token: tables of (state, now) → decision.

const GRACE = 10_000;
const alive = (expiresInMs: number, renewable = true) => ({ lease: planLease(expiresInMs, T0, renewable, GRACE, 0), dead: false });
const TOKEN = alive(4 * 60 * MIN); // refresh at T0+160 min, grace from T0+240 min − 10 s
const leased = (renewable: boolean, extra: Partial<HeldValue> = {}): HeldValue => ({
  lease: planLease(60 * MIN, T0, renewable, GRACE, 0), // refresh at +40 min, grace from +60 min − 10 s
  token: TOKEN,
  underCurrentToken: true,
  leased: true,
  kind: "declared",
  ...extra,
});
const kv = (staticTtlMs: number, extra: Partial<HeldValue> = {}): HeldValue => ({ lease: planStatic(T0, staticTtlMs), token: TOKEN, underCurrentToken: true, leased: false, kind: "declared", ...extra });

describe("effectiveLease", () => {
  it("is the value's own lease, bounded by its token's end; a dead token ends it", () => {
    const own = planLease(60 * MIN, T0, true, GRACE, 0);
    expect(effectiveLease(own, TOKEN)).toBe(own);
    expect(effectiveLease(own, alive(10 * MIN)).expiresAt).toBe(T0 + 10 * MIN);
    expect(effectiveLease(own, { ...TOKEN, dead: true }).expiresAt).toBe(0);
    expect(effectiveEnd(own, alive(10 * MIN))).toBe(T0 + 10 * MIN);
    expect(effectiveEnd(own, { ...TOKEN, dead: true })).toBe(0);
  });
});

describe("valueAction and dueAtInvoke", () => {
  const cases: Array<[string, HeldValue, number, LeaseAction, LeaseAction]> = [
    // name, value, now, valueAction, dueAtInvoke
    ["renewable before its refresh point", leased(true), T0 + 39 * MIN, "keep", "keep"],
    ["renewable past its refresh point", leased(true), T0 + 40 * MIN, "renew", "renew"],
    ["non-renewable past its refresh point", leased(false), T0 + 40 * MIN, "replace", "replace"],
    ["inside the grace period", leased(true), T0 + 60 * MIN - GRACE, "replace", "replace"],
    ["long past expiry (a thaw)", leased(true), T0 + 600 * MIN, "replace", "replace"],
    ["read under a replaced token, fresh", leased(true, { underCurrentToken: false }), T0, "replace", "replace"],
    ["read under a replaced token, due for renewal", leased(true, { underCurrentToken: false }), T0 + 40 * MIN, "replace", "replace"],
    ["its token is dead", leased(true, { token: { ...TOKEN, dead: true } }), T0, "replace", "replace"],
    ["its token ends before it: kept until the token's grace period", leased(true, { token: alive(30 * MIN) }), T0 + 29 * MIN, "keep", "keep"],
    ["its token ends before it: replaced in the token's grace period", leased(true, { token: alive(30 * MIN) }), T0 + 30 * MIN - GRACE, "replace", "replace"],
    ["KV before the static TTL", kv(5 * MIN), T0 + 5 * MIN - 1, "keep", "keep"],
    ["KV past the static TTL", kv(5 * MIN), T0 + 5 * MIN, "replace", "replace"],
    ["KV with a static TTL of 0", kv(0), T0 + 200 * MIN, "keep", "keep"],
    ["KV whose token expired", kv(0), T0 + 240 * MIN, "replace", "replace"],
    ["proxy read without a lease, past its TTL", { ...kv(0), lease: planProxyStatic(T0, MIN), kind: "proxy" }, T0 + MIN, "replace", "keep"],
    ["proxy read with a lease, past its refresh point", leased(true, { kind: "proxy" }), T0 + 40 * MIN, "renew", "renew"],
  ];
  it.each(cases)("%s", (_, v, now, action, atInvoke) => {
    expect(valueAction(v, now)).toBe(action);
    expect(dueAtInvoke(v, undefined, now)).toBe(atInvoke);
    // A key backing off is left alone at INVOKE, whatever is due; once the backoff has passed, it is not.
    expect(dueAtInvoke(v, { failures: 1, retryAt: now + 1, answered: false }, now)).toBe("keep");
    expect(dueAtInvoke(v, { failures: 1, retryAt: now, answered: false }, now)).toBe(atInvoke);
    // The hot path's answer agrees with the general one.
    expect(isFresh(v.lease, v.token, v.underCurrentToken, now)).toBe(action === "keep" && v.underCurrentToken && !v.token.dead);
  });
});

describe("planServe", () => {
  // Retry times within a backoff's reach (at most 30 s) of the "backing off" moments (T0 + 40 min).
  const outage: Backoff = { failures: 2, retryAt: T0 + 40 * MIN + 20_000, answered: false };
  const refused: Backoff = { failures: 1, retryAt: T0 + 40 * MIN + 20_000, answered: true };
  const cases: Array<[string, HeldValue | undefined, Backoff | undefined, number, boolean, ServePlan]> = [
    ["nothing held", undefined, undefined, T0, false, { kind: "wait", action: "replace" }],
    ["fresh", leased(true), undefined, T0, false, { kind: "hit" }],
    ["fresh but forced", leased(true), undefined, T0, true, { kind: "wait", action: "replace" }],
    ["renewable past its refresh point: served at once, renewed behind it", leased(true), undefined, T0 + 40 * MIN, false, { kind: "serve", stale: false, refresh: "renew" }],
    ["non-renewable past its refresh point: served at once, read again behind it", leased(false), undefined, T0 + 40 * MIN, false, { kind: "serve", stale: false, refresh: "replace" }],
    ["past its refresh point, refreshes failing, backing off: STALE, no refresh", leased(true), outage, T0 + 40 * MIN, false, { kind: "serve", stale: true, refresh: undefined }],
    ["past its refresh point, refreshes failing, backoff over: STALE, refreshed behind", leased(true), outage, T0 + 41 * MIN, false, { kind: "serve", stale: true, refresh: "renew" }],
    ["expired", leased(true), undefined, T0 + 61 * MIN, false, { kind: "wait", action: "replace" }],
    ["expired during an outage: waits for Vault (nothing else to serve)", leased(true), { ...outage, retryAt: T0 + 61 * MIN + 20_000 }, T0 + 61 * MIN, false, { kind: "wait", action: "replace" }],
    ["nothing held, Vault refused the last read, backing off: that refusal", undefined, refused, T0 + 40 * MIN, false, { kind: "fail" }],
    ["nothing held, Vault refused the last read, backoff over: read again", undefined, refused, T0 + 41 * MIN, false, { kind: "wait", action: "replace" }],
    ["valid, forced while a refusal backs off: the refusal (served STALE by the cache)", leased(true), refused, T0 + 40 * MIN, true, { kind: "fail" }],
    ["KV past its static TTL: served, read again behind it", kv(5 * MIN), undefined, T0 + 6 * MIN, false, { kind: "serve", stale: false, refresh: "replace" }],
    ["KV read under a replaced token: waits for the new read", kv(5 * MIN, { underCurrentToken: false }), undefined, T0, false, { kind: "wait", action: "replace" }],
    ["leased, read under a replaced token: waits (its token may have died)", leased(true, { underCurrentToken: false }), undefined, T0 + 40 * MIN, false, { kind: "wait", action: "replace" }],
    ["KV whose token is dead: waits", kv(5 * MIN, { token: { ...TOKEN, dead: true } }), undefined, T0, false, { kind: "wait", action: "replace" }],
  ];
  it.each(cases)("%s", (_, v, backoff, now, force, plan) => {
    expect(planServe(v, backoff, now, force)).toEqual(plan);
  });
});

describe("backoff after a failed refresh", () => {
  it("waits 1 s, 2 s, 4 s... at most 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 50].map(retryDelay)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
  });

  it("counts failures in a row, by the wall clock", () => {
    const first = afterFailure(undefined, T0, Infinity, false);
    expect(first).toEqual({ failures: 1, retryAt: T0 + 1_000, answered: false });
    const second = afterFailure(first, T0 + 1_500, Infinity, true);
    expect(second).toEqual({ failures: 2, retryAt: T0 + 3_500, answered: true });
    expect(backingOff(second, T0 + 3_499)).toBe(true);
    expect(backingOff(second, T0 + 3_500)).toBe(false);
    expect(backingOff(undefined, T0)).toBe(false);
  });

  it("never backs off past the moment the held value stops being served", () => {
    const many: Backoff = { failures: 9, retryAt: 0, answered: false };
    expect(afterFailure(many, T0, T0 + 5_000, false).retryAt).toBe(T0 + 5_000);
    expect(afterFailure(many, T0, T0 + 60_000, false).retryAt).toBe(T0 + 30_000);
    // Nothing valid held (or already expired): the full step.
    expect(afterFailure(many, T0, T0 - 1, false).retryAt).toBe(T0 + 30_000);
  });

  it("after a long freeze the backoff is long over: the first INVOKE tries again", () => {
    const b = afterFailure({ failures: 5, retryAt: 0, answered: false }, T0, Infinity, false);
    expect(dueAtInvoke(leased(true), b, T0 + 600 * MIN)).toBe("replace");
  });
});

describe("leases Vault gives that cannot be served", () => {
  it.each([
    ["a positive duration", "db/creds/app/1", 3600, undefined],
    ["no lease at all", undefined, undefined, undefined],
    ["an empty lease id", "", 0, undefined],
    ["a lease_duration of 0", "db/creds/app/1", 0, "lease db/creds/app/1 is already expired (lease_duration 0)"],
    ["a negative lease_duration", "db/creds/app/1", -5, "lease db/creds/app/1 is already expired (lease_duration -5)"],
    ["a null lease_duration", "db/creds/app/1", null, "lease db/creds/app/1 has no usable lease_duration (null, not a number of seconds)"],
    ["a string lease_duration", "db/creds/app/1", "3600", 'lease db/creds/app/1 has no usable lease_duration ("3600", not a number of seconds)'],
    ["no lease_duration", "db/creds/app/1", undefined, "lease db/creds/app/1 has no usable lease_duration (none, not a number of seconds)"],
    ["a lease id that is not a string", 42, 3600, "its lease_id is not a string (42)"],
  ] as const)("%s", (_, id, duration, problem) => {
    expect(leaseProblem(id, duration)).toBe(problem);
  });
});

describe("afterFailedRefresh and evictable", () => {
  const cases: Array<[string, HeldValue | undefined, number, "stale" | "fail"]> = [
    ["nothing held", undefined, T0, "fail"],
    ["still valid", leased(true), T0 + 50 * MIN, "stale"],
    ["inside the grace period", leased(true), T0 + 60 * MIN - GRACE, "fail"],
    ["its token is dead", leased(true, { token: { ...TOKEN, dead: true } }), T0, "fail"],
    ["KV never expires on its own", kv(5 * MIN), T0 + 200 * MIN, "stale"],
  ];
  it.each(cases)("%s", (_, v, now, answer) => {
    expect(afterFailedRefresh(v, now)).toBe(answer);
    expect(evictable(v, undefined, now)).toBe(answer === "fail");
    // A failure backing off is kept (and answered) until its retry time, then dropped with the rest.
    expect(evictable(v, { failures: 1, retryAt: now + 1, answered: true }, now)).toBe(false);
    expect(evictable(v, { failures: 1, retryAt: now, answered: true }, now)).toBe(answer === "fail");
  });
});

describe("afterLeaseRenewal", () => {
  it.each([
    ["a full renewal", afterRenewal(60 * MIN, 60 * MIN, T0, GRACE, 0), "keep"],
    ["capped, with time left", afterRenewal(10 * MIN, 60 * MIN, T0, GRACE, 0), "keep"],
    ["capped inside the grace period", afterRenewal(2_000, 60 * MIN, T0, GRACE, 0), "replace"],
  ] as const)("%s → %s", (_, renewed, answer) => {
    expect(afterLeaseRenewal(renewed, T0 + 1_400)).toBe(answer);
  });

  it("a renewal Vault marks non-renewable is not renewed again", () => {
    expect(afterRenewal(60 * MIN, 60 * MIN, T0, GRACE, 0, false).lease.renewable).toBe(false);
  });
});

describe("token decisions", () => {
  const cases: Array<[string, TokenView | undefined, number, TokenAction, boolean]> = [
    ["no token", undefined, T0, "login", false],
    ["dead", { ...TOKEN, dead: true }, T0, "login", false],
    ["fresh", TOKEN, T0, "keep", true],
    ["past its refresh point", TOKEN, T0 + 160 * MIN, "renew", true],
    ["past its refresh point, not renewable", alive(4 * 60 * MIN, false), T0 + 160 * MIN, "login", true],
    ["inside the grace period", TOKEN, T0 + 240 * MIN - GRACE, "login", false],
    ["without a TTL", { lease: planToken(0, T0, false, GRACE), dead: false }, T0 + 10_000 * MIN, "keep", true],
  ];
  it.each(cases)("%s", (_, t, now, action, canUse) => {
    expect(tokenAction(t, undefined, now)).toBe(action);
    expect(tokenUsable(t, now)).toBe(canUse);
    // While a failed login or renewal backs off, nothing is done at INVOKE.
    expect(tokenAction(t, { failures: 1, retryAt: now + 1, answered: false }, now)).toBe("keep");
  });
});

describe("failures", () => {
  it("a failed renewal keeps what is held when the failure is transient, else replaces it", () => {
    expect(afterFailedRenewal(true)).toBe("keep");
    expect(afterFailedRenewal(false)).toBe("replace");
  });

  it.each([
    ["alive", undefined, T0, "pass-through"],
    ["dead", undefined, T0, "relogin"],
    ["dead, just after a suspicion-driven re-login", T0 - 1_000, T0, "relogin"],
    ["unknown, never suspected before", undefined, T0, "relogin-on-suspicion"],
    ["unknown, a suspicion-driven re-login 59 s ago", T0 - 59_000, T0, "pass-through"],
    ["unknown, a suspicion-driven re-login a minute ago", T0 - 60_000, T0, "relogin-on-suspicion"],
  ] as const)("a 403 with a token lookup-self finds %s → %s", (check, lastSuspicionAt, now, answer) => {
    expect(after403(check.split(",")[0] as "alive" | "dead" | "unknown", now, lastSuspicionAt)).toBe(answer);
  });

  it("a Vault that denies everything: at most one re-login a minute, however many denials", () => {
    let last: number | undefined;
    let logins = 0;
    for (let t = T0; t < T0 + 10 * MIN; t += 1_000) {
      if (after403("unknown", t, last) !== "pass-through") {
        logins++;
        last = t;
      }
    }
    expect(logins).toBe(10);
  });
});

describe("nextWake", () => {
  it("is the earliest refresh point or grace start of what is held, never before now", () => {
    const a = { lease: planLease(60 * MIN, T0, true, GRACE, 0) }; // refresh at +40 min
    const b = { lease: planLease(30 * MIN, T0, false, GRACE, 0) }; // refresh at +20 min
    expect(nextWake([a, b], T0)).toBe(T0 + 20 * MIN);
    expect(nextWake([a, b], T0 + 25 * MIN)).toBe(T0 + 25 * MIN);
    expect(nextWake([{ lease: planStatic(T0, 0) }], T0)).toBe(Infinity);
    expect(nextWake([], T0)).toBe(Infinity);
  });

  it("waits out a backoff: a failing refresh wakes the timer at its retry time, not at once", () => {
    const lease = planLease(30 * MIN, T0, false, GRACE, 0); // refresh at +20 min
    const backoff = afterFailure(undefined, T0 + 20 * MIN, lease.expiresAt - lease.graceMs, false);
    expect(wakeAt(lease, backoff)).toBe(T0 + 20 * MIN + 1_000);
    expect(nextWake([{ lease, backoff }], T0 + 20 * MIN)).toBe(T0 + 20 * MIN + 1_000);
    expect(wakeAt(lease, undefined)).toBe(T0 + 20 * MIN);
  });
});
