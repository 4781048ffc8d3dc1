/**
 * The extension's Vault token: renewed at its refresh point, replaced by a new login when a renewal
 * comes back capped or fails for good, and re-obtained once when Vault answers 403 and the token
 * turns out dead (or is suspected dead: at most once a minute). A failing refresh backs off by the
 * wall clock. The decisions are the policy's (../lease/policy.ts); this class carries them out.
 * Every token the extension ever held stays on record until it is revoked at shutdown or expires,
 * those replaced on suspicion included.
 */
import { systemClock, type Clock } from "../clock.ts";
import { describe, isPermissionDenied, isTransient, kindOf, VaultError } from "../errors.ts";
import { after403, afterFailedRenewal, afterFailure, afterRenewal, backingOff, FORGET_AFTER_MS, planToken, tokenAction, tokenUsable, type Backoff, type Lease, type TokenCheck } from "../lease/policy.ts";
import type { Logger } from "../log.ts";
import { Outcomes } from "../outcomes.ts";
import { NO_METRICS, type Metrics } from "../metrics/emf.ts";
import { revokeEach, type RevocationTally } from "../revocation.ts";
import { SingleFlight } from "../single-flight.ts";
import type { TokenGrant } from "./auth.ts";
import type { VaultTransport } from "./client.ts";

export interface TokenState {
  readonly clientToken: string;
  readonly accessor: string;
  /** 1 for the first login of this process, 2 for the next...: what logs name (an accessor can revoke). */
  readonly serial: number;
  readonly policies: string[];
  /** The duration asked for on renewal: the TTL of the login. */
  readonly durationS: number;
  lease: Lease;
  /** Known dead: revoked from outside (a 403), revoked by us, or replaced and expired. */
  dead: boolean;
  /** What the redactor holds of it (`TokenGrant.redaction`), released when it is forgotten. */
  readonly redaction?: readonly string[];
}

/** What the token manager needs of a login: ../vault/auth.ts in production, a fake in tests. */
export interface LoginProvider {
  login(opts: { deadline?: number; retries?: number }): Promise<TokenGrant>;
}

interface RenewAnswer {
  auth?: { lease_duration?: number; renewable?: boolean } | null;
}

export interface TokenManagerOptions {
  client: VaultTransport;
  auth: LoginProvider;
  graceMs: number;
  log: Logger;
  metrics?: Metrics;
  clock?: Clock;
  /** Jitter of refresh points, in [0, 1); tests fix it. */
  random?: () => number;
}

export class TokenManager {
  private currentToken: TokenState | undefined;
  private readonly held = new Set<TokenState>();
  private readonly flights = new SingleFlight<"login" | "renew">();
  /** One 403 check per token at a time: concurrent denials share its lookup and its verdict. */
  private readonly checks = new SingleFlight<TokenState>();
  /** When the last suspicion-driven re-login happened (the policy allows one a minute). */
  private lastSuspicionAt: number | undefined;
  /** While logins or renewals fail: when Vault may be asked again, and the last failure. */
  private backoff: Backoff | undefined;
  private lastError: unknown;
  private logins = 0;
  private readonly now: Clock;
  private readonly metrics: Metrics;
  /** How logins and renewals have been going (`/health`). */
  readonly outcomes = new Outcomes();
  /** Called after a new login, with the token it replaced (to re-read what the old one read). */
  onReplaced: (previous: TokenState | undefined, next: TokenState) => void = () => {};

  constructor(private readonly opts: TokenManagerOptions) {
    this.now = opts.clock ?? systemClock;
    this.metrics = opts.metrics ?? NO_METRICS;
  }

  get current(): TokenState | undefined {
    return this.currentToken;
  }

  /** Every token not known dead, for revocation at shutdown. */
  get live(): TokenState[] {
    const now = this.now();
    return [...this.held].filter((t) => !t.dead && t.lease.expiresAt > now);
  }

  /** Logs in (one login at a time: concurrent callers share it). */
  login(opts: { deadline?: number; retries?: number } = {}): Promise<TokenState> {
    return this.flights.run("login", () => this.doLogin(opts));
  }

  /** How the token's refreshes are backing off, if they are failing (`nextWake`). */
  get retry(): Backoff | undefined {
    return this.backoff;
  }

  /** No usable token, and the login that would get one is backing off: nothing needing a token is tried ahead of need. */
  get waitingToLogIn(): boolean {
    const now = this.now();
    return !tokenUsable(this.currentToken, now) && backingOff(this.backoff, now);
  }

