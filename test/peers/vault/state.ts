/**
 * In-memory state of the Vault test server: namespaces, mounts, tokens and leases.
 *
 * Expiry is evaluated lazily from the wall clock (`Date.now()`) by `sweep()`, which every request
 * and every test accessor runs first. There are no timers, so the server behaves correctly even
 * when it runs inside a process that was just frozen and thawed, and it keeps nothing alive.
 *
 * Lease lifetime follows Vault's expiration manager: a lease dies at its own expiry or when the
 * token that created it dies (revoked or expired), whichever comes first. The revocation is then
 * materialised `leaseRevocationDelayMs` later (default 0); in between, a renewal answers
 * `lease expired`, as Vault does while its revocation is still pending.
 */
import type { AwsAuthBackend } from "./aws-auth.ts";
import { namespaceId as newNamespaceId } from "./ids.ts";
import type {
  LeaseInfo,
  LeaseRevokeReason,
  SecretsEngine,
  TokenInfo,
  TokenRevokeReason,
} from "./types.ts";

/** Per-mount TTL settings in seconds; 0 means "use the system value". */
export interface MountTtlConfig {
  defaultLeaseTtl: number;
  maxLeaseTtl: number;
}

export class NamespaceState {
  /** Secrets engine mounts keyed by path with trailing slash ("secret/"). */
  readonly mounts = new Map<string, MountEntry>();
  /** Auth method mounts keyed by path without the "auth/" prefix ("aws/"). */
  readonly authMounts = new Map<string, AuthMountEntry>();
  customMetadata: Record<string, string> = {};

  constructor(
    /** "" for the root namespace, else the full path with trailing slash ("team1/", "a/b/"). */
    readonly path: string,
    /** "root" for the root namespace, else a 5-character ID. */
    readonly id: string,
    readonly parent: NamespaceState | undefined,
  ) {}

  get isRoot(): boolean {
    return this.path === "";
  }

  /** True when `other` is this namespace or one of its descendants. */
  contains(other: NamespaceState): boolean {
    return other.path.startsWith(this.path);
  }
}

export interface MountEntry {
  path: string;
  type: string;
  description: string;
  accessor: string;
  uuid: string;
  config: MountTtlConfig;
  options: Record<string, string> | null;
  engine: SecretsEngine;
  namespace: NamespaceState;
}

export interface AuthMountEntry {
  path: string;
  type: "aws";
  description: string;
  accessor: string;
  uuid: string;
  config: MountTtlConfig;
  namespace: NamespaceState;
  backend: AwsAuthBackend;
}

/** What the AWS auth backend keeps on a token to re-check the binding at renewal. */
export interface AwsTokenAuth {
  mount: AuthMountEntry;
  roleName: string;
  roleId: string;
  canonicalArn: string;
  clientUserId: string;
  clientArn: string;
}

export interface TokenEntry {
  id: string;
  accessor: string;
  namespace: NamespaceState;
  type: "service" | "batch";
  root: boolean;
  policies: string[];
  tokenPolicies: string[];
  displayName: string;
  metadata: Record<string, string>;
  path: string;
  issuedAtMs: number;
  /** Null for a token without TTL (root). */
  expiresAtMs: number | null;
  maxExpiresAtMs: number | null;
  creationTtl: number;
  /** TTL granted by the last login/renewal. */
  ttl: number;
  explicitMaxTtl: number;
  period: number;
  renewable: boolean;
  orphan: boolean;
  entityId: string;
  numUses: number;
  renewals: number;
  lastRenewalMs?: number;
  revokedAtMs?: number;
  revokeReason?: TokenRevokeReason;
  auth?: AwsTokenAuth;
}

export interface LeaseEntry {
  id: string;
  /** Request path relative to the namespace, e.g. "database/creds/app". */
  path: string;
  namespace: NamespaceState;
  mount: MountEntry;
  issuedAtMs: number;
  expiresAtMs: number;
  maxExpiresAtMs: number | null;
  ttl: number;
  renewable: boolean;
  renewals: number;
  lastRenewalMs?: number;
  token: TokenEntry;
  data: Record<string, unknown>;
  /** Engine-private facts needed at renewal (role name, credential type...). */
  internal: Record<string, string>;
  revokedAtMs?: number;
  revokeReason?: LeaseRevokeReason;
}

