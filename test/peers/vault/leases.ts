/**
 * Lease issuance and renewal shared by the dynamic engines (database, AWS), plus the
 * `sys/leases/*` endpoints (vault-wire-protocol.md §3).
 *
 * Issue: TTL = backend TTL or mount default, capped at min(backend max, mount max), as Vault's
 * request handling does for a new secret. Leases created with a batch token are capped at the
 * token's remaining life. Renew: `calculateTtl` from the original issue time (increment counted
 * from now, capped with Vault's warning). Any valid token may renew or revoke any lease it can see
 * (Vault checks ACLs on sys/leases/*, not lease ownership, and this server enforces no ACLs).
 */
import { rfc3339Nano } from "./clock.ts";
import { badRequest, notFound, permissionDenied, unsupportedOperation, unsupportedPath } from "./errors.ts";
import { getBool, getDuration, getString, NO_CONTENT, ok } from "./fields.ts";
import { leaseSuffix } from "./ids.ts";
import type { LeaseEntry, NamespaceState, TokenEntry, VaultState } from "./state.ts";
import { calculateTtl, PastMaxTtlError } from "./ttl.ts";
import type { EngineRequest, HandlerResult, RenewOutcome, VaultRequest } from "./types.ts";

export interface IssueLeaseInput {
  data: Record<string, unknown>;
  /** Backend TTL in seconds (0 = mount default). */
  ttl: number;
  /** Backend max TTL in seconds (0 = mount max). */
  maxTtl: number;
  renewable: boolean;
  internal: Record<string, string>;
}

function batchCap(token: TokenEntry, ttl: number, nowMs: number): number {
  if (token.type !== "batch" || token.expiresAtMs === null) return ttl;
  return Math.max(0, Math.min(ttl, Math.floor((token.expiresAtMs - nowMs) / 1000)));
}

/** Registers a lease for a secret read through `req` and returns it. */
export function issueLease(req: EngineRequest, input: IssueLeaseInput): LeaseEntry {
  const state = req.state;
  const now = Date.now();
  const mountMax = state.mountMaxTtl(req.mount.config);
  const max = input.maxTtl > 0 && input.maxTtl < mountMax ? input.maxTtl : mountMax;
  let ttl = input.ttl > 0 ? input.ttl : state.mountDefaultTtl(req.mount.config);
  if (ttl > max) ttl = max;
  ttl = batchCap(req.token, ttl, now);
  const nsId = req.ns.isRoot ? undefined : req.ns.id;
  const lease: LeaseEntry = {
    id: `${req.relPath.replace(/\/+$/, "")}/${leaseSuffix(nsId)}`,
    path: req.relPath,
    namespace: req.ns,
    mount: req.mount,
    issuedAtMs: now,
    expiresAtMs: now + ttl * 1000,
    maxExpiresAtMs: Math.floor(now / 1000) * 1000 + max * 1000,
    ttl,
    renewable: input.renewable,
    renewals: 0,
    token: req.token,
    data: structuredClone(input.data),
    internal: input.internal,
  };
  state.addLease(lease);
  return lease;
}

/** The renew rule for a secret lease given the backend's current TTL settings. */
export function renewSecretLease(
  state: VaultState,
  lease: LeaseEntry,
  increment: number,
  nowMs: number,
  backendTtl: number,
  backendMaxTtl: number,
): RenewOutcome {
  try {
    const r = calculateTtl({
      nowMs,
      startMs: lease.issuedAtMs,
      increment,
      backendTtl,
      period: 0,
      backendMaxTtl,
      explicitMaxTtl: 0,
      mountDefaultTtl: state.mountDefaultTtl(lease.mount.config),
      mountMaxTtl: state.mountMaxTtl(lease.mount.config),
    });
    return { ...r, ttl: batchCap(lease.token, r.ttl, nowMs) };
  } catch (e) {
    if (e instanceof PastMaxTtlError) throw badRequest(e.message);
    throw e;
  }
}

/** A lease visible from `ns`: created in `ns` or one of its descendants. */
function findLease(state: VaultState, ns: NamespaceState, id: string): LeaseEntry | undefined {
  const lease = state.leases.get(id);
  return lease && ns.contains(lease.namespace) ? lease : undefined;
}

function leaseIdFrom(req: VaultRequest, urlId: string): string {
  const id = getString(req.data, "lease_id") || urlId;
  if (id === "") throw badRequest("lease_id must be specified");
  return id;
}

