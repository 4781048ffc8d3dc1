/**
 * The token store: token creation at login, and the `auth/token/*` endpoints the product uses
 * (lookup-self, renew-self, revoke-self; plus lookup, lookup-accessor, revoke and revoke-accessor
 * for tests). Semantics follow vault-wire-protocol.md §2 and Vault's expiration manager:
 *
 * - renewal TTL = `calculateTtl` with the backend's CURRENT role values, counted from now and
 *   capped at the max TTL measured from the ISSUE time, with Vault's warning;
 * - the AWS auth backend re-checks the role binding on renewal; a failure is a Go error → 500;
 * - revoking a token (or its expiry) kills every lease it created (see state.ts).
 */
import { rfc3339Nano } from "./clock.ts";
import { badRequest, goError, internalError, permissionDenied, unsupportedOperation, unsupportedPath } from "./errors.ts";
import { getDuration, getString, NO_CONTENT, ok } from "./fields.ts";
import { batchToken, serviceToken, tokenAccessor } from "./ids.ts";
import type { AuthMountEntry, AwsTokenAuth, NamespaceState, TokenEntry, VaultState } from "./state.ts";
import { calculateTtl, PastMaxTtlError } from "./ttl.ts";
import type { HandlerResult, VaultRequest } from "./types.ts";

/** Creates the root token (no TTL, policy "root", valid in every namespace). */
export function createRootToken(state: VaultState, id: string, nowMs: number): TokenEntry {
  const t: TokenEntry = {
    id,
    accessor: tokenAccessor(),
    namespace: state.root,
    type: "service",
    root: true,
    policies: ["root"],
    tokenPolicies: ["root"],
    displayName: "root",
    metadata: {},
    path: "auth/token/root",
    issuedAtMs: nowMs,
    expiresAtMs: null,
    maxExpiresAtMs: null,
    creationTtl: 0,
    ttl: 0,
    explicitMaxTtl: 0,
    period: 0,
    renewable: false,
    orphan: true,
    entityId: "",
    numUses: 0,
    renewals: 0,
  };
  state.addToken(t);
  return t;
}

export interface LoginTokenInput {
  ns: NamespaceState;
  mount: AuthMountEntry;
  /** Backend display name (without the mount prefix). */
  displayName: string;
  policies: string[];
  metadata: Record<string, string>;
  roleTtl: number;
  roleMaxTtl: number;
  period: number;
  explicitMaxTtl: number;
  tokenType: "service" | "batch";
  numUses: number;
  entityId: string;
  auth: AwsTokenAuth;
  nowMs: number;
}