export interface VaultStateOptions {
  defaultLeaseTtlSeconds: number;
  maxLeaseTtlSeconds: number;
  leaseRevocationDelayMs: number;
}

export type LeasePhase = "live" | "dying" | "revoked";

/** Issued values shorter than this are not reported by `issuedSecrets()` (KV values only). */
const MIN_KV_SECRET_LENGTH = 6;

export class VaultState {
  readonly root = new NamespaceState("", "root", undefined);
  readonly tokens = new Map<string, TokenEntry>();
  readonly tokensByAccessor = new Map<string, TokenEntry>();
  readonly leases = new Map<string, LeaseEntry>();
  sealed = false;
  private readonly namespacesByPath = new Map<string, NamespaceState>([["", this.root]]);
  private readonly secrets = new Set<string>();

  constructor(readonly options: VaultStateOptions) {}

  // ---- namespaces -------------------------------------------------------------------------

  getNamespace(path: string): NamespaceState | undefined {
    return this.namespacesByPath.get(path);
  }

  allNamespaces(): NamespaceState[] {
    return [...this.namespacesByPath.values()];
  }

  createNamespace(parent: NamespaceState, name: string): NamespaceState {
    const path = `${parent.path}${name}/`;
    const existing = this.namespacesByPath.get(path);
    if (existing) return existing;
    const ns = new NamespaceState(path, newNamespaceId(), parent);
    this.namespacesByPath.set(path, ns);
    return ns;
  }

  deleteNamespace(ns: NamespaceState, nowMs: number): void {
    for (const child of this.allNamespaces()) {
      if (child !== ns && ns.contains(child)) this.deleteNamespace(child, nowMs);
    }
    for (const t of this.tokens.values()) {
      if (t.namespace === ns && t.revokedAtMs === undefined) this.revokeToken(t, "mount-disabled", nowMs);
    }
    for (const l of this.leases.values()) {
      if (l.namespace === ns && l.revokedAtMs === undefined) this.revokeLease(l, "mount-disabled", nowMs);
    }
    this.namespacesByPath.delete(ns.path);
  }

  /** Vault's path-prefix namespace resolution: the deepest existing namespace wins. */
  resolve(fullPath: string): { ns: NamespaceState; rel: string } {
    let best = this.root;
    for (const ns of this.namespacesByPath.values()) {
      if (ns.path.length > best.path.length && fullPath.startsWith(ns.path)) best = ns;
    }
    return { ns: best, rel: fullPath.slice(best.path.length) };
  }

  // ---- TTLs -------------------------------------------------------------------------------

  mountDefaultTtl(config: MountTtlConfig): number {
    return config.defaultLeaseTtl > 0 ? config.defaultLeaseTtl : this.options.defaultLeaseTtlSeconds;
  }

  mountMaxTtl(config: MountTtlConfig): number {
    return config.maxLeaseTtl > 0 ? config.maxLeaseTtl : this.options.maxLeaseTtlSeconds;
  }

  // ---- tokens -----------------------------------------------------------------------------

  addToken(t: TokenEntry): void {
    this.tokens.set(t.id, t);
    if (t.accessor !== "") this.tokensByAccessor.set(t.accessor, t);
    this.recordSecret(t.id);
    this.recordSecret(t.accessor);
  }

  /** A token that is usable now (not revoked, not expired), after sweeping. */
  liveToken(id: string, nowMs: number): TokenEntry | undefined {
    this.sweep(nowMs);
    const t = this.tokens.get(id);
    return t && t.revokedAtMs === undefined ? t : undefined;
  }

  revokeToken(t: TokenEntry, reason: TokenRevokeReason, atMs: number): void {
    if (t.revokedAtMs !== undefined) return;
    t.revokedAtMs = atMs;
    t.revokeReason = reason;
    this.sweep(atMs);
  }

  // ---- leases -----------------------------------------------------------------------------

  addLease(l: LeaseEntry): void {
    this.leases.set(l.id, l);
  }

  revokeLease(l: LeaseEntry, reason: LeaseRevokeReason, atMs: number): void {
    if (l.revokedAtMs !== undefined) return;
    l.revokedAtMs = atMs;
    l.revokeReason = reason;
  }

  /** When the token stops being valid (ms), or null if it never does. */
  private tokenDeathMs(t: TokenEntry): number | null {
    if (t.revokedAtMs !== undefined) return t.revokedAtMs;
    return t.expiresAtMs;
  }

