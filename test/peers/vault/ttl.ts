/**
 * Port of Vault's `framework.CalculateTTL` (sdk/framework/lease.go), the single rule Vault uses
 * for the TTL of a new token, a token renewal and a secret lease renewal:
 *
 * - times are truncated to whole seconds;
 * - max = min(mount max, backend max, explicit max), measured from the ORIGINAL issue time;
 * - a period replaces the TTL and is capped only by the explicit max;
 * - otherwise TTL = increment, else backend TTL, else mount default, counted from now;
 * - past the max → error; over the max → capped with Vault's warning.
 */
import { goDurationString } from "./clock.ts";

export interface TtlInput {
  /** Wall-clock now (ms). */
  nowMs: number;
  /** Issue time of the token or lease (ms); undefined for a new one (= now). */
  startMs?: number;
  /** Requested increment in seconds (0 = none). */
  increment: number;
  /** Backend TTL (role default) in seconds (0 = none). */
  backendTtl: number;
  /** Token period in seconds (0 = none). */
  period: number;
  /** Backend max TTL (role max) in seconds (0 = none). */
  backendMaxTtl: number;
  /** Explicit max TTL in seconds (0 = none). */
  explicitMaxTtl: number;
  /** Effective default lease TTL of the mount (seconds). */
  mountDefaultTtl: number;
  /** Effective max lease TTL of the mount (seconds). */
  mountMaxTtl: number;
}

export interface TtlResult {
  ttl: number;
  warnings: string[];
  /** The instant beyond which this lease can never be renewed (ms), or null when unbounded. */
  maxValidAtMs: number | null;
}

/** Vault returns this Go error when the max TTL already lies in the past. */
export class PastMaxTtlError extends Error {
  constructor() {
    super("past the max TTL, cannot renew");
  }
}

export function calculateTtl(input: TtlInput): TtlResult {
  const now = Math.floor(input.nowMs / 1000) * 1000;
  const start = input.startMs === undefined ? now : Math.floor(input.startMs / 1000) * 1000;

  let maxTtl = input.mountMaxTtl;
  if (input.backendMaxTtl > 0 && input.backendMaxTtl < maxTtl) maxTtl = input.backendMaxTtl;
  if (input.explicitMaxTtl > 0 && input.explicitMaxTtl < maxTtl) maxTtl = input.explicitMaxTtl;
  if (maxTtl <= 0) throw new Error("max TTL must be greater than zero");

  const warnings: string[] = [];
  let ttl: number;
  let maxValidAtMs: number | null = null;
  if (input.period > 0) {
    let period = input.period;
    if (period > maxTtl) {
      warnings.push(
        `period of "${goDurationString(period)}" exceeded the effective max_ttl of "${goDurationString(maxTtl)}"; period value is capped accordingly`,
      );
      period = maxTtl;
    }
    ttl = period;
    if (input.explicitMaxTtl > 0) maxValidAtMs = start + input.explicitMaxTtl * 1000;
  } else {
    if (input.increment > 0) ttl = input.increment;
    else if (input.backendTtl > 0) ttl = input.backendTtl;
    else ttl = input.mountDefaultTtl;
    maxValidAtMs = start + maxTtl * 1000;
  }

  if (maxValidAtMs !== null) {
    const maxValidTtl = (maxValidAtMs - now) / 1000;
    if (maxValidTtl < 0) throw new PastMaxTtlError();
    if (maxValidTtl - ttl < 0) {
      warnings.push(
        `TTL of "${goDurationString(ttl)}" exceeded the effective max_ttl of "${goDurationString(maxValidTtl)}"; TTL value is capped accordingly`,
      );
      ttl = maxValidTtl;
    }
  }
  return { ttl, warnings, maxValidAtMs };
}