  /**
   * A token that may be used now: the current one, or a fresh login if it can no longer serve
   * (unless Vault refused the last login and that is backing off: then that refusal, at once).
   */
  async ensure(deadline?: number): Promise<TokenState> {
    const t = this.currentToken;
    const now = this.now();
    if (tokenUsable(t, now)) return t as TokenState;
    if (this.backoff?.answered && backingOff(this.backoff, now)) throw this.lastError;
    return this.login({ deadline });
  }

  /** Carries out the policy's `tokenAction` (at INVOKE, or on Managed Instances' timer). */
  async refresh(deadline?: number): Promise<void> {
    const t = this.currentToken;
    const action = tokenAction(t, this.backoff, this.now());
    if (action === "keep") return;
    if (action === "login" || !t) {
      if (t && !t.dead) this.opts.log.debug("token near expiry or not renewable; logging in again", { token: t.serial });
      await this.login({ deadline });
      return;
    }
    await this.flights.run("renew", () => this.renew(t, deadline));
  }

  /**
   * Runs `fn` with a usable token; on a 403 the policy decides (`after403`) between passing the
   * denial through and replacing the token (dead, or suspected dead): then one more run of `fn`
   * with the new one. Concurrent denials of the same token share one check and one login.
   */
  async withToken<T>(fn: (token: TokenState) => Promise<T>, deadline?: number): Promise<T> {
    const token = await this.ensure(deadline);
    try {
      return await fn(token);
    } catch (err) {
      if (!isPermissionDenied(err)) throw err;
      // Without this check every denied proxy request would cost a login (and a token).
      const replacement = await this.checks.run(token, () => this.after403(token, deadline));
      if (!replacement) throw err;
      return fn(replacement);
    }
  }

  /** The policy's verdict on a token Vault denied something: undefined (pass the denial through), or the token that replaces it. */
  private async after403(token: TokenState, deadline?: number): Promise<TokenState | undefined> {
    const check = await this.lookup(token, deadline);
    const now = this.now();
    const verdict = after403(check, now, this.lastSuspicionAt);
    if (verdict === "pass-through") {
      this.opts.log.debug("Vault answered 403; passing the denial through", { token: token.serial, lookupSelf: check });
      return undefined;
    }
    if (verdict === "relogin") this.markDead(token);
    // A request denied with an older token may find it replaced already: one retry with the new one.
    if (this.currentToken !== token && tokenUsable(this.currentToken, now)) return this.currentToken;
    if (verdict === "relogin") {
      this.opts.log.warn("Vault answered 403 and the token is no longer valid; logging in again and retrying once", { token: token.serial });
      return this.login({ deadline });
    }
    // Not marked dead: if it is alive after all, it is revoked at shutdown with the others.
    this.lastSuspicionAt = now;
    this.opts.log.warn("Vault answered 403 and lookup-self cannot vouch for the token; logging in again and retrying once (at most once a minute)", { token: token.serial });
    try {
      return await this.login({ deadline });
    } catch (err) {
      // Only suspected: the denial stands as the answer, not the failed login (logged, and on /health).
      this.opts.log.warn("logging in again on suspicion failed; passing the denial through", { token: token.serial, error: describe(err) });
      return undefined;
    }
  }

  /** Forgets every token (SnapStart, before the snapshot, after `revokeAll`): the next use logs in. */
  forgetAll(): void {
    this.currentToken = undefined;
    this.held.clear();
    this.backoff = this.lastError = this.lastSuspicionAt = undefined;
  }

  markDead(token: TokenState): void {
    token.dead = true;
    if (this.currentToken === token) this.opts.log.debug("current token is dead", { token: token.serial });
  }

  /** Revokes every live token (`auth/token/revoke-self`), in parallel; one already dead in Vault (403) is not counted as revoked. */
  revokeAll(deadline: number): Promise<RevocationTally> {
    return revokeEach(
      this.live,
      (t) => this.opts.client.request({ method: "POST", path: "auth/token/revoke-self", token: t.clientToken, deadline, retries: 1 }),
      (t, result) => {
        t.dead = true;
        this.opts.log.info(result === "revoked" ? "revoked the token" : "the token was already revoked in Vault", { token: t.serial });
      },
    );
  }

