/**
 * Lease-aware cache of what the extension read from Vault: declared secrets and cached proxy reads.
 *
 * It decides nothing itself: every question (serve, serve and refresh behind, wait, renew, re-read,
 * fall back to a stale value) goes to the pure policy in ../lease/policy.ts with the clock's `now`,
 * and the cache carries out the answer. One refresh per key at a time: callers that need the same
 * key join the refresh in flight. Record parsing is in ./record.ts, the lease registry used for
 * revocation in ./held-leases.ts.
 */
import { systemClock, type Clock } from "../clock.ts";
import { AgentError, describe, isPermissionDenied, isTransient, stripQuery } from "../errors.ts";
import {
  afterFailedRefresh,
  afterFailedRenewal,
  afterLeaseRenewal,
  afterRenewal,
  dueAtInvoke,
  effectiveLease,
  evictable,
  isFresh,
  planServe,
  refreshedAhead,
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
import { parseRecord, readFailure, type RecordSpec, type SecretRecord, type VaultSecretJson } from "./record.ts";

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
  /** Called whenever a value was read or renewed (Managed Instances' scheduler re-arms its timer). */
  onStored?: () => void;
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
    this.held = new HeldLeases(this.now);
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
   * For a handler's request: what the policy says (`planServe`): the held value, the held value
   * with a refresh behind it, or a refresh waited for up to `waitMs`; when that fails, the held
   * value if it is still valid (STALE), else the error.
   */
  async get(key: string, opts: { force?: boolean } = {}): Promise<CacheAnswer> {
    const entry = this.mustGet(key);
    const held = entry.value;
    const plan = planServe(this.view(entry), this.now(), opts.force);
    if (plan.kind === "hit") {
      this.metrics.count("CacheHits");
      return { record: held!, status: "HIT" };
    }
    if (plan.kind === "serve-and-refresh") {
      this.refresh(key, plan.action).catch(() => undefined);
      this.metrics.count("CacheHits");
      return { record: held!, status: "HIT" };
    }
    this.metrics.count("CacheMisses");
    try {
      const record = await withTimeout(this.refresh(key, plan.action), this.opts.waitMs, entry.label);
      return { record, status: "MISS" };
    } catch (err) {
      const current = entry.value;
      if (afterFailedRefresh(current, this.now()) === "fail") throw err;
      // Once per key and outage: a handler polling through an outage would otherwise flood the log.
      if (!entry.stale) this.opts.log.warn("serving a still-valid value as STALE while its refresh fails", { secret: entry.label, error: describe(err), validForS: Math.floor((this.effectiveLease(current!).expiresAt - this.now()) / 1000) });
      entry.stale = true;
      this.metrics.count("StaleServes");
      return { record: current!, status: "STALE" };
    }
  }

  /** Refreshes one entry (renew or re-read), sharing the request with every concurrent caller. */
  refresh(key: string, action: RefreshAction, deadline?: number): Promise<SecretRecord> {
    const entry = this.mustGet(key);
    return this.flights.run(key, () => this.recorded(entry, action, action === "renew" && entry.value ? this.renew(entry, entry.value, deadline) : this.read(entry, deadline)));
  }

  /** Keeps the entry's outcomes and logs every failed refresh of a declared secret or a held value, with Vault's reason. */
  private async recorded(entry: Entry, action: RefreshAction, refresh: Promise<SecretRecord>): Promise<SecretRecord> {
    try {
      const record = await refresh;
      entry.outcomes.succeeded(this.now());
      if (entry.stale) this.opts.log.info("refreshed again after an outage; no longer serving STALE", { secret: entry.label });
      entry.stale = false;
      return record;
    } catch (err) {
      entry.outcomes.failed(this.now(), describe(err));
      // A proxied read that Vault refuses is the handler's answer, not a failing refresh.
      if (entry.kind === "declared" || entry.value) {
        this.metrics.count("RefreshFailures");
        this.opts.log.warn("refreshing a secret failed", { secret: entry.label, path: stripQuery(entry.path), action, failures: entry.outcomes.consecutiveFailures, error: describe(err) });
      }
      throw err;
    }
  }

  /** At INVOKE: every entry the policy finds due is renewed or re-read, concurrently. */
  async freshen(deadline: number): Promise<{ refreshed: number; failed: number }> {
    const now = this.now();
    const due: Array<[string, RefreshAction]> = [];
    for (const [key, entry] of this.entries) {
      const view = this.view(entry);
      if (!view) continue;
      const action = dueAtInvoke(view, now);
      if (action !== "keep") due.push([key, action]);
    }
    const results = await Promise.allSettled(due.map(([key, action]) => this.refresh(key, action, deadline)));
    // Each failure was logged with its secret's name (`recorded`).
    const failed = results.filter((r) => r.status === "rejected").length;
    return { refreshed: results.length - failed, failed };
  }

  /** Drops values that can no longer be served and will not be refreshed (cached proxy reads). */
  evictExpired(isDisposable: (key: string) => boolean): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (!isDisposable(key) || this.flights.running(key)) continue;
      if (evictable(entry.value, now)) this.entries.delete(key);
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
      else entry.value = undefined;
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
   * The leases `freshen` acts on: every held value but cached proxy reads without a lease, which
   * are never refreshed ahead (a timer woken for them would find nothing to do).
   */
  refreshedLeases(): Lease[] {
    const out: Lease[] = [];
    for (const entry of this.entries.values()) {
      const v = entry.value;
      if (v && refreshedAhead({ kind: entry.kind, leased: v.leaseId !== "" })) out.push(this.effectiveLease(v));
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

  private async read(entry: Entry, deadline?: number): Promise<SecretRecord> {
    const { client, tokens } = this.opts;
    const record = await tokens.withToken(async (token) => {
      const response = await client.send({ ...entry.request, method: "GET", path: entry.path, token: token.clientToken, deadline });
      if (response.status < 200 || response.status >= 300) throw readFailure("GET", entry.path, response);
      return parseRecord(entry, response, token, this.now(), this.opts.graceMs, this.opts.random?.());
    }, deadline);
    this.opts.redactor.addAll(record.data);
    entry.value = record;
    this.metrics.count("Reads");
    if (record.leaseId) this.held.track({ leaseId: record.leaseId, path: record.path, token: record.token, expiresAt: this.effectiveLease(record).expiresAt });
    // Declared secrets at info (an operator follows each one); cached proxy reads, one per miss, at debug.
    const level = entry.kind === "declared" ? "info" : "debug";
    this.opts.log[level]("read secret", { secret: entry.label, path: stripQuery(entry.path), leaseId: record.leaseId || undefined, ttlSeconds: record.leaseDurationS });
    entry.onChange?.(record);
    this.opts.onStored?.();
    return record;
  }

  private async renew(entry: Entry, record: SecretRecord, deadline?: number): Promise<SecretRecord> {
    const { client, tokens, graceMs } = this.opts;
    let answer: VaultSecretJson | undefined;
    try {
      const token = await tokens.ensure(deadline);
      const res = await client.request<VaultSecretJson>({
        method: "PUT",
        path: "sys/leases/renew",
        token: token.clientToken,
        body: { lease_id: record.leaseId, increment: record.leaseDurationS },
        deadline,
      });
      answer = res.json;
    } catch (err) {
      const next = afterFailedRenewal({ transient: isTransient(err), denied: isPermissionDenied(err) });
      if (next.action === "keep") throw err;
      this.opts.log.info("lease renewal refused; reading the secret again", { secret: entry.label, error: describe(err) });
      if (next.tokenDead) tokens.markDead(record.token);
      return this.read(entry, deadline);
    }
    const seconds = answer?.lease_duration ?? 0;
    const now = this.now();
    const renewal = afterRenewal(seconds * 1000, record.leaseDurationS * 1000, now, graceMs, this.opts.random?.(), answer?.renewable ?? true);
    record.lease = renewal.lease;
    this.held.extend(record.leaseId, this.effectiveLease(record).expiresAt);
    this.metrics.count("Renewals");
    this.opts.log.info("renewed lease", { secret: entry.label, leaseId: record.leaseId, ttlSeconds: seconds, capped: renewal.capped });
    if (afterLeaseRenewal(renewal, now) === "replace") return this.read(entry, deadline);
    entry.onChange?.(record);
    this.opts.onStored?.();
    return record;
  }
}

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