function renew(req: VaultRequest, urlId: string): HandlerResult {
  const id = leaseIdFrom(req, urlId);
  const increment = getDuration(req.data, "increment");
  const now = Date.now();
  const state = req.state;
  const lease = findLease(state, req.ns, id);
  if (!lease) throw badRequest("lease not found");
  const phase = state.leasePhase(lease, now);
  if (phase === "revoked") throw badRequest("lease not found");
  if (phase === "dying") throw badRequest("lease expired");
  if (!lease.renewable) throw badRequest("lease is not renewable");
  const renewHook = lease.mount.engine.renewLease;
  if (!renewHook) throw badRequest("lease is not renewable");
  const outcome = renewHook.call(lease.mount.engine, lease, increment, now);
  lease.ttl = outcome.ttl;
  lease.expiresAtMs = now + outcome.ttl * 1000;
  if (outcome.maxValidAtMs !== null) lease.maxExpiresAtMs = outcome.maxValidAtMs;
  lease.lastRenewalMs = now;
  lease.renewals += 1;
  return ok({
    leaseId: lease.id,
    renewable: true,
    leaseDuration: outcome.ttl,
    warnings: outcome.warnings,
    mountType: "system",
  });
}

function lookup(req: VaultRequest): HandlerResult {
  const id = getString(req.data, "lease_id");
  if (id === "") throw badRequest("lease_id must be specified");
  const now = Date.now();
  const lease = findLease(req.state, req.ns, id);
  if (!lease || req.state.leasePhase(lease, now) === "revoked") throw badRequest("invalid lease");
  const dying = req.state.leasePhase(lease, now) === "dying";
  return ok({
    data: {
      id: lease.id,
      issue_time: rfc3339Nano(lease.issuedAtMs),
      expire_time: rfc3339Nano(lease.expiresAtMs),
      last_renewal: lease.lastRenewalMs === undefined ? null : rfc3339Nano(lease.lastRenewalMs),
      renewable: lease.renewable && !dying,
      ttl: Math.max(0, Math.round((lease.expiresAtMs - now) / 1000)),
      path: lease.path,
    },
    mountType: "system",
  });
}

function revoke(req: VaultRequest, urlId: string): HandlerResult {
  const id = leaseIdFrom(req, urlId);
  const sync = req.data["sync"] === undefined ? true : getBool(req.data, "sync", true);
  const now = Date.now();
  const lease = findLease(req.state, req.ns, id);
  if (lease) {
    req.state.sweep(now);
    req.state.revokeLease(lease, "explicit", now);
  }
  return sync ? NO_CONTENT : { status: 202 };
}

function revokePrefix(req: VaultRequest, prefix: string): HandlerResult {
  if (!req.token?.root) throw permissionDenied();
  const now = Date.now();
  req.state.sweep(now);
  for (const lease of req.state.leases.values()) {
    if (lease.namespace === req.ns && lease.id.startsWith(prefix)) req.state.revokeLease(lease, "explicit", now);
  }
  return NO_CONTENT;
}

/** `sys/leases/*`, `sys/renew[/<id>]`, `sys/revoke[/<id>]`; `sub` is the path after "sys/". */
export function handleLeasePath(req: VaultRequest, sub: string): HandlerResult {
  const write = req.op === "update";
  const m = /^(?:leases\/renew|renew)(?:\/(.*))?$/.exec(sub);
  if (m) {
    if (!write) throw unsupportedOperation();
    return renew(req, m[1] ?? "");
  }
  const r = /^(?:leases\/revoke|revoke)(?:\/(.*))?$/.exec(sub);
  if (r) {
    if (!write) throw unsupportedOperation();
    return revoke(req, r[1] ?? "");
  }
  const p = /^leases\/revoke-(?:prefix|force)\/(.*)$/.exec(sub);
  if (p) {
    if (!write) throw unsupportedOperation();
    return revokePrefix(req, p[1] ?? "");
  }
  if (sub === "leases/lookup") {
    if (!write) throw unsupportedOperation();
    return lookup(req);
  }
  const l = /^leases\/lookup\/?(.*)$/.exec(sub);
  if (l && req.op === "list") {
    if (!req.token?.root) throw permissionDenied();
    let prefix = l[1] ?? "";
    if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
    const now = Date.now();
    req.state.sweep(now);
    const keys = new Set<string>();
    for (const lease of req.state.leases.values()) {
      if (lease.revokedAtMs !== undefined || lease.namespace !== req.ns || !lease.id.startsWith(prefix)) continue;
      const rest = lease.id.slice(prefix.length);
      const slash = rest.indexOf("/");
      keys.add(slash >= 0 ? rest.slice(0, slash + 1) : rest);
    }
    if (keys.size === 0) throw notFound();
    return ok({ data: { keys: [...keys].sort() }, mountType: "system" });
  }
  throw unsupportedPath();
}
