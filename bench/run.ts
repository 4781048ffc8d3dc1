/**
 * `npm run bench`: runs the benchmark suite against the built layer, writes `bench/results.json` and
 * prints a markdown table (stdout; progress goes to stderr).
 *
 *   tsx bench/run.ts [--smoke] [--only=cold-start,hot-path,...] [--out=<file>]
 *
 * --smoke   a tiny, fast run of every benchmark (the `npm test` smoke run): exercises every code path,
 *           its timings mean nothing; writes to a temporary file unless --out is given.
 * --only    a comma-separated subset of: cold-start, init-added, hot-path, memory, bundle, vault-load, peers
 *           (written to a temporary file unless --out is given: bench/results.json is always a full run).
 *
 * Exit code 1 when a benchmark could not run at all; a missed target is reported, not an error.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { bundle } from "./bundle.ts";
import { coldStart } from "./cold-start.ts";
import { hotPath } from "./hot-path.ts";
import { initAdded } from "./init-added.ts";
import { memory } from "./memory.ts";
import { peers } from "./peers.ts";
import { failedResult } from "./stats.ts";
import type { BenchResult, Benchmark } from "./types.ts";
import { vaultLoad } from "./vault-load.ts";
import { layerBuilt } from "./world.ts";
import { pinning } from "./proc.ts";

export const BENCHMARKS: Record<string, Benchmark> = {
  "cold-start": coldStart,
  "init-added": initAdded,
  "hot-path": hotPath,
  memory,
  bundle,
  "vault-load": vaultLoad,
  peers,
};

export interface Machine {
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  kernel: string;
  pinning: string;
}

export interface RunReport {
  smoke: boolean;
  startedAt: string;
  durationMs: number;
  machine: Machine;
  results: BenchResult[];
}

export function machine(): Machine {
  const pin = pinning();
  return {
    cpus: os.availableParallelism(),
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    node: process.version,
    platform: `${os.platform()} ${os.arch()}`,
    kernel: os.release(),
    pinning: pin ? `taskset: servers on core ${pin.server}, load generator on core ${pin.load}` : "none (fewer than 2 cores or no taskset)",
  };
}

function fmt(x: number | null, unit = ""): string {
  if (x === null || !Number.isFinite(x)) return "–";
  const s = Math.abs(x) >= 1000 ? Math.round(x).toLocaleString("en-US") : String(x);
  return unit ? `${s} ${unit}` : s;
}

/** The markdown table, then one line of notes per result. */
export function markdown(report: RunReport): string {
  const m = report.machine;
  const lines = [
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.platform}, Linux ${m.kernel}, Node ${m.node}; ${m.pinning}.${report.smoke ? " SMOKE RUN: timings are meaningless." : ""}`,
    "",
    "| benchmark | value | baseline (same run) | ratio | target | met |",
    "|---|---:|---:|---:|---|:---:|",
  ];
  for (const r of report.results) {
    lines.push(`| ${r.name} | ${fmt(r.value, r.unit)} | ${fmt(r.baseline, r.unit)} | ${r.ratio === null ? "–" : `${fmt(r.ratio)}×`} | ${r.target} | ${r.met ? "✓" : "✗ missed"} |`);
  }
  lines.push("", "Notes:", "");
  for (const r of report.results) lines.push(`- **${r.name}** — ${r.notes}`);
  return lines.join("\n") + "\n";
}

export interface RunOptions {
  smoke: boolean;
  only?: string[];
  out: string;
  log?: (message: string) => void;
}

export async function runBenchmarks(opts: RunOptions): Promise<RunReport> {
  const log = opts.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const names = opts.only?.length ? opts.only : Object.keys(BENCHMARKS);
  const unknown = names.filter((n) => !(n in BENCHMARKS));
  if (unknown.length > 0) throw new Error(`unknown benchmark(s): ${unknown.join(", ")}; known: ${Object.keys(BENCHMARKS).join(", ")}`);
  if (!layerBuilt()) throw new Error("the layer is not built: run `npm run build` first (npm run bench does)");
  const started = Date.now();
  const results: BenchResult[] = [];
  for (const name of names) {
    const t0 = Date.now();
    log(`▶ ${name}`);
    try {
      results.push(...(await BENCHMARKS[name]!({ smoke: opts.smoke, log })));
    } catch (err) {
      results.push(failedResult(name, err));
    }
    log(`  ${name} done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  const report: RunReport = { smoke: opts.smoke, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, machine: machine(), results };
  fs.mkdirSync(path.dirname(opts.out), { recursive: true });
  fs.writeFileSync(opts.out, JSON.stringify(report, null, 2) + "\n");
  return report;
}

function parseArgs(argv: string[]): RunOptions {
  const smoke = argv.includes("--smoke");
  const only = argv.find((a) => a.startsWith("--only="))?.slice("--only=".length).split(",").filter(Boolean);
  const outArg = argv.find((a) => a.startsWith("--out="))?.slice("--out=".length);
  const here = path.dirname(fileURLToPath(import.meta.url));
  // bench/results.json is always one complete, full run; a smoke or partial run goes elsewhere.
  const partial = smoke || (only !== undefined && only.length > 0);
  const out = path.resolve(outArg ?? (partial ? path.join(os.tmpdir(), `vla-bench-${smoke ? "smoke" : "partial"}-${process.pid}.json`) : path.join(here, "results.json")));
  return { smoke, only, out };
}

const isMain = process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const opts = parseArgs(process.argv.slice(2));
  try {
    const report = await runBenchmarks(opts);
    process.stdout.write(markdown(report));
    const missed = report.results.filter((r) => !r.met);
    process.stderr.write(`\nresults: ${opts.out}; ${report.results.length} figures, ${missed.length} target(s) missed${missed.length ? `: ${missed.map((r) => r.name).join(", ")}` : ""}; ${(report.durationMs / 1000).toFixed(1)} s\n`);
    process.exitCode = report.results.some((r) => r.name.endsWith("/error")) ? 1 : 0;
  } catch (err) {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
  // Lingering keep-alive sockets of the in-process test servers must not keep the run alive
  // (stdout and stderr are synchronous on pipes and files, so nothing written is lost).
  process.exit(process.exitCode ?? 0);
}
