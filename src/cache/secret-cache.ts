/**
 * Lease-aware cache of what the extension read from Vault: declared secrets and cached proxy reads.
 *
 * Every decision is taken from the wall clock when it is needed (a request, an INVOKE), by the pure
 * policy in ../lease/policy.ts. One refresh per key at a time: callers that need the same key join
 * the request already in flight. A value is served until its lease, bounded by the lease of the
 * token that read it, enters the grace period; never after.
 */
import type { Logger, Redactor } from "../log.ts";
import { afterRenewal, boundedBy, decide, planLease, planStatic, usable, type Lease, type LeaseAction } from "../lease/policy.ts";
import { VaultError, type VaultClient, type RawResponse } from "../vault/client.ts";
import type { TokenManager, TokenState } from "../vault/token.ts";

/** What Vault answered for a read, and when it stops being servable. */
export interface SecretRecord {
  path: string;
  response: RawResponse;
  json: VaultSecretJson;
  /** The secret's key/value map (KV v2 unwrapped from `data.data`). */
  data: Record<string, unknown>;
  /** KV v2 metadata (version, created_time...), when present. */
  metadata?: Record<string, unknown>;
  leaseId: string;
  /** Duration Vault first granted, in seconds: the increment asked for on renewal. */
  leaseDurationS: number;
  token: TokenState;
  /** The secret's own lease (see `effectiveLease` for the one that counts). */
  lease: Lease;
  readAt: number;
}

export interface VaultSecretJson {
  request_id?: string;
  lease_id?: string;
  renewable?: boolean;
  lease_duration?: number;
  data?: Record<string, unknown> | null;
  warnings?: string[] | null;
}

export type CacheStatus = "HIT" | "MISS" | "STALE";

export interface CacheAnswer {
  record: SecretRecord;
  status: CacheStatus;
}

/** A request to the cache that could not be answered with a servable value. */
export class CacheTimeoutError extends Error {
  constructor(what: string, ms: number) {
    super(`Vault did not answer the read of ${what} within ${ms} ms`);
    this.name = "CacheTimeoutError";
  }
}

export interface EntrySpec {
  key: string;
  /** For logs and messages: the secret's name or the proxied path. */
  label: string;
  path: string;
  /**
   * `declared`: a secret of VAULT_SECRET_PATH_*: a lease-less value never expires and is re-read
   * behind the held one when older than `staticTtlMs` (0 = never).
   * `proxy`: a cached proxy read: a lease-less value expires after `staticTtlMs` and is not
   * refreshed ahead (the next request reads it again).
   */
  kind: "declared" | "proxy";
  staticTtlMs: number;
  /** Called whenever a refresh replaced the value (file mode rewrites its file). */
  onChange?: (record: SecretRecord) => void;
}

interface Entry extends EntrySpec {
  value?: SecretRecord;
  pending?: Promise<SecretRecord>;
}

interface HeldLease {
  leaseId: string;
  path: string;
  token: TokenState;
  expiresAt: number;
}

export interface SecretCacheOptions {
  client: VaultClient;
  tokens: TokenManager;
  log: Logger;
  redactor: Redactor;
  graceMs: number;
  /** How long a caller waits for a refresh before it gets the stale value or a 504. */
  waitMs: number;
}

export class SecretCache {
  private readonly entries = new Map<string, Entry>();
  private readonly held = new Map<string, HeldLease>();

  constructor(private readonly opts: SecretCacheOptions) {}

  define(spec: EntrySpec): void {
    const existing = this.entries.get(spec.key);
    if (existing) Object.assign(existing, spec);
    else this.entries.set(spec.key, { ...spec });
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  peek(key: string): SecretRecord | undefined {
    return this.entries.get(key)?.value;
  }

  get size(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.value) n++;
    return n;
  }

  /** Leases held and still alive, for `/health` and shutdown. */
  get liveLeases(): HeldLease[] {
    const now = Date.now();
    return [...this.held.values()].filter((l) => !l.token.dead && l.expiresAt > now);
  }

  /** The lease that decides whether a record may be served: its own, bounded by its token's. */
  effectiveLease(record: SecretRecord): Lease {
    return boundedBy(record.lease, record.token.dead ? 0 : record.token.lease.expiresAt);
  }

  /** What the policy says for an entry now. A value read under a replaced token is re-read. */
  actionFor(key: string, now = Date.now()): LeaseAction {
    const entry = this.entries.get(key);
    if (!entry?.value) return "replace";
    const action = decide(this.effectiveLease(entry.value), now);
    if (action === "keep" && entry.value.token !== this.opts.tokens.current) return "replace";
    if (action === "renew" && entry.value.token !== this.opts.tokens.current) return "replace";
    return action;
  }

