/**
 * The refresh policy: every decision about a token or a lease, as pure functions of (state, now).
 * `SecretCache` and `TokenManager` only carry out what these return; see docs/architecture.md
 * ("Tokens and leases") for the rules in words.
 *
 * Everything is wall-clock epoch milliseconds (`Date.now()`, or the injected clock in tests),
 * because the process may have been frozen for minutes and a monotonic clock or a timer would not
 * know it.
 *
 *   obtained ────────── refreshAt (~⅔) ────── expiresAt − grace ── expiresAt
 *        keep                 renew (or replace if        replace; never served
 *                             not renewable)              past this point
 */

export interface Lease {
  /** When Vault issued or last renewed it. */
  obtainedAt: number;
  /** Real expiry; `Infinity` for a value without a lease (KV) and a token without a TTL. */
  expiresAt: number;
  /** When to act: renew, or re-read/re-login if not renewable. */
  refreshAt: number;
  renewable: boolean;
  /** Effective grace for this lease (see `effectiveGrace`). */
  graceMs: number;
}

export type LeaseAction = "keep" | "renew" | "replace";
export type RefreshAction = Exclude<LeaseAction, "keep">;

/** What the policy needs to know about a token. */
export interface TokenView {
  lease: Lease;
  /** Known dead: revoked from outside (a 403), revoked by us, or replaced and expired. */
  dead: boolean;
}

// ---------------------------------------------------------------------------------------------
// Planning a lease

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

/**
 * Why a lease Vault just gave cannot be served, or undefined when it can: with a `lease_id`, a
 * `lease_duration` that is not a positive number (0, negative, null, a string) is a lease that is
 * already expired or that nobody can plan, so it is a Vault error, not a value.
 */
export function leaseProblem(leaseId: unknown, duration: unknown): string | undefined {
  if (leaseId === undefined || leaseId === null || leaseId === "") return undefined;
  if (typeof leaseId !== "string") return `its lease_id is not a string (${JSON.stringify(leaseId)})`;
  if (typeof duration !== "number" || !Number.isFinite(duration)) return `lease ${leaseId} has no usable lease_duration (${JSON.stringify(duration) ?? "none"}, not a number of seconds)`;
  if (duration <= 0) return `lease ${leaseId} is already expired (lease_duration ${duration})`;
  return undefined;
}

/** A value with no lease: never expires; re-read once older than `staticTtlMs` (0 = never). */
export function planStatic(readAt: number, staticTtlMs: number): Lease {
  return { obtainedAt: readAt, expiresAt: Infinity, refreshAt: staticTtlMs > 0 ? readAt + staticTtlMs : Infinity, renewable: false, graceMs: 0 };
}

/** A cached proxy answer without a lease: served for `ttlMs`, then read again on the next request. */
export function planProxyStatic(readAt: number, ttlMs: number): Lease {
  return { obtainedAt: readAt, expiresAt: readAt + ttlMs, refreshAt: readAt + ttlMs, renewable: false, graceMs: 0 };
}

/** A token's lease: a TTL of 0 (root-like tokens) never expires and is never renewed. */
export function planToken(durationS: number, obtainedAt: number, renewable: boolean, graceMs: number, jitter?: number): Lease {
  if (!(durationS > 0)) return { obtainedAt, expiresAt: Infinity, refreshAt: Infinity, renewable: false, graceMs: 0 };
  return planLease(durationS * 1000, obtainedAt, renewable, graceMs, jitter);
}

/**
 * After a renewal: the new lease counts from now. Vault answers with a shorter duration than asked
 * for when the max TTL caps it; renewing again cannot extend it, so the lease becomes
 * non-renewable and is replaced at its next refresh point (or at once, when what is left already
 * falls inside the grace period). `vaultRenewable` is Vault's own `renewable` flag in the answer.
 */
export function afterRenewal(newDurationMs: number, requestedMs: number, now: number, graceMs: number, jitter = Math.random(), vaultRenewable = true): Renewal {
  // Vault works in whole seconds; allow for the rounding.
  const capped = newDurationMs + 1_000 < requestedMs;
  return { lease: planLease(newDurationMs, now, !capped && vaultRenewable, graceMs, jitter), capped };
}

/** What a renewal gave: the new lease, and whether the max TTL cut it short (then it is final). */
export interface Renewal {
  lease: Lease;
  capped: boolean;
}

// ---------------------------------------------------------------------------------------------
// The effective lease (the one place it is computed)