  /**
   * `auth/token/lookup-self`: alive (it answered), dead (Vault said `invalid token`), or unknown: a
   * plain 403 is how a dead token answers, but also a live one whose policies do not allow
   * lookup-self (`token_no_default_policy`), and any other failure says nothing.
   */
  private async lookup(token: TokenState, deadline?: number): Promise<TokenCheck> {
    if (token.dead) return "dead";
    try {
      await this.opts.client.request({ method: "GET", path: "auth/token/lookup-self", token: token.clientToken, deadline, retries: 0 });
      return "alive";
    } catch (err) {
      return err instanceof VaultError && err.permissionDenied && err.errors.some((e) => /invalid token/i.test(e)) ? "dead" : "unknown";
    }
  }

  /** A login or renewal failed: back off (never past the current token's usable end). */
  private failed(err: unknown): void {
    const now = this.now();
    const t = this.currentToken;
    const validUntil = t && !t.dead ? t.lease.expiresAt - t.lease.graceMs : 0;
    this.backoff = afterFailure(this.backoff, now, validUntil, kindOf(err) === "auth" || kindOf(err) === "vault-permanent");
    this.lastError = err;
    this.outcomes.failed(now, describe(err));
    this.metrics.count("RefreshFailures");
  }

  private succeeded(): void {
    this.backoff = this.lastError = undefined;
    this.outcomes.succeeded(this.now());
  }

  private async doLogin(opts: { deadline?: number; retries?: number }): Promise<TokenState> {
    let grant: TokenGrant;
    try {
      grant = await this.opts.auth.login(opts);
    } catch (err) {
      this.failed(err);
      throw err;
    }
    this.succeeded();
    this.metrics.count("Logins");
    const next = this.stateOf(grant);
    const previous = this.currentToken;
    this.currentToken = next;
    this.held.add(next);
    this.prune();
    this.onReplaced(previous, next);
    return next;
  }

  private async renew(t: TokenState, deadline?: number): Promise<void> {
    const { log } = this.opts;
    try {
      // Ahead of need (the token is still valid): one attempt; the wall-clock backoff retries it.
      const res = await this.opts.client.request<RenewAnswer>({ method: "POST", path: "auth/token/renew-self", token: t.clientToken, body: { increment: t.durationS }, deadline, retries: 0 });
      const given = res.json?.auth?.lease_duration;
      // A renewal that says nothing usable gave nothing: the next refresh logs in.
      const seconds = typeof given === "number" && Number.isFinite(given) ? given : 0;
      const { lease, capped } = afterRenewal(seconds * 1000, t.durationS * 1000, this.now(), this.opts.graceMs, this.opts.random?.(), res.json?.auth?.renewable ?? true);
      t.lease = lease;
      this.succeeded();
      this.metrics.count("Renewals");
      log.info("renewed the token", { token: t.serial, ttlSeconds: seconds, capped });
      if (capped) log.info("the token is near its max TTL; the next refresh logs in again", { token: t.serial, ttlSeconds: seconds });
    } catch (err) {
      this.failed(err);
      if (afterFailedRenewal(isTransient(err)) === "keep") {
        // Still valid: tried again once the backoff has passed.
        log.warn("token renewal failed; will retry", { token: t.serial, retryInS: Math.ceil((this.backoff!.retryAt - this.now()) / 1000), error: describe(err) });
        return;
      }
      // Revoked, expired, past its max TTL, refused (a 403: dead, or a policy without
      // renew-self), or the role no longer binds the function: a new login either fixes it or
      // tells why. The old token stays on record: if it is alive, it is revoked at shutdown.
      log.info("token renewal refused; logging in again", { token: t.serial, error: describe(err) });
      await this.login({ deadline });
    }
  }

  private stateOf(grant: TokenGrant): TokenState {
    const lease = planToken(grant.leaseDurationS, this.now(), grant.renewable, this.opts.graceMs, this.opts.random?.());
    return { clientToken: grant.clientToken, accessor: grant.accessor, serial: ++this.logins, policies: grant.policies, durationS: grant.leaseDurationS, lease, dead: false, redaction: grant.redaction };
  }

  /**
   * Forgets tokens expired (Vault has revoked them and their leases) for `FORGET_AFTER_MS`; the
   * redactor forgets their values then, so that a long-lived environment that logs in again and
   * again does not scrub every line against every token it had. One known dead is kept as long:
   * answers to requests that carried it may still be on their way, and may quote it.
   */
  private prune(): void {
    const now = this.now();
    for (const t of this.held) {
      if (t === this.currentToken || t.lease.expiresAt + FORGET_AFTER_MS > now) continue;
      this.held.delete(t);
      if (t.redaction) this.opts.log.redactor.release(t.redaction);
    }
  }
}
