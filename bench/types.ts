/**
 * What every benchmark module returns and what `bench/run.ts` writes to `bench/results.json`.
 * Every figure is set against a baseline measured in the same run, because the machines these run on
 * are shared and noisy: absolute times drift from one run to the next, ratios much less.
 */

export interface BenchResult {
  /** `<group>/<what>`, e.g. `cold-start/1-secret`. */
  name: string;
  /** The benchmark module that produced it (`cold-start`, `hot-path`, ...). */
  group: string;
  value: number;
  /** Unit of `value` and `baseline`: `ms`, `req/s`, `MB`, `bytes`, `calls`. */
  unit: string;
  /** The same figure for the baseline, measured in the same run; null when there is none. */
  baseline: number | null;
  /** value / baseline, or null without a baseline. */
  ratio: number | null;
  /** The target in words, e.g. `ratio ≤ 1.5`; `informational` when the figure has none. */
  target: string;
  /** Whether the target is met (true for informational figures). */
  met: boolean;
  /** How it was measured, and what costs the time when a target is missed. */
  notes: string;
}

export interface BenchOptions {
  /** A tiny, fast run that exercises every code path (the `npm test` smoke run); timings are meaningless. */
  smoke: boolean;
  /** Progress lines (stderr), so that stdout carries only the table. */
  log: (message: string) => void;
}

export type Benchmark = (opts: BenchOptions) => Promise<BenchResult[]>;