/** A secret's lease ends no later than the token that read it (a lease dies with its token). */
export function boundedBy(lease: Lease, tokenExpiresAt: number): Lease {
  if (tokenExpiresAt >= lease.expiresAt) return lease;
  return { ...lease, expiresAt: tokenExpiresAt, refreshAt: Math.min(lease.refreshAt, tokenExpiresAt - lease.graceMs) };
}

/** The lease that decides whether a value may be served: its own, bounded by its token's. */
export function effectiveLease(own: Lease, token: TokenView): Lease {
  return boundedBy(own, token.dead ? 0 : token.lease.expiresAt);
}

/** When the effective lease of a value ends (`0` when its token is dead), without allocating. */
export function effectiveEnd(own: Lease, token: TokenView): number {
  return token.dead ? 0 : Math.min(own.expiresAt, token.lease.expiresAt);
}

/**
 * How long past its end a lease or a token (and the values the redactor knows of it) is still kept
 * on record. By then it is dead in Vault for certain, even if the wall clock was a few minutes off
 * when its end was computed; before then its values could still appear.
 */
export const FORGET_AFTER_MS = 10 * 60_000;

// ---------------------------------------------------------------------------------------------
// Decisions on one lease

/**
 * How far before a lease's `obtainedAt` the wall clock may read before the clock is taken to have
 * stepped back (ordinary corrections by a time service are far smaller).
 */
export const CLOCK_STEP_SLACK_MS = 5_000;

/**
 * The wall clock reads earlier than the moment the lease was obtained: it was set back (nothing
 * is obtained in the future). The lease then looks younger than it is by the step, and its real
 * end may have passed while the clock says otherwise: it is not served, and is refreshed now (a
 * renewal, or a new read or login, counts from the clock as it now is). A step back smaller than
 * the lease's age is not seen; the time a value may then be served too long is at most that step.
 */
export function clockSteppedBack(lease: Lease, now: number): boolean {
  return now < lease.obtainedAt - CLOCK_STEP_SLACK_MS;
}

export function decide(lease: Lease, now: number): LeaseAction {
  if (clockSteppedBack(lease, now)) return lease.renewable ? "renew" : "replace";
  if (now >= lease.expiresAt - lease.graceMs) return "replace";
  if (now >= lease.refreshAt) return lease.renewable ? "renew" : "replace";
  return "keep";
}

/** May this value still be served? */
export function usable(lease: Lease, now: number): boolean {
  // A value without an end (KV) has none to pass, whatever the clock did.
  if (Number.isFinite(lease.expiresAt) && clockSteppedBack(lease, now)) return false;
  return now < lease.expiresAt - lease.graceMs;
}

/** Seconds left before the value stops being served, for `lease_duration` and `Expiration`. */
export function secondsLeft(lease: Lease, now: number): number {
  if (!Number.isFinite(lease.expiresAt)) return 0;
  return Math.max(0, Math.floor((lease.expiresAt - now) / 1000));
}

// ---------------------------------------------------------------------------------------------
// Decisions on a held value (a declared secret or a cached proxy read)

/** What the policy needs to know about a value the cache holds. */
export interface HeldValue {
  /** The value's own lease. */
  lease: Lease;
  /** The token that read it. */
  token: TokenView;
  /** Read under the token the extension uses now (false after a new login). */
  underCurrentToken: boolean;
  /** Vault gave it a lease (`lease_id`); KV values and most proxy reads have none. */
  leased: boolean;
  /** `declared`: VAULT_SECRET_PATH_*; `proxy`: a cached proxy read. */
  kind: "declared" | "proxy";
}

/** What to do for a held value now. A value read under a replaced token is read again. */
export function valueAction(v: HeldValue, now: number): LeaseAction {
  const action = decide(effectiveLease(v.lease, v.token), now);
  if (action !== "replace" && !v.underCurrentToken) return "replace";
  return action;
}

/**
 * The hot path's question, answered without allocating: can the held value be served as it is
 * (what `valueAction` calls "keep")? Read under the current token, before its refresh point and
 * before its token's grace period.
 */
export function isFresh(own: Lease, token: TokenView, underCurrentToken: boolean, now: number): boolean {
  if (!underCurrentToken || token.dead) return false;
  if (now < own.obtainedAt - CLOCK_STEP_SLACK_MS || now < token.lease.obtainedAt - CLOCK_STEP_SLACK_MS) return false;
  return now < own.refreshAt && now < token.lease.expiresAt - own.graceMs;
}

// ---------------------------------------------------------------------------------------------
// Backoff after a failed refresh