  /**
   * The held value when it can be served as it is, decided without allocating (the hot path): read
   * under the current token, before its refresh point and before its token's grace period (what
   * `actionFor` calls "keep").
   */
  fresh(key: string, now = Date.now()): SecretRecord | undefined {
    const held = this.entries.get(key)?.value;
    if (!held || held.token !== this.opts.tokens.current || held.token.dead) return undefined;
    return now < held.lease.refreshAt && now < held.token.lease.expiresAt - held.lease.graceMs ? held : undefined;
  }

  /**
   * For a handler's request: the held value when it is fresh; otherwise start (or join) the
   * refresh and wait for it, up to `waitMs`; when that fails, the held value if it is still valid
   * (STALE), else the error.
   */
  async get(key: string, opts: { force?: boolean } = {}): Promise<CacheAnswer> {
    const entry = this.mustGet(key);
    const held = entry.value;
    const now = Date.now();
    if (!opts.force && this.fresh(key, now)) return { record: held!, status: "HIT" };
    if (held && !opts.force && usable(this.effectiveLease(held), now)) {
      const action = this.actionFor(key, now);
      if (action === "keep") return { record: held, status: "HIT" };
      // A lease-less value cannot expire: serve it and re-read behind it.
      if (!Number.isFinite(held.lease.expiresAt) && held.token === this.opts.tokens.current && !held.token.dead) {
        this.refresh(key, "replace").catch(() => undefined);
        return { record: held, status: "HIT" };
      }
    }
    const action: LeaseAction = opts.force || !held ? "replace" : this.actionFor(key, now);
    try {
      const record = await withTimeout(this.refresh(key, action === "keep" ? "replace" : action), this.opts.waitMs, entry.label);
      return { record, status: "MISS" };
    } catch (err) {
      const current = entry.value;
      if (current && usable(this.effectiveLease(current), Date.now())) {
        this.opts.log.warn("serving a still-valid value after a failed refresh", { secret: entry.label, error: describe(err) });
        return { record: current, status: "STALE" };
      }
      throw err;
    }
  }

  /**
   * Refreshes one entry (renew or re-read), sharing the request with every concurrent caller.
   */
  refresh(key: string, action: Exclude<LeaseAction, "keep">, deadline?: number): Promise<SecretRecord> {
    const entry = this.mustGet(key);
    if (entry.pending) return entry.pending;
    const run = action === "renew" && entry.value ? this.renew(entry, entry.value, deadline) : this.read(entry, deadline);
    entry.pending = run.finally(() => {
      entry.pending = undefined;
    });
    return entry.pending;
  }

  /** At INVOKE: every entry past its refresh point is renewed or re-read, concurrently. */
  async freshen(deadline: number): Promise<{ refreshed: number; failed: number }> {
    const now = Date.now();
    const due: Array<[string, Exclude<LeaseAction, "keep">]> = [];
    for (const [key, entry] of this.entries) {
      if (!entry.value) continue;
      if (entry.kind === "proxy" && !entry.value.leaseId) continue;
      const action = this.actionFor(key, now);
      if (action !== "keep") due.push([key, action]);
    }
    const results = await Promise.allSettled(due.map(([key, action]) => this.refresh(key, action, deadline)));
    const failed = results.filter((r) => r.status === "rejected").length;
    for (const r of results) if (r.status === "rejected") this.opts.log.warn("refresh at INVOKE failed", { error: describe(r.reason) });
    return { refreshed: results.length - failed, failed };
  }

  /** Drops values that can no longer be served and will not be refreshed (cached proxy reads). */
  evictExpired(isDisposable: (key: string) => boolean): void {
    const now = Date.now();
    for (const [key, entry] of this.entries) {
      if (!isDisposable(key) || entry.pending) continue;
      if (!entry.value || !usable(this.effectiveLease(entry.value), now)) this.entries.delete(key);
    }
  }

  /** Revokes every lease still held (`sys/leases/revoke`), in parallel. */
  async revokeAll(deadline: number): Promise<{ revoked: number; failed: number }> {
    const leases = this.liveLeases;
    const results = await Promise.allSettled(
      leases.map(async (l) => {
        const token = this.opts.tokens.current && !this.opts.tokens.current.dead ? this.opts.tokens.current : l.token;
        try {
          await this.opts.client.request({ method: "PUT", path: "sys/leases/revoke", token: token.clientToken, body: { lease_id: l.leaseId }, deadline, retries: 1 });
        } catch (err) {
          // A lease whose token is gone is gone too.
          if (!(err instanceof VaultError && err.permissionDenied)) throw err;
        }
        this.held.delete(l.leaseId);
      }),
    );
    const failed = results.filter((r) => r.status === "rejected").length;
    return { revoked: leases.length - failed, failed };
  }

