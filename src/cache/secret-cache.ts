/**
 * Lease-aware cache of what the extension read from Vault: declared secrets and cached proxy reads.
 *
 * It decides nothing itself: every question (serve, serve and refresh behind, wait, renew, re-read,
 * fall back to a stale value, back off after a failure) goes to the pure policy in
 * ../lease/policy.ts with the clock's `now`, and the cache carries out the answer. One refresh per
 * key at a time: callers that need the same key join the refresh in flight. Record parsing is in
 * ./record.ts, the lease registry used for revocation in ./held-leases.ts.
 */
import { systemClock, type Clock } from "../clock.ts";
import { AgentError, describe, isTransient, kindOf, stripQuery, VaultError } from "../errors.ts";
import {
  afterFailedRefresh,
  afterFailedRenewal,
  afterFailure,
  afterLeaseRenewal,
  afterRenewal,
  dueAtInvoke,
  effectiveEnd,
  effectiveLease,
  evictable,
  isFresh,
  planServe,
  refreshedAhead,
  type Backoff,
  type HeldValue,
  type Lease,
  type RefreshAction,
} from "../lease/policy.ts";
import type { Logger, Redactor } from "../log.ts";
import { Outcomes } from "../outcomes.ts";
import { NO_METRICS, type Metrics } from "../metrics/emf.ts";
import type { RevocationTally } from "../revocation.ts";
import { SingleFlight } from "../single-flight.ts";
import type { VaultRequest, VaultTransport } from "../vault/client.ts";
import type { TokenManager } from "../vault/token.ts";
import type { CacheStatus } from "../client/wire.ts";
import { HeldLeases, type HeldLease } from "./held-leases.ts";
import { parseRecord, readFailure, UnservableLease, type RecordSpec, type SecretRecord, type VaultSecretJson } from "./record.ts";

export interface CacheAnswer {
  record: SecretRecord;
  status: CacheStatus;
}

export interface EntrySpec extends RecordSpec {
  key: string;
  /** For logs and messages: the secret's name or the proxied path. */
  label: string;
  /** Called whenever a refresh replaced the value (file mode rewrites its file). */
  onChange?: (record: SecretRecord) => void;
  /** Sent with every read of this entry: a cached proxy read's headers (its namespace, ...) and answer limit. */
  request?: Pick<VaultRequest, "headers" | "answerLimit">;
}

interface Entry extends EntrySpec {
  value?: SecretRecord;
  /** How its refreshes have been going (`/health`). */
  outcomes: Outcomes;
  /** Served STALE since its refreshes started failing: the first such serve is logged, not the next. */
  stale: boolean;
  /** While its refreshes fail: when Vault may be asked again, and the last failure (answered meanwhile). */
  backoff?: Backoff;
  lastError?: unknown;
}

/** What `/health` shows of an entry: never its value. */
export interface EntryHealth {
  /** Its effective lease; undefined while no value is held. */
  lease: Lease | undefined;
  outcomes: Outcomes;
  stale: boolean;
}

export interface SecretCacheOptions {
  client: VaultTransport;
  tokens: TokenManager;
  log: Logger;
  redactor: Redactor;
  graceMs: number;
  /** How long a caller waits for a refresh before it gets the stale value or a 504. */
  waitMs: number;
  metrics?: Metrics;
  clock?: Clock;
  /** Jitter of refresh points, in [0, 1); tests fix it. */
  random?: () => number;
  /** Called whenever a value was read or renewed, or a refresh failed (Managed Instances' scheduler re-arms its timer). */
  onStored?: () => void;
  /**
   * Whether a refresh may start behind a value served at once: not once the extension may be
   * frozen (after the INVOKE's work, before the next INVOKE), where a request would be caught
   * mid-flight; the next INVOKE refreshes it instead. Default: always (Managed Instances).
   */
  mayRefreshBehind?: () => boolean;
}

export class SecretCache {
  private readonly entries = new Map<string, Entry>();
  private readonly flights = new SingleFlight<string>();
  private readonly held: HeldLeases;
  private readonly now: Clock;
  private readonly metrics: Metrics;

  constructor(private readonly opts: SecretCacheOptions) {
    this.now = opts.clock ?? systemClock;
    this.metrics = opts.metrics ?? NO_METRICS;
    this.held = new HeldLeases(this.now, (values) => opts.redactor.release(values));
  }

