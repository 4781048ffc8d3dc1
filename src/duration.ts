// Durations as the configuration accepts them and as messages print them.
//
// Accepted forms (README, "Configuration"):
//   - a plain non-negative integer: seconds ("90" = 90 s), as HashiCorp's tools read TTLs;
//   - a Go duration (time.ParseDuration): one or more <number><unit> terms, e.g. "90s", "1m30s",
//     "1h2m3.5s", ".5s", "500ms"; units ns, us, µs (U+00B5), μs (U+03BC), ms, s, m, h; "0" alone.
// Rejected: empty text, signs (no negative durations make sense here), garbage, and values beyond
// Go's range (2^63-1 ns, about 292 years), which Vault itself could not parse either.
// Units are case-sensitive, as in Go ("5S" is rejected rather than guessed at).

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n,
  "\u03bcs": 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_NS = (1n << 63n) - 1n;
const NS_PER_MS = 1_000_000n;

// One term: digits with an optional fraction (either side may be empty, not both), then a unit.
// Longer unit spellings come first in the alternation so that "ms" is not read as "m" + "s".
const TERM = /^(\d*)(?:\.(\d*))?(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;

/**
 * Parses a duration and returns it in milliseconds (possibly fractional for sub-millisecond
 * units), or `undefined` when the text is not a valid non-negative duration.
 */
export function parseDuration(text: string): number | undefined {
  const s = text.trim();
  if (s === "") return undefined;
  // Plain integer: seconds. Bounded length keeps the BigInt work trivial and the range sane.
  if (/^\d+$/.test(s)) {
    if (s.length > 12) return undefined; // > ~31 700 years
    return Number(s) * 1000;
  }
  let rest = s;
  let totalNs = 0n;
  // Each iteration consumes at least one character, so the loop is bounded by the text length.
  while (rest.length > 0) {
    const m = TERM.exec(rest);
    if (m === null) return undefined;
    const intPart = m[1] ?? "";
    const fracPart = m[2] ?? "";
    const unit = m[3] ?? "";
    if (intPart === "" && fracPart === "") return undefined; // "s", ".s"
    if (intPart.length + fracPart.length > 30) return undefined; // absurd, and beyond MAX_NS anyway
    const unitNs = NS_PER_UNIT[unit];
    if (unitNs === undefined) return undefined;
    const whole = BigInt(intPart === "" ? "0" : intPart) * unitNs;
    // Fraction: Go keeps nanosecond precision and truncates the rest; so do we.
    const frac =
      fracPart === "" ? 0n : (BigInt(fracPart) * unitNs) / 10n ** BigInt(fracPart.length);
    totalNs += whole + frac;
    if (totalNs > MAX_NS) return undefined;
    rest = rest.slice(m[0].length);
  }
  // Whole milliseconds stay exact; only the sub-millisecond remainder goes through floating point.
  return Number(totalNs / NS_PER_MS) + Number(totalNs % NS_PER_MS) / 1e6;
}

/**
 * Formats milliseconds as a Go-style duration for messages: "1m30s", "10s", "500ms", "1.5s",
 * "2h", "0s". Unlike Go's String() it drops zero trailing units ("5m", not "5m0s"); the result is
 * still accepted by parseDuration and by Go's time.ParseDuration.
 */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms < 0) return `-${formatDuration(-ms)}`;
  if (ms === 0) return "0s";
  // Work in whole nanoseconds so that the digits printed are exact.
  const ns = BigInt(Math.round(ms * 1e6));
  if (ns === 0n) return "0s";
  if (ns < 1_000n) return `${ns}ns`;
  if (ns < 1_000_000n) return `${decimal(ns, 1_000n)}\u00b5s`;
  if (ns < 1_000_000_000n) return `${decimal(ns, 1_000_000n)}ms`;
  const hours = ns / 3_600_000_000_000n;
  const minutes = (ns % 3_600_000_000_000n) / 60_000_000_000n;
  const secondsNs = ns % 60_000_000_000n;
  let out = "";
  if (hours > 0n) out += `${hours}h`;
  if (minutes > 0n) out += `${minutes}m`;
  if (secondsNs > 0n) out += `${decimal(secondsNs, 1_000_000_000n)}s`;
  return out;
}

/** `value / unit` as a decimal string without trailing zeros, e.g. (1500n, 1000n) → "1.5". */
function decimal(value: bigint, unit: bigint): string {
  const whole = value / unit;
  const frac = value % unit;
  if (frac === 0n) return whole.toString();
  const width = unit.toString().length - 1;
  return `${whole}.${frac.toString().padStart(width, "0").replace(/0+$/, "")}`;
}