/** Wall-clock backoff of a failing refresh: 1 s, 2 s, 4 s... at most 30 s. */
export const FIRST_RETRY_MS = 1_000;
export const MAX_RETRY_MS = 30_000;

/** How a key's refreshes have been failing: nothing is asked of Vault for it before `retryAt`. */
export interface Backoff {
  /** Failures in a row. */
  failures: number;
  /** Not retried before this (wall clock). */
  retryAt: number;
  /**
   * Vault answered and meant it (403, 404, a lease that is already expired...): asking again at
   * once would get the same answer, or create another secret. Otherwise Vault could not be asked
   * (timeout, connection, 5xx, 429).
   */
  answered: boolean;
}

/** The wait before the next attempt after `failures` failures in a row. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(Math.max(failures, 1) - 1, 15));
}

/**
 * A refresh failed at `now`: back off, but never past `validUntil`, the moment the held value
 * stops being served (so that it gets one more try before it expires).
 */
export function afterFailure(previous: Backoff | undefined, now: number, validUntil: number, answered: boolean): Backoff {
  const failures = (previous?.failures ?? 0) + 1;
  const retryAt = now + retryDelay(failures);
  return { failures, retryAt: validUntil > now ? Math.min(retryAt, validUntil) : retryAt, answered };
}

/** Still waiting out a backoff: nothing is asked of Vault for this key now. */
export function backingOff(b: Backoff | undefined, now: number): boolean {
  // A retry time further away than any backoff sets one: the clock was set back since; it is over.
  return b !== undefined && now < b.retryAt && b.retryAt - now <= MAX_RETRY_MS;
}

/**
 * How to answer a handler's request for a value:
 * - `hit`: serve the held value;
 * - `serve`: it is past its refresh point but still valid: serve it at once (`STALE` when its
 *   refreshes have been failing) and refresh behind it (`refresh`), unless the key is backing off
 *   (stale-while-revalidate);
 * - `wait`: nothing servable is held (absent, expired, read under a replaced token) or a fresh
 *   read is forced: refresh and wait for the result (bounded by the caller), falling back per
 *   `afterFailedRefresh`;
 * - `fail`: as `wait`, but Vault refused the last refresh and the key is backing off: the
 *   remembered failure, at once (a new attempt would get the same answer or create yet another
 *   secret). A failure Vault did not answer (an outage) is tried again by a request that has
 *   nothing else to serve.
 */
export type ServePlan =
  | { kind: "hit" }
  | { kind: "serve"; stale: boolean; refresh: RefreshAction | undefined }
  | { kind: "wait"; action: RefreshAction }
  | { kind: "fail" };

export function planServe(v: HeldValue | undefined, backoff: Backoff | undefined, now: number, force = false): ServePlan {
  if (v && !force && isFresh(v.lease, v.token, v.underCurrentToken, now)) return { kind: "hit" };
  const action = v ? valueAction(v, now) : "replace";
  const refresh: RefreshAction = action === "keep" ? "replace" : action;
  // A value read under a replaced token is not served while it is read again: the token may
  // have been replaced because it died, and its leases with it.
  if (v && !force && v.underCurrentToken && usable(effectiveLease(v.lease, v.token), now)) {
    if (action === "keep") return { kind: "hit" };
    return { kind: "serve", stale: backoff !== undefined, refresh: backingOff(backoff, now) ? undefined : refresh };
  }
  if (backoff?.answered && backingOff(backoff, now)) return { kind: "fail" };
  return { kind: "wait", action: refresh };
}

/** A refresh failed: serve the held value as `STALE` while it is valid, else the failure. */
export function afterFailedRefresh(v: Pick<HeldValue, "lease" | "token"> | undefined, now: number): "stale" | "fail" {
  return v && usable(effectiveLease(v.lease, v.token), now) ? "stale" : "fail";
}

/**
 * At INVOKE (or on Managed Instances' timer): what to do for a held value before the environment
 * may freeze. A key backing off is left alone until its retry time; cached proxy reads without a
 * lease are not refreshed ahead: the next request reads them again.
 */
export function dueAtInvoke(v: HeldValue, backoff: Backoff | undefined, now: number): LeaseAction {
  if (!refreshedAhead(v) || backingOff(backoff, now)) return "keep";
  return valueAction(v, now);
}

/** Whether a held value is refreshed ahead of need (at INVOKE, or by Managed Instances' timer). */
export function refreshedAhead(v: Pick<HeldValue, "kind" | "leased">): boolean {
  return !(v.kind === "proxy" && !v.leased);
}