  define(spec: EntrySpec): void {
    const existing = this.entries.get(spec.key);
    if (existing) Object.assign(existing, spec);
    else this.entries.set(spec.key, { ...spec, outcomes: new Outcomes(), stale: false });
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** How many entries hold a value. */
  get size(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.value) n++;
    return n;
  }

  /** Leases held and still alive, for `/health`. */
  get liveLeases(): HeldLease[] {
    return this.held.live();
  }

  /** How many leases are held for revocation (alive, or expired but not yet forgotten). */
  get heldLeaseCount(): number {
    return this.held.size;
  }

  /** How an entry is doing, for `/health`. */
  health(key: string): EntryHealth {
    const entry = this.mustGet(key);
    return { lease: entry.value ? this.effectiveLease(entry.value) : undefined, outcomes: entry.outcomes, stale: entry.stale };
  }

  /** The lease that decides whether a record may be served: its own, bounded by its token's. */
  effectiveLease(record: SecretRecord): Lease {
    return effectiveLease(record.lease, record.token);
  }

  /** The held value when it can be served as it is, decided without allocating (the hot path). */
  fresh(key: string): SecretRecord | undefined {
    const held = this.entries.get(key)?.value;
    if (!held) return undefined;
    if (!isFresh(held.lease, held.token, held.token === this.opts.tokens.current, this.now())) return undefined;
    this.metrics.count("CacheHits");
    return held;
  }

  /**
   * For a handler's request: what the policy says (`planServe`): the held value; the held value at
   * once with a refresh behind it (stale-while-revalidate); a refresh waited for up to `waitMs`; or,
   * while a refresh Vault refused backs off, that failure. When the wait fails, the held value if
   * it is still valid (STALE), else the error.
   */
  async get(key: string, opts: { force?: boolean } = {}): Promise<CacheAnswer> {
    const entry = this.mustGet(key);
    const held = entry.value;
    const plan = planServe(this.view(entry), entry.backoff, this.now(), opts.force);
    if (plan.kind === "hit") {
      this.metrics.count("CacheHits");
      return { record: held!, status: "HIT" };
    }
    if (plan.kind === "serve") {
      if (plan.refresh && (this.opts.mayRefreshBehind?.() ?? true)) this.refresh(key, plan.refresh, undefined, AHEAD).catch(() => undefined);
      if (plan.stale) return this.serveStale(entry, held!, entry.lastError);
      this.metrics.count("CacheHits");
      return { record: held!, status: "HIT" };
    }
    this.metrics.count("CacheMisses");
    try {
      if (plan.kind === "fail") throw entry.lastError;
      const record = await withTimeout(this.refresh(key, plan.action), this.opts.waitMs, entry.label);
      return { record, status: "MISS" };
    } catch (err) {
      const current = entry.value;
      if (afterFailedRefresh(current, this.now()) === "fail") throw err;
      return this.serveStale(entry, current!, err);
    }
  }

  private serveStale(entry: Entry, record: SecretRecord, err: unknown): CacheAnswer {
    // Once per key and outage: a handler polling through an outage would otherwise flood the log.
    if (!entry.stale) this.opts.log.warn("serving a still-valid value as STALE while its refresh fails", { secret: entry.label, error: describe(err), validForS: Math.floor((this.effectiveLease(record).expiresAt - this.now()) / 1000) });
    entry.stale = true;
    this.metrics.count("StaleServes");
    return { record, status: "STALE" };
  }

  /**
   * Refreshes one entry (renew or re-read), sharing the request with every concurrent caller.
   * `retries` overrides VAULT_MAX_RETRIES: a refresh ahead of need (`AHEAD`) makes one attempt,
   * since the wall-clock backoff retries it, and an INVOKE should not wait out several timeouts.
   */
  refresh(key: string, action: RefreshAction, deadline?: number, retries?: number): Promise<SecretRecord> {
    const entry = this.mustGet(key);
    return this.flights.run(key, () => this.recorded(entry, action, action === "renew" && entry.value ? this.renew(entry, entry.value, deadline, retries) : this.read(entry, deadline, retries)));
  }

