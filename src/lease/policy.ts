/**
 * The refresh policy: a pure function from (lease, now) to an action. Everything is wall-clock
 * epoch milliseconds (`Date.now()`), because the process may have been frozen for minutes and a
 * monotonic clock or a timer would not know it.
 *
 *   obtained ────────── refreshAt (~⅔) ────── expiresAt − grace ── expiresAt
 *        keep                 renew (or replace if        replace; never served
 *                             not renewable)              past this point
 */

export interface Lease {
  /** When Vault issued or last renewed it. */
  obtainedAt: number;
  /** Real expiry; `Infinity` for a value without a lease (KV). */
  expiresAt: number;
  /** When to act: renew, or re-read/re-login if not renewable. */
  refreshAt: number;
  renewable: boolean;
  /** Effective grace for this lease (see `effectiveGrace`). */
  graceMs: number;
}

export type LeaseAction = "keep" | "renew" | "replace";

/**
 * A lease counts as expired `grace` before its real end. For leases shorter than three graces the
 * grace shrinks to a third of the lease, or a short-lived credential could never be served at all.
 */
export function effectiveGrace(durationMs: number, graceMs: number): number {
  return Math.max(0, Math.min(graceMs, durationMs / 3));
}

/**
 * Plans a lease just obtained. The refresh point sits at about two thirds of the lease, pulled
 * earlier by up to 5 % of it (`jitter` in [0, 1)) so that many environments do not hit Vault in step.
 */
export function planLease(durationMs: number, obtainedAt: number, renewable: boolean, graceMs: number, jitter = Math.random()): Lease {
  const grace = effectiveGrace(durationMs, graceMs);
  const expiresAt = obtainedAt + durationMs;
  const refreshAt = Math.min(obtainedAt + durationMs * (2 / 3 - 0.05 * jitter), expiresAt - grace);
  return { obtainedAt, expiresAt, refreshAt, renewable, graceMs: grace };
}

/** A value with no lease: never expires; re-read once older than `staticTtlMs` (0 = never). */
export function planStatic(readAt: number, staticTtlMs: number): Lease {
  return { obtainedAt: readAt, expiresAt: Infinity, refreshAt: staticTtlMs > 0 ? readAt + staticTtlMs : Infinity, renewable: false, graceMs: 0 };
}

export function decide(lease: Lease, now: number): LeaseAction {
  if (now >= lease.expiresAt - lease.graceMs) return "replace";
  if (now >= lease.refreshAt) return lease.renewable ? "renew" : "replace";
  return "keep";
}

/** May this value still be served? */
export function usable(lease: Lease, now: number): boolean {
  return now < lease.expiresAt - lease.graceMs;
}

/**
 * After a renewal: the new lease counts from now. Vault answers with a shorter duration than asked
 * for when the max TTL caps it; renewing again cannot extend it, so the lease becomes
 * non-renewable and is replaced at its next refresh point (or at once, when what is left already
 * falls inside the grace period).
 */
export function afterRenewal(newDurationMs: number, requestedMs: number, now: number, graceMs: number, jitter = Math.random()): Lease & { capped: boolean } {
  // Vault works in whole seconds; allow for the rounding.
  const capped = newDurationMs + 1_000 < requestedMs;
  return { ...planLease(newDurationMs, now, !capped, graceMs, jitter), capped };
}

/** A secret's lease ends no later than the token that read it (a lease dies with its token). */
export function boundedBy(lease: Lease, tokenExpiresAt: number): Lease {
  if (tokenExpiresAt >= lease.expiresAt) return lease;
  return { ...lease, expiresAt: tokenExpiresAt, refreshAt: Math.min(lease.refreshAt, tokenExpiresAt - lease.graceMs) };
}

/** Seconds left before the value stops being served, for `lease_duration` and `Expiration`. */
export function secondsLeft(lease: Lease, now: number): number {
  if (!Number.isFinite(lease.expiresAt)) return 0;
  return Math.max(0, Math.floor((lease.expiresAt - now) / 1000));
}
