/**
 * The extension's Vault token: renewed at its refresh point, replaced by a new login when a renewal
 * comes back capped or fails for good, and re-obtained once when Vault answers 403. Every token the
 * extension ever held stays on record until it is revoked at shutdown or expires.
 */
import type { Logger } from "../log.ts";
import { afterRenewal, decide, planLease, usable, type Lease } from "../lease/policy.ts";
import { VaultError, type VaultClient } from "./client.ts";
import type { Authenticator, TokenGrant } from "./auth.ts";

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
}

interface RenewAnswer {
  auth?: { lease_duration?: number; renewable?: boolean } | null;
  warnings?: string[] | null;
}

export class TokenManager {
  private currentToken: TokenState | undefined;
  private readonly held = new Set<TokenState>();
  private pendingLogin: Promise<TokenState> | undefined;
  private pendingRenew: Promise<void> | undefined;
  private logins = 0;
  /** Called after a new login, with the token it replaced (to re-read what the old one read). */
  onReplaced: (previous: TokenState | undefined, next: TokenState) => void = () => {};

  constructor(
    private readonly client: VaultClient,
    private readonly auth: Authenticator,
    private readonly graceMs: number,
    private readonly log: Logger,
  ) {}

  get current(): TokenState | undefined {
    return this.currentToken;
  }

  /** Every token not known dead, for revocation at shutdown. */
  get live(): TokenState[] {
    const now = Date.now();
    return [...this.held].filter((t) => !t.dead && t.lease.expiresAt > now);
  }

  /** Logs in (one login at a time: concurrent callers share it). */
  login(opts: { deadline?: number; retries?: number } = {}): Promise<TokenState> {
    if (!this.pendingLogin) {
      this.pendingLogin = this.doLogin(opts).finally(() => {
        this.pendingLogin = undefined;
      });
    }
    return this.pendingLogin;
  }

  /** A token that may be used now: the current one, or a fresh login if it can no longer serve. */
  async ensure(deadline?: number): Promise<TokenState> {
    const t = this.currentToken;
    if (t && !t.dead && usable(t.lease, Date.now())) return t;
    return this.login({ deadline });
  }

  /** Applies the refresh policy to the token (at INVOKE, and before reads that need it). */
  async refresh(deadline?: number): Promise<void> {
    const t = this.currentToken;
    if (!t || t.dead) {
      await this.login({ deadline });
      return;
    }
    const action = decide(t.lease, Date.now());
    if (action === "keep") return;
    if (action === "replace") {
      this.log.debug("token near expiry or not renewable; logging in again", { token: t.serial });
      await this.login({ deadline });
      return;
    }
    if (!this.pendingRenew) {
      this.pendingRenew = this.renew(t, deadline).finally(() => {
        this.pendingRenew = undefined;
      });
    }
    await this.pendingRenew;
  }

  /**
   * Runs `fn` with a usable token; on a 403 the token is taken as dead, the extension logs in once
   * more and `fn` runs once more with the new token.
   */
  async withToken<T>(fn: (token: TokenState) => Promise<T>, deadline?: number): Promise<T> {
    const token = await this.ensure(deadline);
    try {
      return await fn(token);
    } catch (err) {
      if (!(err instanceof VaultError) || !err.permissionDenied) throw err;
      // A 403 is either a dead token or a policy that denies this path. Only the first is cured by
      // a new login; without this check every denied proxy request would cost a login (and a token).
      if (await this.stillValid(token, deadline)) throw err;
      this.log.warn("Vault answered 403 and the token is no longer valid; logging in again and retrying once", { token: token.serial });
      this.markDead(token);
      const fresh = await this.login({ deadline });
      return fn(fresh);
    }
  }

  private async stillValid(token: TokenState, deadline?: number): Promise<boolean> {
    if (token.dead) return false;
    try {
      await this.client.request({ method: "GET", path: "auth/token/lookup-self", token: token.clientToken, deadline, retries: 0 });
      return true;
    } catch (err) {
      return !(err instanceof VaultError && err.permissionDenied);
    }
  }

  markDead(token: TokenState): void {
    token.dead = true;
    if (this.currentToken === token) this.log.debug("current token is dead", { token: token.serial });
  }

  /** Revokes every live token (`auth/token/revoke-self`), in parallel. */
  async revokeAll(deadline: number): Promise<{ revoked: number; failed: number }> {
    const tokens = this.live;
    const results = await Promise.allSettled(
      tokens.map(async (t) => {
        try {
          await this.client.request({ method: "POST", path: "auth/token/revoke-self", token: t.clientToken, deadline, retries: 1 });
        } catch (err) {
          // Already dead in Vault: nothing left to revoke.
          if (!(err instanceof VaultError && err.permissionDenied)) throw err;
        }
        t.dead = true;
      }),
    );
    const failed = results.filter((r) => r.status === "rejected").length;
    return { revoked: tokens.length - failed, failed };
  }

  private async doLogin(opts: { deadline?: number; retries?: number }): Promise<TokenState> {
    const grant = await this.auth.login(opts);
    const next = this.stateOf(grant);
    const previous = this.currentToken;
    this.currentToken = next;
    this.held.add(next);
    this.prune();
    this.onReplaced(previous, next);
    return next;
  }

  private async renew(t: TokenState, deadline?: number): Promise<void> {
    try {
      const res = await this.client.request<RenewAnswer>({
        method: "POST",
        path: "auth/token/renew-self",
        token: t.clientToken,
        body: { increment: t.durationS },
        deadline,
      });
      const seconds = res.json?.auth?.lease_duration ?? 0;
      const lease = afterRenewal(seconds * 1000, t.durationS * 1000, Date.now(), this.graceMs);
      t.lease = { ...lease, renewable: lease.renewable && (res.json?.auth?.renewable ?? true) };
      this.log.debug("renewed the token", { token: t.serial, ttlSeconds: seconds, capped: lease.capped });
      if (lease.capped) this.log.info("the token is near its max TTL; the next refresh logs in again", { token: t.serial, ttlSeconds: seconds });
    } catch (err) {
      if (err instanceof VaultError && err.transient) {
        // Keep the token: it is still valid, and the next INVOKE or request tries again.
        this.log.warn("token renewal failed; will retry", { token: t.serial, error: err.message });
        return;
      }
      // Revoked, expired, past its max TTL, or the role no longer binds the function: a new login
      // either fixes it or tells why.
      this.log.info("token renewal refused; logging in again", { token: t.serial, error: err instanceof Error ? err.message : String(err) });
      if (err instanceof VaultError && err.permissionDenied) t.dead = true;
      await this.login({ deadline });
    }
  }

  private stateOf(grant: TokenGrant): TokenState {
    const durationMs = grant.leaseDurationS > 0 ? grant.leaseDurationS * 1000 : Infinity;
    const lease = Number.isFinite(durationMs)
      ? planLease(durationMs, grant.obtainedAt, grant.renewable, this.graceMs)
      : { obtainedAt: grant.obtainedAt, expiresAt: Infinity, refreshAt: Infinity, renewable: false, graceMs: 0 };
    return { clientToken: grant.clientToken, accessor: grant.accessor, serial: ++this.logins, policies: grant.policies, durationS: grant.leaseDurationS, lease, dead: false };
  }

  /** Forgets tokens that have expired on their own: Vault has revoked them and their leases. */
  private prune(): void {
    const now = Date.now();
    for (const t of this.held) if (t !== this.currentToken && (t.dead || t.lease.expiresAt <= now)) this.held.delete(t);
  }
}