  /**
   * Keeps the entry's outcomes and backoff, and logs every failed refresh of a declared secret or a
   * held value, with Vault's reason.
   */
  private async recorded(entry: Entry, action: RefreshAction, refresh: Promise<SecretRecord>): Promise<SecretRecord> {
    try {
      const record = await refresh;
      entry.outcomes.succeeded(this.now());
      if (entry.stale) this.opts.log.info("refreshed again after an outage; no longer serving STALE", { secret: entry.label });
      entry.stale = false;
      entry.backoff = entry.lastError = undefined;
      return record;
    } catch (err) {
      const now = this.now();
      entry.outcomes.failed(now, describe(err));
      const held = entry.value;
      // A proxied read that Vault answers with an error is the handler's answer (relayed as is,
      // asked again next time), not a failing refresh.
      if (entry.kind === "proxy" && !held && err instanceof VaultError && err.response !== undefined) throw err;
      const validUntil = held ? effectiveEnd(held.lease, held.token) - held.lease.graceMs : 0;
      const answered = kindOf(err) === "vault-permanent" || kindOf(err) === "auth";
      entry.backoff = afterFailure(entry.backoff, now, validUntil, answered);
      entry.lastError = err;
      if (entry.kind === "declared" || held) {
        this.metrics.count("RefreshFailures");
        this.opts.log.warn("refreshing a secret failed", { secret: entry.label, path: stripQuery(entry.path), action, failures: entry.outcomes.consecutiveFailures, retryInS: Math.ceil((entry.backoff.retryAt - now) / 1000), error: describe(err) });
      }
      this.opts.onStored?.();
      throw err;
    }
  }

  /** At INVOKE: every entry the policy finds due (and not backing off) is renewed or re-read, concurrently. */
  async freshen(deadline: number): Promise<{ refreshed: number; failed: number }> {
    const now = this.now();
    const due: Array<[string, RefreshAction, number | undefined]> = [];
    for (const [key, entry] of this.entries) {
      const view = this.view(entry);
      if (!view) continue;
      const action = dueAtInvoke(view, entry.backoff, now);
      // A value still servable is refreshed ahead of need; one that is not may be asked for any moment.
      if (action !== "keep") due.push([key, action, afterFailedRefresh(view, now) === "stale" ? AHEAD : undefined]);
    }
    const results = await Promise.allSettled(due.map(([key, action, retries]) => this.refresh(key, action, deadline, retries)));
    // Each failure was logged with its secret's name (`recorded`).
    const failed = results.filter((r) => r.status === "rejected").length;
    return { refreshed: results.length - failed, failed };
  }

