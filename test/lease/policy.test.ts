import { describe, expect, it } from "vitest";
import { afterRenewal, boundedBy, decide, effectiveGrace, planLease, planStatic, secondsLeft, usable } from "../../src/lease/policy.ts";

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
    const l = afterRenewal(60_000, 60_000, T0 + 5_000, 10_000, 0);
    expect(l.capped).toBe(false);
    expect(l.renewable).toBe(true);
    expect(l.expiresAt).toBe(T0 + 65_000);
  });

  it("marks a renewal capped by the max TTL as final, so the next refresh replaces it", () => {
    const l = afterRenewal(20_000, 60_000, T0, 10_000, 0);
    expect(l.capped).toBe(true);
    expect(l.renewable).toBe(false);
    expect(decide(l, l.refreshAt)).toBe("replace");
  });

  it("tolerates Vault's whole-second rounding", () => {
    expect(afterRenewal(59_000, 60_000, T0, 10_000, 0).capped).toBe(false);
  });

  it("replaces at once when what is left already falls inside the grace period", () => {
    const l = afterRenewal(2_000, 60_000, T0, 10_000, 0);
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
