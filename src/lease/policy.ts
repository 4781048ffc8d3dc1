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

// ---------------------------------------------------------------------------------------------
// Decisions on one lease

export function decide(lease: Lease, now: number): LeaseAction {
  if (now >= lease.expiresAt - lease.graceMs) return "replace";
  if (now >= lease.refreshAt) return lease.renewable ? "renew" : "replace";
  return "keep";
}

/** May this value still be served? */
export function usable(lease: Lease, now: number): boolean {
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
  return now < own.refreshAt && now < token.lease.expiresAt - own.graceMs;
}

/**
 * How to answer a handler's request for a value:
 * - `hit`: serve the held value;
 * - `serve-and-refresh`: serve the held value now and refresh behind it (stale-while-revalidate);
 * - `wait`: refresh and wait for the result (bounded by the caller), falling back per
 *   `afterFailedRefresh`.
 * Today only values that cannot expire (a declared secret without a lease) are served while they
 * refresh; a leased value past its refresh point waits for the renewal or the new read.
 */
export type ServePlan = { kind: "hit" } | { kind: "serve-and-refresh"; action: RefreshAction } | { kind: "wait"; action: RefreshAction };

export function planServe(v: HeldValue | undefined, now: number, force = false): ServePlan {
  if (!v || force) return { kind: "wait", action: "replace" };
  if (isFresh(v.lease, v.token, v.underCurrentToken, now)) return { kind: "hit" };
  const action = valueAction(v, now);
  if (usable(effectiveLease(v.lease, v.token), now)) {
    if (action === "keep") return { kind: "hit" };
    const cannotExpire = !Number.isFinite(v.lease.expiresAt);
    if (cannotExpire && v.underCurrentToken && !v.token.dead) return { kind: "serve-and-refresh", action: "replace" };
  }
  return { kind: "wait", action: action === "keep" ? "replace" : action };
}

/** A refresh failed: serve the held value as `STALE` while it is valid, else the failure. */
export function afterFailedRefresh(v: Pick<HeldValue, "lease" | "token"> | undefined, now: number): "stale" | "fail" {
  return v && usable(effectiveLease(v.lease, v.token), now) ? "stale" : "fail";
}

/**
 * At INVOKE: what to do for a held value before the environment may freeze. Cached proxy reads
 * without a lease are not refreshed ahead: the next request reads them again.
 */
export function dueAtInvoke(v: HeldValue, now: number): LeaseAction {
  if (!refreshedAhead(v)) return "keep";
  return valueAction(v, now);
}

/** Whether a held value is refreshed ahead of need (at INVOKE, or by Managed Instances' timer). */
export function refreshedAhead(v: Pick<HeldValue, "kind" | "leased">): boolean {
  return !(v.kind === "proxy" && !v.leased);
}

/** Cached proxy reads are dropped once they can no longer be served (nothing refreshes them). */
export function evictable(v: Pick<HeldValue, "lease" | "token"> | undefined, now: number): boolean {
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

/** At INVOKE (and before reads that need it): keep, renew, or log in again. */
export function tokenAction(t: TokenView | undefined, now: number): TokenAction {
  if (!t || t.dead) return "login";
  const action = decide(t.lease, now);
  return action === "replace" ? "login" : action;
}

/** May this token be used for a request now (else a new login comes first)? */
export function tokenUsable(t: TokenView | undefined, now: number): t is TokenView {
  return t !== undefined && !t.dead && usable(t.lease, now);
}

/** How a refresh (token or lease renewal) failed, as far as the policy cares. */
export interface RefreshFailure {
  /** Worth trying again later: connection trouble, timeouts, 412, 429, 5xx but 501. */
  transient: boolean;
  /** Vault answered 403. */
  denied: boolean;
}

/**
 * A renewal failed. A transient failure keeps what is held (still valid; the next INVOKE or
 * request tries again); anything else (not found, expired, past its max TTL, revoked) is cured only
 * by replacing it: a new login, or a new read. A 403 also means the token that asked is dead.
 */
export function afterFailedRenewal(f: RefreshFailure): { action: "keep" | "replace"; tokenDead: boolean } {
  if (f.transient) return { action: "keep", tokenDead: false };
  return { action: "replace", tokenDead: f.denied };
}

/**
 * Vault answered 403 to a request; `auth/token/lookup-self` says whether the token is alive.
 * Only a dead token is cured by a new login (and one retry); a live one, or one whose state is
 * unknown (lookup-self itself failing), means the denial is the policy's, passed through, so that
 * a Vault that denies everything never causes a login per request.
 */
export function after403(lookup: "alive" | "dead" | "unknown"): "pass-through" | "relogin" {
  return lookup === "dead" ? "relogin" : "pass-through";
}

// ---------------------------------------------------------------------------------------------
// Scheduling

/**
 * When something held next needs attention: the earliest refresh point (or start of a grace
 * period) among the given leases, not before `now`; `Infinity` when nothing will. This is what a
 * timer-driven refresh (an environment that is never frozen) would sleep until.
 */
export function nextWake(leases: Iterable<Lease>, now: number): number {
  let at = Infinity;
  for (const l of leases) at = Math.min(at, l.refreshAt, l.expiresAt - l.graceMs);
  return Math.max(now, at);
}