  /** Instant the lease stops being valid: its own expiry or its token's death. */
  leaseDeathMs(l: LeaseEntry): number {
    const tokenDeath = this.tokenDeathMs(l.token);
    return tokenDeath === null ? l.expiresAtMs : Math.min(l.expiresAtMs, tokenDeath);
  }

  leasePhase(l: LeaseEntry, nowMs: number): LeasePhase {
    this.sweep(nowMs);
    if (l.revokedAtMs !== undefined) return "revoked";
    return nowMs >= this.leaseDeathMs(l) ? "dying" : "live";
  }

  private deathReason(l: LeaseEntry): LeaseRevokeReason {
    const tokenDeath = this.tokenDeathMs(l.token);
    if (tokenDeath === null || l.expiresAtMs <= tokenDeath) return "expired";
    const reason = l.token.revokeReason;
    if (reason === undefined || reason === "expired") return "token-expired";
    return "token-revoked";
  }

  /** Materialise every expiry and revocation that the wall clock says has happened. */
  sweep(nowMs: number = Date.now()): void {
    for (const t of this.tokens.values()) {
      if (t.revokedAtMs === undefined && t.expiresAtMs !== null && nowMs >= t.expiresAtMs) {
        t.revokedAtMs = t.expiresAtMs;
        t.revokeReason = "expired";
      }
    }
    const delay = this.options.leaseRevocationDelayMs;
    for (const l of this.leases.values()) {
      if (l.revokedAtMs !== undefined) continue;
      const death = this.leaseDeathMs(l);
      if (nowMs >= death + delay) {
        l.revokeReason = this.deathReason(l);
        l.revokedAtMs = death + delay;
      }
    }
  }

  // ---- issued secrets ---------------------------------------------------------------------

  /** Remember a credential value so that the product's leak scan can look for it. */
  recordSecret(value: string | null | undefined): void {
    if (typeof value === "string" && value !== "") this.secrets.add(value);
  }

  /** Remember the string leaves of a KV secret (values shorter than 6 characters are skipped). */
  recordKvValues(value: unknown): void {
    if (typeof value === "string") {
      if (value.length >= MIN_KV_SECRET_LENGTH) this.secrets.add(value);
    } else if (Array.isArray(value)) {
      for (const v of value) this.recordKvValues(v);
    } else if (value !== null && typeof value === "object") {
      for (const v of Object.values(value)) this.recordKvValues(v);
    }
  }

  issuedSecrets(): string[] {
    return [...this.secrets];
  }

  // ---- snapshots --------------------------------------------------------------------------

  tokenInfo(t: TokenEntry): TokenInfo {
    const info: TokenInfo = {
      accessor: t.accessor,
      displayName: t.displayName,
      policies: [...t.policies],
      issuedAt: t.issuedAtMs,
      expiresAt: t.expiresAtMs,
      maxExpiresAt: t.maxExpiresAtMs,
      renewable: t.renewable,
      metadata: { ...t.metadata },
      path: t.path,
      ttlSeconds: t.ttl,
      type: t.type,
      namespace: t.namespace.path,
      renewals: t.renewals,
      entityId: t.entityId,
    };
    if (t.lastRenewalMs !== undefined) info.lastRenewedAt = t.lastRenewalMs;
    if (t.revokedAtMs !== undefined) info.revokedAt = t.revokedAtMs;
    if (t.revokeReason !== undefined) info.revokeReason = t.revokeReason;
    if (t.auth) info.role = t.auth.roleName;
    return info;
  }

  leaseInfo(l: LeaseEntry): LeaseInfo {
    const info: LeaseInfo = {
      leaseId: l.id,
      path: l.path,
      namespace: l.namespace.path,
      issuedAt: l.issuedAtMs,
      expiresAt: l.expiresAtMs,
      maxExpiresAt: l.maxExpiresAtMs,
      renewable: l.renewable,
      ttlSeconds: l.ttl,
      renewals: l.renewals,
      tokenAccessor: l.token.accessor,
      data: structuredClone(l.data),
    };
    if (l.lastRenewalMs !== undefined) info.lastRenewedAt = l.lastRenewalMs;
    if (l.revokedAtMs !== undefined) info.revokedAt = l.revokedAtMs;
    if (l.revokeReason !== undefined) info.revokeReason = l.revokeReason;
    return info;
  }
}
