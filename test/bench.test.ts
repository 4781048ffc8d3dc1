/**
 * The benchmark suite must not rot: a smoke run of `bench/run.ts --smoke` (every benchmark, tiny
 * sizes, each group in its own child process, all at once), checking that each benchmark produced results with every field — never
 * their timings, which mean nothing in a smoke run on a shared machine. Plus the pure arithmetic
 * the figures rest on: percentiles, round-trip chains, the minimum Vault calls.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { median, percentile, makeResult } from "../bench/stats.ts";
import { sequentialRoundTrips } from "../bench/cold-start.ts";
import { classify, invocationGaps, minimumCalls, total, type Lifetimes } from "../bench/vault-load.ts";
import { BENCHMARKS, type RunReport } from "../bench/run.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

describe("bench arithmetic", () => {
  it("median and percentiles interpolate between closest ranks", () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([1, 2, 3, 4])).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50], 99)).toBeCloseTo(49.6);
    expect(percentile([5], 99)).toBe(5);
    expect(Number.isNaN(median([]))).toBe(true);
  });

  it("builds results with a ratio against the baseline, or none without one", () => {
    const r = makeResult({ group: "g", name: "x", value: 150, unit: "ms", baseline: 100, target: "ratio ≤ 1.5", met: true, notes: "n" });
    expect(r).toEqual({ name: "g/x", group: "g", value: 150, unit: "ms", baseline: 100, ratio: 1.5, target: "ratio ≤ 1.5", met: true, notes: "n" });
    expect(makeResult({ group: "g", name: "y", value: 1, unit: "bytes", target: "informational", met: true, notes: "" }).ratio).toBeNull();
  });

  it("counts sequential round trips: concurrent requests count once", () => {
    const login = { startedAt: 0, endedAt: 20 };
    const reads = Array.from({ length: 10 }, (_, i) => ({ startedAt: 21 + i * 0.1, endedAt: 41 + i * 0.1 }));
    expect(sequentialRoundTrips([login, ...reads])).toBe(2);
    // One read after another is a chain.
    expect(sequentialRoundTrips([login, { startedAt: 21, endedAt: 41 }, { startedAt: 42, endedAt: 60 }])).toBe(3);
    expect(sequentialRoundTrips([])).toBe(0);
  });

  it("the minimum Vault calls: renew at the last usable moment, replace what cannot be renewed", () => {
    const l: Lifetimes = { tokenMs: 6_000, tokenMaxMs: 12_000, leaseMs: 3_000, leaseMaxMs: 8_000, graceMs: 1_000 };
    // No invocation: the init's login and read only.
    expect(minimumCalls(l, 0, [])).toMatchObject({ login: 1, read: 1, "token-renew": 0, "lease-renew": 0 });
    // Every 500 ms for 24 s: leases renewed every ~2 s until their 8 s max, tokens until 12 s.
    const every = Array.from({ length: 48 }, (_, i) => (i + 1) * 500);
    const c = minimumCalls(l, 0, every);
    expect(c.login).toBe(3); // at 0, 11 s and 22 s (a token is unusable 1 s before its 12 s max)
    expect(c["token-renew"]).toBe(4); // at 5 and 10 s in each 11 s token life
    expect(c.read).toBeGreaterThanOrEqual(c.login);
    expect(c["lease-renew"]).toBeGreaterThan(0);
    // A freeze longer than the lease: a read, not a renewal.
    expect(minimumCalls(l, 0, [1_000, 5_000])).toMatchObject({ login: 1, read: 2, "lease-renew": 0 });
    expect(total(c)).toBe(c.login + c.read + c["token-renew"] + c["lease-renew"]);
  });

  it("classifies Vault calls by path and lays out a deterministic day", () => {
    expect(classify({ path: "auth/aws/login" }, [])).toBe("login");
    expect(classify({ path: "auth/token/renew-self" }, [])).toBe("token-renew");
    expect(classify({ path: "sys/leases/renew" }, [])).toBe("lease-renew");
    expect(classify({ path: "database/creds/app" }, ["database/creds/app"])).toBe("read");
    expect(classify({ path: "auth/token/lookup-self" }, [])).toBe("other");
    const gaps = invocationGaps(24_000);
    expect(gaps).toEqual(invocationGaps(24_000));
    expect(gaps.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(24_000);
    expect(gaps.filter((g) => g === 5_000).length).toBeGreaterThan(0);
  });
});

const EXPECTED: Record<string, string[]> = {
  "cold-start": ["cold-start/1-secret", "cold-start/10-secrets", "cold-start/1-secret+20ms-vault", "cold-start/10-secrets+20ms-vault", "cold-start/vault-round-trips-10-secrets"],
  "init-added": [
    ...["empty", "aws-sdk", "20ms-init"].flatMap((p) => [0, 20].flatMap((l) => [`init-added/${p}+${l}ms-vault`, `init-added/${p}+${l}ms-vault-shared-cpu`])),
    "init-added/extension-cpu-to-ready",
    "init-added/extension-cpu-to-ready-shared-cpu",
    "init-added/spawn-to-register",
  ],
  "hot-path": ["hot-path/throughput-c10", "hot-path/cpu-per-request", "hot-path/latency-p50-c1", "hot-path/latency-p99-c1"],
  memory: ["memory/rss-after-init", "memory/rss-growth-over-10-rounds"],
  bundle: ["bundle/extension-bundle", "bundle/sts-chunk-lazy"],
  "vault-load": ["vault-load/calls-per-day", "vault-load/cold-key-100-concurrent"],
  peers: ["peers/init+20ms-vault", "peers/invoke+20ms-vault"],
};

/** One benchmark group's smoke run, as its own process (`bench/run.ts --smoke --only=<group>`). */
async function smoke(group: string): Promise<{ code: number; stdout: string; stderr: string; report: RunReport | undefined }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-bench-test-"));
  const out = path.join(dir, "results.json");
  const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ["--import", "tsx", path.join(root, "bench/run.ts"), "--smoke", `--only=${group}`, `--out=${out}`], { cwd: root, timeout: 90_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
  const report = fs.existsSync(out) ? (JSON.parse(fs.readFileSync(out, "utf8")) as RunReport) : undefined;
  fs.rmSync(dir, { recursive: true, force: true });
  return { code, stdout, stderr, report };
}

