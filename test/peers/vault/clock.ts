/**
 * Time helpers shared by the Vault test server.
 *
 * Two clocks are used on purpose:
 * - `Date.now()` (wall clock) for every TTL and expiry decision, exactly as Vault does, so that a
 *   product process frozen with SIGSTOP for seconds finds its tokens expired when it thaws;
 * - `epochMs()` for timestamps that tests compare across components (request log, login records).
 */

/** Epoch milliseconds with sub-millisecond precision; the project-wide cross-component timestamp. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * Go's `time.Duration.String()` for a whole number of seconds: "0s", "59s", "9m58s", "1h0m0s".
 * Vault prints TTLs this way in its warnings (`TTL of "1h0m0s" exceeded ...`).
 */
export function goDurationString(totalSeconds: number): string {
  let s = Math.trunc(totalSeconds);
  const negative = s < 0;
  if (negative) s = -s;
  if (s === 0) return "0s";
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const text = h > 0 ? `${h}h${m}m${sec}s` : m > 0 ? `${m}m${sec}s` : `${sec}s`;
  return negative ? `-${text}` : text;
}

/**
 * Go's `time.RFC3339Nano` rendering of an instant (UTC): trailing zeros of the fraction are
 * dropped, and the fraction disappears entirely when it is zero.
 */
export function rfc3339Nano(ms: number): string {
  const iso = new Date(Math.floor(ms)).toISOString(); // 2024-01-02T03:04:05.678Z
  const [main, fracZ] = iso.split(".");
  const frac = (fracZ ?? "000Z").replace("Z", "").replace(/0+$/, "");
  return frac.length > 0 ? `${main}.${frac}Z` : `${main}Z`;
}

/** Thrown when a duration field cannot be parsed; the message mimics Go's. */
export class DurationParseError extends Error {}

const GO_UNITS: Record<string, number> = {
  ns: 1e-9,
  us: 1e-6,
  "µs": 1e-6,
  "μs": 1e-6,
  ms: 1e-3,
  s: 1,
  m: 60,
  h: 3600,
};

/** Go's `time.ParseDuration`, returning seconds as a float. */
export function goParseDuration(input: string): number {
  const original = input;
  let s = input;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw new DurationParseError(`time: invalid duration ${goQuoteLite(original)}`);
  let total = 0;
  while (s.length > 0) {
    const num = /^([0-9]*)(\.[0-9]*)?/.exec(s);
    const whole = num?.[1] ?? "";
    const frac = num?.[2] ?? "";
    if (whole === "" && (frac === "" || frac === ".")) {
      throw new DurationParseError(`time: invalid duration ${goQuoteLite(original)}`);
    }
    s = s.slice(whole.length + frac.length);
    const unitMatch = /^[^0-9.]+/.exec(s);
    if (!unitMatch) throw new DurationParseError(`time: missing unit in duration ${goQuoteLite(original)}`);
    const unit = unitMatch[0];
    const factor = GO_UNITS[unit];
    if (factor === undefined) {
      throw new DurationParseError(`time: unknown unit ${goQuoteLite(unit)} in duration ${goQuoteLite(original)}`);
    }
    total += Number(`${whole === "" ? "0" : whole}${frac === "." ? "" : frac}`) * factor;
    s = s.slice(unit.length);
  }
  return sign * total;
}

/**
 * `parseutil.ParseDurationSecond` as used by Vault's `TypeDurationSecond` fields: integers (or
 * integer strings) are seconds, strings with units are Go durations, a `d` suffix means days.
 * Returns whole seconds (truncated, as Vault's `int(dur.Seconds())`).
 */
export function parseDurationSeconds(raw: unknown): number {
  if (raw === null || raw === undefined) return 0;
  if (typeof raw === "number") {
    if (!Number.isFinite(raw)) throw new DurationParseError("could not parse duration from input");
    return Math.trunc(raw);
  }
  if (typeof raw === "string") {
    if (raw === "") return 0;
    if (/^[+-]?\d+$/.test(raw)) return Number.parseInt(raw, 10);
    if (raw.endsWith("d")) {
      const days = raw.slice(0, -1);
      if (!/^[+-]?\d+$/.test(days)) {
        throw new DurationParseError(`strconv.ParseInt: parsing ${goQuoteLite(days)}: invalid syntax`);
      }
      return Number.parseInt(days, 10) * 86400;
    }
    return Math.trunc(goParseDuration(raw));
  }
  throw new DurationParseError("could not parse duration from input");
}

/** `TypeDurationSecond`: like {@link parseDurationSeconds} but negative values are rejected. */
export function parseNonNegativeDurationSeconds(raw: unknown): number {
  const v = parseDurationSeconds(raw);
  if (v < 0) throw new DurationParseError(`cannot provide negative value '${v}'`);
  return v;
}

/** Minimal Go `%q` for short ASCII strings used inside duration errors (avoids an import cycle). */
function goQuoteLite(s: string): string {
  return `"${s.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`;
}

/** Resolves after `ms` milliseconds; used for injected latency and STS retry back-off. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