/** Cached proxy reads are dropped once they can no longer be served (nothing refreshes them) and no failure of theirs is backing off. */
export function evictable(v: Pick<HeldValue, "lease" | "token"> | undefined, backoff: Backoff | undefined, now: number): boolean {
  // A failure being backed off is remembered until its retry time (or every request would ask again).
  if (backingOff(backoff, now)) return false;
  return !v || !usable(effectiveLease(v.lease, v.token), now);
}

/**
 * After a lease renewal: a renewal capped so short that what is left already falls inside the grace
 * period is useless; read the secret again at once.
 */
export function afterLeaseRenewal(renewal: Renewal, now: number): "keep" | "replace" {
  return renewal.capped && decide(renewal.lease, now) === "replace" ? "replace" : "keep";
}

// ---------------------------------------------------------------------------------------------
// Decisions on the token

export type TokenAction = "keep" | "renew" | "login";

/** At INVOKE (or on Managed Instances' timer): keep, renew, or log in again; nothing while backing off. */
export function tokenAction(t: TokenView | undefined, backoff: Backoff | undefined, now: number): TokenAction {
  if (backingOff(backoff, now)) return "keep";
  if (!t || t.dead) return "login";
  const action = decide(t.lease, now);
  return action === "replace" ? "login" : action;
}

/** May this token be used for a request now (else a new login comes first)? */
export function tokenUsable(t: TokenView | undefined, now: number): t is TokenView {
  return t !== undefined && !t.dead && usable(t.lease, now);
}

/**
 * A renewal failed. A transient failure keeps what is held (still valid; it is tried again after
 * the backoff); anything else (not found, expired, past its max TTL, refused) is cured only by
 * replacing it: a new login, or a new read. A 403 has already been through `after403`.
 */
export function afterFailedRenewal(transient: boolean): "keep" | "replace" {
  return transient ? "keep" : "replace";
}

/** What `auth/token/lookup-self` said of a token that was just denied something. */
export type TokenCheck =
  /** It answered: the token is alive, the denial is the policy's. */
  | "alive"
  /** Vault said `invalid token`: dead for sure. */
  | "dead"
  /**
   * Denied (403 `permission denied`: how a dead token answers, but also a live token whose
   * policies do not allow lookup-self, e.g. a role with `token_no_default_policy`), or failing.
   */
  | "unknown";

/** After a suspicion-driven re-login, the next one waits this long (by the wall clock). */
export const SUSPICION_QUIET_MS = 60_000;

/**
 * Vault answered 403 to a request. A dead token is cured by a new login and one retry. A live
 * one means the denial is the policy's, passed through. One whose state is unknown is suspected:
 * one re-login (the token it replaces is still revoked at shutdown), then no other for a minute,
 * so that a Vault that denies everything never causes a login per request.
 */
export function after403(check: TokenCheck, now: number, lastSuspicionAt: number | undefined): "pass-through" | "relogin" | "relogin-on-suspicion" {
  if (check === "dead") return "relogin";
  if (check === "alive") return "pass-through";
  // A quiet time that started at a moment the clock has not reached: it was set back; it is over.
  if (lastSuspicionAt !== undefined && now >= lastSuspicionAt && now < lastSuspicionAt + SUSPICION_QUIET_MS) return "pass-through";
  return "relogin-on-suspicion";
}

// ---------------------------------------------------------------------------------------------
// Scheduling

/** When one held lease next needs attention: its refresh point (or the start of its grace period), or its retry time while backing off. */
export function wakeAt(lease: Lease, backoff: Backoff | undefined): number {
  const due = Math.min(lease.refreshAt, lease.expiresAt - lease.graceMs);
  return backoff ? Math.max(due, backoff.retryAt) : due;
}

/**
 * When something held next needs attention: the earliest `wakeAt` among the given leases, not
 * before `now`; `Infinity` when nothing will. This is what a timer-driven refresh (an environment
 * that is never frozen) sleeps until.
 */
export function nextWake(held: Iterable<{ lease: Lease; backoff?: Backoff }>, now: number): number {
  let at = Infinity;
  for (const h of held) {
    // After the clock was set back: due now (`decide`), and a retry time out of a backoff's reach is over.
    if (clockSteppedBack(h.lease, now)) return now;
    at = Math.min(at, wakeAt(h.lease, backingOff(h.backoff, now) ? h.backoff : undefined));
  }
  return Math.max(now, at);
}
