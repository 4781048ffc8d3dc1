/**
 * The wall clock stepping backwards (an operator or a time service setting it back, a host with a
 * wrong clock corrected): a lease planned by the wall clock would then look younger than it is and
 * be served past its real end by as much as the step. Nothing can be obtained in the future, so a
 * `now` before a lease's `obtainedAt` (beyond a small slack for ordinary corrections) says the
 * clock went back: how much of the lease is left cannot be told, and it is refreshed now instead of
 * being served. Backoffs and the suspicion quiet time, which count from a past moment, do not
 * stretch by the step either.
 */
import { describe, expect, it } from "vitest";
import {
  after403,
  afterFailure,
  backingOff,
  CLOCK_STEP_SLACK_MS,
  decide,
  isFresh,
  MAX_RETRY_MS,
  nextWake,
  planLease,
  planServe,
  planStatic,
  SUSPICION_QUIET_MS,
  tokenAction,
  tokenUsable,
  usable,
  type HeldValue,
} from "../../src/lease/policy.ts";

const T0 = Date.UTC(2030, 0, 1);
const MIN = 60_000;
const HOUR = 60 * MIN;
const GRACE = 10_000;

/** A one-hour lease obtained at T0 + 50 min (10 min before the clock is set back by an hour). */
const lease = (renewable: boolean) => planLease(HOUR, T0 + 50 * MIN, renewable, GRACE, 0);
const token = { lease: planLease(4 * HOUR, T0, true, GRACE, 0), dead: false };
/** After the step: the clock says T0, an hour behind the real time. */
const stepped = T0;

describe("the wall clock set back past the moment a lease was obtained", () => {
  it("the lease is not served: its real end may have passed", () => {
    expect(usable(lease(true), stepped)).toBe(false);
    expect(isFresh(lease(true), token, true, stepped)).toBe(false);
  });

  it("a renewable lease is renewed (Vault says what is left), a non-renewable one replaced", () => {
    expect(decide(lease(true), stepped)).toBe("renew");
    expect(decide(lease(false), stepped)).toBe("replace");
  });

  it("a request for it waits for the refresh instead of getting it at once", () => {
    const v: HeldValue = { lease: lease(false), token, underCurrentToken: true, leased: true, kind: "declared" };
    expect(planServe(v, undefined, stepped)).toEqual({ kind: "wait", action: "replace" });
  });

  it("the token obtained after the moment the clock now shows is renewed at the next INVOKE, and not used before", () => {
    const t = { lease: planLease(HOUR, T0 + 50 * MIN, true, GRACE, 0), dead: false };
    expect(tokenAction(t, undefined, stepped)).toBe("renew");
    expect(tokenUsable(t, stepped)).toBe(false);
  });

  it("a small correction (within the slack) changes nothing", () => {
    const l = lease(true);
    const now = l.obtainedAt - CLOCK_STEP_SLACK_MS + 1;
    expect(usable(l, now)).toBe(true);
    expect(decide(l, now)).toBe("keep");
  });

  it("a value without a lease (KV) stays servable: it has no end to pass; it is read again", () => {
    const kv = planStatic(T0 + 50 * MIN, 5 * MIN);
    expect(usable(kv, stepped)).toBe(true);
    expect(decide(kv, stepped)).toBe("replace");
  });
});

describe("waits that count from a past moment do not stretch by the step", () => {
  it("a backoff whose retry time is further away than any backoff can be is over", () => {
    const b = afterFailure(undefined, T0 + 50 * MIN, Infinity, false);
    expect(backingOff(b, T0 + 50 * MIN)).toBe(true);
    expect(backingOff(b, stepped)).toBe(false);
    expect(b.retryAt - (T0 + 50 * MIN)).toBeLessThanOrEqual(MAX_RETRY_MS);
  });

  it("the suspicion quiet time, counted from a moment the clock has not reached, is over", () => {
    const last = T0 + 50 * MIN;
    expect(after403("unknown", last + 1_000, last)).toBe("pass-through");
    expect(after403("unknown", stepped, last)).toBe("relogin-on-suspicion");
    expect(after403("unknown", last + SUSPICION_QUIET_MS, last)).toBe("relogin-on-suspicion");
  });
});

describe("Managed Instances' timer after the clock was set back", () => {
  it("wakes at once for a lease obtained after what the clock now says, instead of sleeping the step away", () => {
    expect(nextWake([{ lease: lease(true) }], stepped)).toBe(stepped);
    expect(nextWake([{ lease: lease(true) }], T0 + 50 * MIN)).toBe(lease(true).refreshAt);
  });

  it("does not wait for a retry time out of a backoff's reach", () => {
    const old = planLease(HOUR, T0 - 30 * MIN, true, GRACE, 0);
    const b = afterFailure(undefined, T0 + 50 * MIN, Infinity, false);
    expect(nextWake([{ lease: old, backoff: b }], stepped)).toBe(old.refreshAt);
  });
});