  /** Drops values that can no longer be served and will not be refreshed (cached proxy reads). */
  evictExpired(isDisposable: (key: string) => boolean): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (!isDisposable(key) || this.flights.running(key)) continue;
      if (evictable(entry.value, entry.backoff, now)) this.entries.delete(key);
    }
  }

  /** Revokes every lease still held (`sys/leases/revoke`), in parallel. */
  revokeAll(deadline: number): Promise<RevocationTally> {
    return this.held.revokeAll(this.opts.client, this.opts.tokens.current, deadline, this.opts.log);
  }

  /**
   * Forgets every value and lease (SnapStart, before the snapshot, after `revokeAll`): declared
   * secrets stay defined and are read again when next asked for; cached proxy reads are dropped.
   */
  forgetAll(): void {
    for (const [key, entry] of this.entries) {
      if (entry.kind === "proxy") this.entries.delete(key);
      else entry.value = entry.backoff = entry.lastError = undefined;
    }
    this.held.clear();
  }

  /** Every lease the policy must watch: the effective lease of each held value. */
  leases(): Lease[] {
    const out: Lease[] = [];
    for (const entry of this.entries.values()) if (entry.value) out.push(this.effectiveLease(entry.value));
    return out;
  }

  /**
   * The leases `freshen` acts on, with their backoff: every held value but cached proxy reads
   * without a lease, which are never refreshed ahead (a timer woken for them would find nothing to do).
   */
  refreshedLeases(): Array<{ lease: Lease; backoff?: Backoff }> {
    const out: Array<{ lease: Lease; backoff?: Backoff }> = [];
    for (const entry of this.entries.values()) {
      const v = entry.value;
      if (v && refreshedAhead({ kind: entry.kind, leased: v.leaseId !== "" })) out.push({ lease: this.effectiveLease(v), backoff: entry.backoff });
    }
    return out;
  }

  private view(entry: Entry): HeldValue | undefined {
    const v = entry.value;
    if (!v) return undefined;
    return { lease: v.lease, token: v.token, underCurrentToken: v.token === this.opts.tokens.current, leased: v.leaseId !== "", kind: entry.kind };
  }

  private mustGet(key: string): Entry {
    const entry = this.entries.get(key);
    if (!entry) throw new AgentError("local", `no cache entry ${key}`);
    return entry;
  }

  private async read(entry: Entry, deadline?: number, retries?: number): Promise<SecretRecord> {
    const { client, tokens } = this.opts;
    const record = await tokens.withToken(async (token) => {
      const response = await client.send({ ...entry.request, method: "GET", path: entry.path, token: token.clientToken, deadline, retries });
      if (response.status < 200 || response.status >= 300) throw readFailure("GET", entry.path, response);
      try {
        return parseRecord(entry, response, token, this.now(), this.opts.graceMs, this.opts.random?.());
      } catch (err) {
        // Never served, but it may be alive in Vault: revoked at shutdown like any other.
        if (err instanceof UnservableLease && err.leaseId) this.held.track({ leaseId: err.leaseId, path: stripQuery(entry.path), token, expiresAt: token.lease.expiresAt });
        throw err;
      }
    }, deadline);
    // A leased value is known while its lease could be alive (HeldLeases forgets it some time after
    // its end); a value without a lease (KV) may be valid anywhere for ever: it is known for good.
    const values = record.leaseId ? this.opts.redactor.hold(record.data) : (this.opts.redactor.addAll(record.data), undefined);
    entry.value = record;
    this.metrics.count("Reads");
    if (record.leaseId) this.held.track({ leaseId: record.leaseId, path: record.path, token: record.token, expiresAt: this.effectiveLease(record).expiresAt, values });
    // Declared secrets at info (an operator follows each one); cached proxy reads, one per miss, at debug.
    const level = entry.kind === "declared" ? "info" : "debug";
    this.opts.log[level]("read secret", { secret: entry.label, path: stripQuery(entry.path), leaseId: record.leaseId || undefined, ttlSeconds: record.leaseDurationS });
    entry.onChange?.(record);
    this.opts.onStored?.();
    return record;
  }

  private async renew(entry: Entry, record: SecretRecord, deadline?: number, retries?: number): Promise<SecretRecord> {
    const { client, tokens, graceMs } = this.opts;
    let answer: VaultSecretJson | undefined;
    try {
      // A 403 goes through the token check, as for any other request (a dead token, or a policy
      // that does not allow renewals: then the secret is read again).
      const res = await tokens.withToken(
        (token) =>
          client.request<VaultSecretJson>({
            method: "PUT",
            path: "sys/leases/renew",
            token: token.clientToken,
            body: { lease_id: record.leaseId, increment: record.leaseDurationS },
            deadline,
            retries,
          }),
        deadline,
      );
      answer = res.json;
    } catch (err) {
      if (afterFailedRenewal(isTransient(err)) === "keep") throw err;
      this.opts.log.info("lease renewal refused; reading the secret again", { secret: entry.label, error: describe(err) });
      return this.read(entry, deadline, retries);
    }
    // A renewal that says nothing usable gave nothing: read again.
    const seconds = typeof answer?.lease_duration === "number" && Number.isFinite(answer.lease_duration) ? answer.lease_duration : 0;
    const now = this.now();
    const renewal = afterRenewal(seconds * 1000, record.leaseDurationS * 1000, now, graceMs, this.opts.random?.(), answer?.renewable ?? true);
    record.lease = renewal.lease;
    this.held.extend(record.leaseId, this.effectiveLease(record).expiresAt);
    this.metrics.count("Renewals");
    this.opts.log.info("renewed lease", { secret: entry.label, leaseId: record.leaseId, ttlSeconds: seconds, capped: renewal.capped });
    if (afterLeaseRenewal(renewal, now) === "replace") return this.read(entry, deadline, retries);
    entry.onChange?.(record);
    this.opts.onStored?.();
    return record;
  }
}

/** Retries of a refresh ahead of need: none within the request; the wall-clock backoff retries it. */
const AHEAD = 0;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new AgentError("timeout", `Vault did not answer the read of ${what} within ${ms} ms`)), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e) => {
        clearTimeout(t);
        reject(e);
      },
    );
  });
}
