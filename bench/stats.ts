/**
 * The few statistics the benchmarks need, and the one way results are built from them.
 */
import type { BenchResult } from "./types.ts";

/** Median of the samples (mean of the two middle ones for an even count); NaN when empty. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/**
 * Percentile with linear interpolation between closest ranks (the "R-7" definition, as numpy's
 * default): p50 of [1, 2] is 1.5. NaN when empty.
 */
export function percentile(samples: readonly number[] | Float64Array, p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = Float64Array.from(samples).sort();
  return percentileOfSorted(sorted, p);
}

/** The same on samples already sorted ascending (for large arrays sorted once). */
export function percentileOfSorted(sorted: Float64Array | readonly number[], p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (n - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  const a = sorted[lo]!;
  const b = sorted[hi]!;
  return a + (b - a) * (rank - lo);
}

export function ratio(value: number, baseline: number): number {
  return baseline === 0 ? Number.NaN : value / baseline;
}

/** Rounds to `digits` decimals (results stay readable in JSON and in the table). */
export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function min(samples: readonly number[]): number {
  return samples.reduce((a, b) => Math.min(a, b), Number.POSITIVE_INFINITY);
}

export function max(samples: readonly number[]): number {
  return samples.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY);
}

/** Spread of samples in words, for notes: `median 81.2 (min 77.0, max 95.3, n=15)`. */
export function describeSamples(samples: readonly number[], digits = 1): string {
  return `median ${round(median(samples), digits)} (min ${round(min(samples), digits)}, max ${round(max(samples), digits)}, n=${samples.length})`;
}

export interface ResultInput {
  group: string;
  name: string;
  value: number;
  unit: string;
  baseline?: number | null;
  target: string;
  met: boolean;
  notes: string;
  /** Decimals kept for value and baseline. */
  digits?: number;
}

/** Builds a result: ratio from value and baseline, numbers rounded, the name prefixed with the group. */
export function makeResult(input: ResultInput): BenchResult {
  const digits = input.digits ?? 2;
  const baseline = input.baseline ?? null;
  return {
    name: `${input.group}/${input.name}`,
    group: input.group,
    value: round(input.value, digits),
    unit: input.unit,
    baseline: baseline === null ? null : round(baseline, digits),
    ratio: baseline === null ? null : round(ratio(input.value, baseline), 3),
    target: input.target,
    met: input.met,
    notes: input.notes,
  };
}

/** A result standing for a benchmark that could not run: it fails, and says why. */
export function failedResult(group: string, err: unknown): BenchResult {
  const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
  return {
    name: `${group}/error`,
    group,
    value: Number.NaN,
    unit: "",
    baseline: null,
    ratio: null,
    target: "the benchmark runs",
    met: false,
    notes: `the benchmark failed: ${message.split("\n").slice(0, 4).join(" | ")}`,
  };
}