/** Vault's LoginCreateToken: TTL via calculateTtl, display name prefixed with the mount path. */
export function issueLoginToken(state: VaultState, input: LoginTokenInput): { token: TokenEntry; warnings: string[] } {
  const ttl = calculateTtl({
    nowMs: input.nowMs,
    increment: 0,
    backendTtl: input.roleTtl,
    period: input.period,
    backendMaxTtl: input.roleMaxTtl,
    explicitMaxTtl: input.explicitMaxTtl,
    mountDefaultTtl: state.mountDefaultTtl(input.mount.config),
    mountMaxTtl: state.mountMaxTtl(input.mount.config),
  });
  const nsId = input.ns.isRoot ? undefined : input.ns.id;
  const batch = input.tokenType === "batch";
  const source = input.mount.path.replace(/\//g, "-");
  const t: TokenEntry = {
    id: batch ? batchToken(nsId) : serviceToken(nsId),
    accessor: batch ? "" : tokenAccessor(nsId),
    namespace: input.ns,
    type: input.tokenType,
    root: false,
    policies: input.policies,
    tokenPolicies: input.policies,
    displayName: `${source}${input.displayName}`.replace(/-+$/, ""),
    metadata: input.metadata,
    path: `auth/${input.mount.path}login`,
    issuedAtMs: input.nowMs,
    expiresAtMs: input.nowMs + ttl.ttl * 1000,
    maxExpiresAtMs: ttl.maxValidAtMs,
    creationTtl: ttl.ttl,
    ttl: ttl.ttl,
    explicitMaxTtl: input.explicitMaxTtl,
    period: input.period,
    renewable: !batch,
    orphan: true,
    entityId: input.entityId,
    numUses: input.numUses,
    renewals: 0,
    auth: input.auth,
  };
  state.addToken(t);
  return { token: t, warnings: ttl.warnings };
}

/** The `auth` block of a login or renew-self response. */
export function authBlock(t: TokenEntry, leaseDuration: number): Record<string, unknown> {
  return {
    client_token: t.id,
    accessor: t.accessor,
    policies: [...t.policies],
    token_policies: [...t.tokenPolicies],
    metadata: Object.keys(t.metadata).length > 0 ? { ...t.metadata } : null,
    lease_duration: leaseDuration,
    renewable: t.renewable,
    entity_id: t.entityId,
    token_type: t.type,
    orphan: t.orphan,
    mfa_requirement: null,
    num_uses: t.numUses,
  };
}

/** `data` of auth/token/lookup(-self). */
export function lookupData(t: TokenEntry, nowMs: number): Record<string, unknown> {
  const data: Record<string, unknown> = {
    accessor: t.accessor,
    creation_time: Math.floor(t.issuedAtMs / 1000),
    creation_ttl: t.creationTtl,
    display_name: t.displayName,
    entity_id: t.entityId,
    expire_time: t.expiresAtMs === null ? null : rfc3339Nano(t.expiresAtMs),
    explicit_max_ttl: t.explicitMaxTtl,
    id: t.id,
    issue_time: rfc3339Nano(t.issuedAtMs),
    meta: Object.keys(t.metadata).length > 0 ? { ...t.metadata } : null,
    num_uses: t.numUses,
    orphan: t.orphan,
    path: t.path,
    policies: [...t.policies],
    renewable: t.renewable,
    ttl: t.expiresAtMs === null ? 0 : Math.max(0, Math.round((t.expiresAtMs - nowMs) / 1000)),
    type: t.type,
  };
  if (t.period > 0) data["period"] = t.period;
  if (t.lastRenewalMs !== undefined) {
    data["last_renewal_time"] = Math.floor(t.lastRenewalMs / 1000);
    data["last_renewal"] = rfc3339Nano(t.lastRenewalMs);
  }
  if (t.auth) data["role"] = t.auth.roleName;
  if (!t.namespace.isRoot) data["namespace_path"] = t.namespace.path;
  return data;
}

/** Renews a token as `auth/token/renew-self` does. Throws VaultHttpError on refusal. */
export function renewToken(state: VaultState, t: TokenEntry, increment: number, nowMs: number): HandlerResult {
  if (t.type === "batch") throw badRequest("batch tokens cannot be renewed");
  if (!t.renewable || t.expiresAtMs === null) throw badRequest("lease is not renewable");
  let backendTtl = 0;
  let backendMaxTtl = 0;
  let period = t.period;
  // The explicit max TTL stays the one stored on the token; role changes do not affect it.
  const explicitMaxTtl = t.explicitMaxTtl;
  const mountConfig = t.auth?.mount.config ?? { defaultLeaseTtl: 0, maxLeaseTtl: 0 };
  if (t.auth) {
    let role;
    try {
      role = t.auth.mount.backend.renewCheck(t.auth);
    } catch (e) {
      throw internalError(`failed to renew entry: ${(e as Error).message}`);
    }
    backendTtl = role.ttl;
    backendMaxTtl = role.maxTtl;
    period = role.period;
  }
  let result;
  try {
    result = calculateTtl({
      nowMs,
      startMs: t.issuedAtMs,
      increment,
      backendTtl,
      period,
      backendMaxTtl,
      explicitMaxTtl,
      mountDefaultTtl: state.mountDefaultTtl(mountConfig),
      mountMaxTtl: state.mountMaxTtl(mountConfig),
    });
  } catch (e) {
    if (e instanceof PastMaxTtlError) throw internalError(e.message);
    throw e;
  }
  t.ttl = result.ttl;
  t.period = period;
  t.expiresAtMs = nowMs + result.ttl * 1000;
  t.maxExpiresAtMs = result.maxValidAtMs;
  t.lastRenewalMs = nowMs;
  t.renewals += 1;
  return ok({ auth: authBlock(t, result.ttl), warnings: result.warnings, mountType: "token" });
}

function revoke(state: VaultState, t: TokenEntry, reason: "explicit" | "external", nowMs: number): HandlerResult {
  if (t.type === "batch") throw badRequest("batch tokens cannot be revoked");
  state.revokeToken(t, reason, nowMs);
  return NO_CONTENT;
}

/** Dispatches `auth/token/<sub>`. `req.token` is the authenticated caller. */
export function handleTokenPath(req: VaultRequest, sub: string): HandlerResult {
  const caller = req.token;
  if (!caller) throw permissionDenied();
  const now = Date.now();
  const state = req.state;
  const write = req.op === "update";
  switch (sub) {
    case "lookup-self":
      if (req.op !== "read" && !write) throw unsupportedOperation();
      return ok({ data: lookupData(caller, now), mountType: "token" });
    case "renew-self":
      if (!write) throw unsupportedOperation();
      return renewToken(state, caller, getDuration(req.data, "increment"), now);
    case "revoke-self":
      if (!write) throw unsupportedOperation();
      return revoke(state, caller, "explicit", now);
    case "lookup":
    case "revoke": {
      if (!write && !(sub === "lookup" && req.op === "read")) throw unsupportedOperation();
      const id = getString(req.data, "token");
      if (id === "") throw badRequest("missing token ID");
      const t = state.liveToken(id, now);
      if (sub === "lookup") {
        if (!t) throw badRequest("bad token");
        return ok({ data: lookupData(t, now), mountType: "token" });
      }
      if (!t) return NO_CONTENT;
      return revoke(state, t, "explicit", now);
    }
    case "lookup-accessor":
    case "revoke-accessor": {
      if (!write) throw unsupportedOperation();
      const accessor = getString(req.data, "accessor");
      if (accessor === "") throw badRequest("missing accessor");
      state.sweep(now);
      const t = state.tokensByAccessor.get(accessor);
      const live = t && t.revokedAtMs === undefined ? t : undefined;
      if (sub === "lookup-accessor") {
        if (!live) throw badRequest(goError("invalid accessor"));
        const data = lookupData(live, now);
        data["id"] = "";
        return ok({ data, mountType: "token" });
      }
      if (!live) throw badRequest(goError("invalid accessor"));
      return revoke(state, live, "explicit", now);
    }
    default:
      throw unsupportedPath();
  }
}
