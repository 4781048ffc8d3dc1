/**
 * Hot path (issue item 2): cached `GET /secrets/<name>` with keep-alive, against a bare node:http
 * server returning the same bytes, in the same run, on the same core (taskset: both servers on one
 * core, the autocannon worker on the other).
 *
 * Throughput is measured with 10 connections (the server saturated); latency with 1 connection,
 * which is how a Lambda handler calls it (one invocation at a time per environment). Latency at 10
 * connections is queueing (≈ connections / throughput) and is reported for information.
 * Runs alternate bare/extension (order swapped every round); figures are medians over the rounds.
 */
import { LoadGenerator, type LoadResult } from "./load.ts";
import { cpuMs, pinning } from "./proc.ts";
import { startExtensionAndBare, type ServerUnderTest } from "./servers.ts";
import { makeResult, median, round } from "./stats.ts";
import type { BenchOptions, BenchResult } from "./types.ts";
import { BenchWorld } from "./world.ts";

const GROUP = "hot-path";
const THROUGHPUT_TARGET = 0.85;
const P99_TARGET_MS = 1;
const CONNECTIONS = 10;

export async function hotPath(opts: BenchOptions): Promise<BenchResult[]> {
  const rounds = opts.smoke ? 1 : 4;
  const saturateS = opts.smoke ? 0.3 : 3;
  const latencyS = opts.smoke ? 0.3 : 2;
  const pin = pinning();
  const world = await BenchWorld.start();
  const servers: ServerUnderTest[] = [];
  let load: LoadGenerator | undefined;
  try {
    const { ours, bare, headers, answer: oursAnswer, identical } = await startExtensionAndBare(world, pin?.server, servers);

    load = LoadGenerator.start(pin?.load);
    const targets = { bare: `${bare.url}/secrets/db`, ours: `${ours.url}/secrets/db` } as const;
    const pids = { bare: bare.proc.pid, ours: ours.proc.pid } as const;
    const runs: Record<"bare" | "ours", { saturated: LoadResult[]; single: LoadResult[] }> = { bare: { saturated: [], single: [] }, ours: { saturated: [], single: [] } };
    // CPU the server process spent per request while saturated: what throughput would be if the
    // load generator (one Node process on one core) were not the limit for the faster server.
    const cpuPerRequestUs: Record<"bare" | "ours", number[]> = { bare: [], ours: [] };

    // Warm-up: JIT both servers and the client.
    for (const who of ["bare", "ours"] as const) await load.run({ url: targets[who], headers, connections: CONNECTIONS, durationS: opts.smoke ? 0.2 : 1 });
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? (["bare", "ours"] as const) : (["ours", "bare"] as const);
      for (const who of order) {
        const before = cpuMs(pids[who]);
        const r = check(who, await load.run({ url: targets[who], headers, connections: CONNECTIONS, durationS: saturateS }));
        runs[who].saturated.push(r);
        cpuPerRequestUs[who].push(((cpuMs(pids[who]) - before) * 1000) / r.requests);
      }
      for (const who of order) runs[who].single.push(check(who, await load.run({ url: targets[who], headers, connections: 1, durationS: latencyS })));
      opts.log(`hot-path: round ${r + 1}/${rounds}: ${Math.round(runs.ours.saturated.at(-1)!.rps)} vs ${Math.round(runs.bare.saturated.at(-1)!.rps)} req/s`);
    }

    const med = (who: "bare" | "ours", kind: "saturated" | "single", f: keyof LoadResult): number => median(runs[who][kind].map((x) => x[f]));
    const rps = { ours: med("ours", "saturated", "rps"), bare: med("bare", "saturated", "rps") };
    const setup = `${pin ? "Servers pinned to core " + pin.server + ", autocannon to core " + pin.load : "not pinned (fewer than 2 cores or no taskset)"}; keep-alive, pipelining 1; ${rounds} round(s) alternating bare/extension, medians.`;
    const bytesNote = `The bare server answers ${identical ? "byte-for-byte the same" : "NOT the same (check!)"} status, headers and ${Buffer.byteLength(oursAnswer.body)}-byte body.`;
    const perRun = (who: "bare" | "ours"): string => runs[who].saturated.map((x) => Math.round(x.rps)).join(", ");
    return [
      makeResult({
        group: GROUP,
        name: `throughput-c${CONNECTIONS}`,
        value: rps.ours,
        unit: "req/s",
        baseline: rps.bare,
        target: `ratio ≥ ${THROUGHPUT_TARGET}`,
        met: rps.ours / rps.bare >= THROUGHPUT_TARGET,
        notes: `Cached GET /secrets/db (a database lease held by the extension), ${CONNECTIONS} connections, ${saturateS} s per run; per run extension ${perRun("ours")}, bare ${perRun("bare")} req/s. ${bytesNote} ${setup}`,
        digits: 0,
      }),
      makeResult({
        group: GROUP,
        name: "cpu-per-request",
        value: median(cpuPerRequestUs.ours),
        unit: "µs",
        baseline: median(cpuPerRequestUs.bare),
        target: "informational",
        met: true,
        notes: `CPU time (user + system, /proc/<pid>/stat) of the server process per answered request during the saturated runs. The bare server leaves its core partly idle (one autocannon process cannot saturate it), so this ratio, not the throughput ratio, is the true cost of the extension's request handling.`,
        digits: 1,
      }),
      makeResult({
        group: GROUP,
        name: "latency-p50-c1",
        value: med("ours", "single", "p50"),
        unit: "ms",
        baseline: med("bare", "single", "p50"),
        target: "informational",
        met: true,
        notes: `One connection, ${latencyS} s per run, one request at a time (as a handler calls it); latency per response from autocannon's hrtime (float ms). ${Math.round(med("ours", "single", "rps"))} vs ${Math.round(med("bare", "single", "rps"))} req/s sequentially.`,
        digits: 3,
      }),
      makeResult({
        group: GROUP,
        name: "latency-p99-c1",
        value: med("ours", "single", "p99"),
        unit: "ms",
        baseline: med("bare", "single", "p99"),
        target: `< ${P99_TARGET_MS} ms`,
        met: med("ours", "single", "p99") < P99_TARGET_MS,
        notes: `Same runs; p99.9 ${round(med("ours", "single", "p999"), 3)} ms vs bare ${round(med("bare", "single", "p999"), 3)} ms; max ${round(med("ours", "single", "max"), 2)} vs ${round(med("bare", "single", "max"), 2)} ms (medians over rounds).`,
        digits: 3,
      }),
      makeResult({
        group: GROUP,
        name: `latency-p99-c${CONNECTIONS}`,
        value: med("ours", "saturated", "p99"),
        unit: "ms",
        baseline: med("bare", "saturated", "p99"),
        target: "informational",
        met: true,
        notes: `The saturated runs: latency there is mostly queueing (${CONNECTIONS} connections / throughput); p50 ${round(med("ours", "saturated", "p50"), 3)} vs ${round(med("bare", "saturated", "p50"), 3)} ms.`,
        digits: 3,
      }),
    ];
  } finally {
    await load?.close();
    for (const s of servers.reverse()) await s.stop();
    await world.close();
  }
}

/** A run that saw errors or non-2xx answers measures something else: refuse it. */
function check(who: string, r: LoadResult): LoadResult {
  if (r.requests === 0 || r.non2xx > 0 || r.errors > 0) throw new Error(`${who}: ${r.requests} ok, ${r.non2xx} non-2xx, ${r.errors} errors`);
  return r;
}