describe("npm run bench (smoke)", () => {
  it("knows every benchmark", () => {
    expect(Object.keys(EXPECTED).sort()).toEqual(Object.keys(BENCHMARKS).sort());
  });

  // Every group at once, each in its own process: a smoke run mostly waits (on child processes,
  // timers and sockets), so together they take about as long as the slowest one alone.
  it("every benchmark produces results with every field", async () => {
    const runs = await Promise.all(Object.keys(EXPECTED).map(async (group) => [group, await smoke(group)] as const));
    for (const [group, { code, stdout, stderr, report }] of runs) {
      expect(stderr, group).not.toMatch(/bench: /); // the runner's own failure line
      expect(report, group).toBeDefined();
      const failed = report!.results.filter((r) => r.name.endsWith("/error")).map((r) => r.notes);
      expect(failed, group).toEqual([]);
      expect(code, group).toBe(0);
      expect(report!.smoke).toBe(true);
      expect(report!.machine.cpus).toBeGreaterThan(0);
      const names = report!.results.map((r) => r.name);
      expect(report!.results.every((r) => r.group === group), group).toBe(true);
      for (const name of EXPECTED[group]!) expect(names, name).toContain(name);
      for (const r of report!.results) {
        expect(Object.keys(r).sort(), r.name).toEqual(["baseline", "group", "met", "name", "notes", "ratio", "target", "unit", "value"]);
        expect(typeof r.value, r.name).toBe("number");
        expect(Number.isFinite(r.value), `${r.name} value ${r.value}`).toBe(true);
        expect(typeof r.met, r.name).toBe("boolean");
        expect(r.unit.length, r.name).toBeGreaterThan(0);
        expect(r.target.length, r.name).toBeGreaterThan(0);
        expect(r.notes.length, r.name).toBeGreaterThan(20);
        if (r.baseline === null) expect(r.ratio, r.name).toBeNull();
        else expect(typeof r.ratio, r.name).toBe("number");
      }
      // The table printed on stdout has a row per result.
      for (const name of names) expect(stdout).toContain(`| ${name} |`);
    }
  }, 100_000);
});