  private mustGet(key: string): Entry {
    const entry = this.entries.get(key);
    if (!entry) throw new Error(`no cache entry ${key}`);
    return entry;
  }

  private async read(entry: Entry, deadline?: number): Promise<SecretRecord> {
    const { client, tokens } = this.opts;
    const record = await tokens.withToken(async (token) => {
      const response = await client.send({ method: "GET", path: entry.path, token: token.clientToken, deadline });
      if (response.status < 200 || response.status >= 300) throw statusError("GET", entry.path, response);
      return this.toRecord(entry, response, token);
    }, deadline);
    entry.value = record;
    if (record.leaseId) this.held.set(record.leaseId, { leaseId: record.leaseId, path: record.path, token: record.token, expiresAt: this.effectiveLease(record).expiresAt });
    this.opts.log.debug("read secret", { secret: entry.label, path: entry.path, leaseId: record.leaseId || undefined, ttlSeconds: record.leaseDurationS });
    entry.onChange?.(record);
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
      if (err instanceof VaultError && err.transient) throw err;
      // Not found, expired, not renewable, or our token is gone: only a new read helps.
      this.opts.log.info("lease renewal refused; reading the secret again", { secret: entry.label, error: describe(err) });
      if (err instanceof VaultError && err.permissionDenied) tokens.markDead(record.token);
      return this.read(entry, deadline);
    }
    const seconds = answer?.lease_duration ?? 0;
    const lease = afterRenewal(seconds * 1000, record.leaseDurationS * 1000, Date.now(), graceMs);
    record.lease = { ...lease, renewable: lease.renewable && (answer?.renewable ?? true) };
    const held = this.held.get(record.leaseId);
    if (held) held.expiresAt = this.effectiveLease(record).expiresAt;
    this.opts.log.debug("renewed lease", { secret: entry.label, leaseId: record.leaseId, ttlSeconds: seconds, capped: lease.capped });
    if (lease.capped && decide(record.lease, Date.now()) === "replace") return this.read(entry, deadline);
    entry.onChange?.(record);
    return record;
  }

  private toRecord(entry: Entry, response: RawResponse, token: TokenState): SecretRecord {
    let json: VaultSecretJson;
    try {
      json = JSON.parse(response.body.toString("utf8")) as VaultSecretJson;
    } catch {
      throw new VaultError("status", "GET", entry.path, response.status, ["Vault's answer is not JSON"]);
    }
    const { data, metadata } = unwrap(json.data);
    this.opts.redactor.addAll(data);
    const now = Date.now();
    const leaseId = json.lease_id ?? "";
    const leaseDurationS = json.lease_duration ?? 0;
    const lease = leaseId
      ? planLease(leaseDurationS * 1000, now, json.renewable ?? false, this.opts.graceMs)
      : entry.kind === "proxy"
        ? { obtainedAt: now, expiresAt: now + entry.staticTtlMs, refreshAt: now + entry.staticTtlMs, renewable: false, graceMs: 0 }
        : planStatic(now, entry.staticTtlMs);
    return { path: entry.path, response, json, data, metadata, leaseId, leaseDurationS, token, lease, readAt: now };
  }
}

/** KV v2 wraps the secret in `data.data` next to `data.metadata`. */
export function unwrap(data: Record<string, unknown> | null | undefined): { data: Record<string, unknown>; metadata?: Record<string, unknown> } {
  if (!data) return { data: {} };
  const inner = data.data;
  const metadata = data.metadata;
  if (inner && typeof inner === "object" && !Array.isArray(inner) && metadata && typeof metadata === "object" && "version" in metadata) {
    return { data: inner as Record<string, unknown>, metadata: metadata as Record<string, unknown> };
  }
  return { data };
}

function statusError(method: string, path: string, response: RawResponse): VaultError {
  let errors: string[] = [];
  let warnings: string[] = [];
  try {
    const parsed = JSON.parse(response.body.toString("utf8")) as { errors?: unknown; warnings?: unknown };
    if (Array.isArray(parsed.errors)) errors = parsed.errors.filter((e): e is string => typeof e === "string");
    // Vault's hints come as warnings (a KV v2 path without data/ is a 404 whose only words are one).
    if (Array.isArray(parsed.warnings)) warnings = parsed.warnings.filter((w): w is string => typeof w === "string");
  } catch {
    /* not JSON */
  }
  if (response.status === 404 && errors.length === 0) errors = [`no secret at ${path}`];
  errors.push(...warnings);
  const err = new VaultError("status", method, path, response.status, errors);
  err.response = response;
  return err;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new CacheTimeoutError(what, ms)), ms);
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

export function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
