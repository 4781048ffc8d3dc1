/**
 * `GET /health`: what the extension holds and how its refreshes are going, and from that a status
 * (`ok`, `degraded`, `failing`) with the reasons in plain words. A pure function of the state and
 * `now` (README, "Health and monitoring"). Never a value: names, paths, times and Vault's reasons.
 */
import type { HealthBody, HealthStatus, OutcomeBody } from "../client/wire.ts";
import { usable, type Lease } from "../lease/policy.ts";
import type { Outcomes } from "../outcomes.ts";

export interface TokenSnapshot {
  lease: Lease;
  dead: boolean;
}

export interface SecretSnapshot {
  name: string;
  path: string;
  /** Its effective lease (its own, bounded by its token's); undefined while no value is held. */
  lease: Lease | undefined;
  outcomes: Outcomes;
  /** Served `STALE` since its refreshes started failing. */
  stale: boolean;
}

export interface HealthInput {
  ready: boolean;
  token: TokenSnapshot | undefined;
  tokenOutcomes: Outcomes;
  secrets: SecretSnapshot[];
  vault: Outcomes;
  leases: number;
}

export interface BuildFacts {
  version: string;
  flavor: HealthBody["flavor"];
  mode: string;
  startedAt: number;
}

const RANK: Record<HealthStatus, number> = { ok: 0, degraded: 1, failing: 2 };

/** The status and its reasons; the worst finding decides the status. */
export function assessHealth(input: HealthInput, now: number): { status: HealthStatus; reasons: string[] } {
  const findings: Array<[HealthStatus, string]> = [];
  if (!input.ready) findings.push(["failing", "starting: the login and the first reads of the declared secrets have not finished"]);
  else {
    findings.push(...assessToken(input.token, input.tokenOutcomes, now));
    for (const s of input.secrets) findings.push(...assessSecret(s, now));
  }
  const v = input.vault;
  if (v.failing && findings.length === 0) {
    findings.push(["degraded", `the last ${plural(v.consecutiveFailures, "request")} to Vault failed: ${v.lastError?.message}`]);
  }
  let status: HealthStatus = "ok";
  for (const [s] of findings) if (RANK[s] > RANK[status]) status = s;
  return { status, reasons: findings.map(([, reason]) => reason) };
}

function assessToken(token: TokenSnapshot | undefined, o: Outcomes, now: number): Array<[HealthStatus, string]> {
  const why = o.lastError ? `: ${o.lastError.message}` : "";
  if (!token) return [["failing", `no Vault token${why}`]];
  if (token.dead || !usable(token.lease, now)) {
    const what = token.dead ? "was revoked" : "has expired";
    if (o.failing) return [["failing", `no valid Vault token: it ${what} and logging in again failed${why}`]];
    return [["degraded", `the Vault token ${what}; the next request or invocation logs in again`]];
  }
  if (o.failing) return [["degraded", `renewing the Vault token failed ${times(o.consecutiveFailures)}${why}; it is still valid for ${secondsUntilUnusable(token.lease, now)} s`]];
  return [];
}

function assessSecret(s: SecretSnapshot, now: number): Array<[HealthStatus, string]> {
  const o = s.outcomes;
  const why = o.lastError ? `: ${o.lastError.message}` : "";
  const which = `secret ${s.name} (${s.path})`;
  if (!s.lease) return [["failing", `${which} has no value${why}`]];
  if (!usable(s.lease, now)) {
    if (o.failing) return [["failing", `${which} has expired and reading it again failed${why}`]];
    return [["degraded", `${which} has expired; it is read again at the next request or invocation`]];
  }
  if (!o.failing) return [];
  const left = Number.isFinite(s.lease.expiresAt) ? `its value is still valid for ${secondsUntilUnusable(s.lease, now)} s` : "its value does not expire";
  const stale = s.stale ? " and is served STALE" : "";
  return [["degraded", `refreshing ${which} failed ${times(o.consecutiveFailures)}${why}; ${left}${stale}`]];
}

/** The whole `/health` body. */
export function healthBody(input: HealthInput, build: BuildFacts, now: number): HealthBody {
  const { status, reasons } = assessHealth(input, now);
  const secrets: HealthBody["secrets"] = {};
  for (const s of input.secrets) {
    secrets[s.name] = {
      path: s.path,
      ttl_seconds: s.lease && Number.isFinite(s.lease.expiresAt) ? secondsUntilUnusable(s.lease, now) : null,
      stale: s.stale,
      ...outcomeBody(s.outcomes),
    };
  }
  const t = input.token;
  return {
    status,
    reasons,
    version: build.version,
    flavor: build.flavor,
    mode: build.mode,
    uptime_seconds: Math.max(0, Math.floor((now - build.startedAt) / 1000)),
    token: t ? { ttl_seconds: t.dead ? 0 : Number.isFinite(t.lease.expiresAt) ? secondsUntilUnusable(t.lease, now) : null, renewable: t.lease.renewable, ...outcomeBody(input.tokenOutcomes) } : null,
    secrets,
    leases: input.leases,
    vault: { last_success: iso(input.vault.lastSuccessAt), last_error: errorBody(input.vault), consecutive_failures: input.vault.consecutiveFailures },
  };
}

function outcomeBody(o: Outcomes): OutcomeBody {
  return { last_refresh: iso(o.lastSuccessAt), last_error: errorBody(o), consecutive_failures: o.consecutiveFailures };
}

function errorBody(o: Outcomes): OutcomeBody["last_error"] {
  return o.lastError ? { at: new Date(o.lastError.at).toISOString(), message: o.lastError.message } : null;
}

/** Seconds before it stops being served (its end less the grace period); 0 once past. */
function secondsUntilUnusable(lease: Lease, now: number): number {
  if (!Number.isFinite(lease.expiresAt)) return 0;
  return Math.max(0, Math.floor((lease.expiresAt - lease.graceMs - now) / 1000));
}

function iso(ms: number | undefined): string | null {
  return ms === undefined ? null : new Date(ms).toISOString();
}

function times(n: number): string {
  return n === 1 ? "once" : `${n} times in a row`;
}

function plural(n: number, word: string): string {
  return n === 1 ? word : `${n} ${word}s`;
}
