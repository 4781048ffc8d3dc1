// Managed Instances' timer (docs/architecture.md, "Execution modes"): wakes at the next refresh
// point, re-arms after every change, backs off instead of looping, stops cleanly. Fake timers and
// a fake wall clock: hours in milliseconds.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { RefreshScheduler } from "../../src/lambda/refresh-scheduler.ts";
import { Redactor, type Logger } from "../../src/log.ts";

const T0 = Date.UTC(2026, 0, 1);

function quietLog(): Logger & { lines: Array<[string, string]> } {
  const lines: Array<[string, string]> = [];
  const at = (level: string) => (message: string) => void lines.push([level, message]);
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), setRequestId: () => undefined, redactor: new Redactor() };
}

beforeEach(() => {
  vi.useFakeTimers({ now: T0 });
});
afterEach(() => {
  vi.useRealTimers();
});

/** A world with one refresh point that a successful run moves `periodMs` ahead. */
function world(opts: { periodMs: number; fails?: () => boolean; maxSleepMs?: number }) {
  let wake = T0 + opts.periodMs;
  const runs: number[] = [];
  const log = quietLog();
  const scheduler = new RefreshScheduler({
    nextWake: () => Math.max(Date.now(), wake),
    run: async () => {
      runs.push(Date.now() - T0);
      if (opts.fails?.()) return;
      wake = Date.now() + opts.periodMs;
    },
    log,
    ...(opts.maxSleepMs ? { maxSleepMs: opts.maxSleepMs } : {}),
  });
  return { scheduler, runs, log, setWake: (at: number) => void (wake = at) };
}

describe("RefreshScheduler", () => {
  it("sleeps until the next refresh point, runs there, and re-arms at the new one", async () => {
    const w = world({ periodMs: 40 * 60_000 });
    w.scheduler.start();
    await vi.advanceTimersByTimeAsync(40 * 60_000 - 1);
    expect(w.runs).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(w.runs).toEqual([40 * 60_000]);
    await vi.advanceTimersByTimeAsync(3 * 40 * 60_000);
    // Every 40 minutes, never in between (sleeps are capped at 5 minutes, and woken early finds nothing due).
    expect(w.runs).toEqual([1, 2, 3, 4].map((n) => n * 40 * 60_000));
    await w.scheduler.stop();
  });

  it("never loops: a run that leaves something due backs off 1 s, 2 s, 4 s... at most 30 s, and a success resets it", async () => {
    let failing = true;
    const w = world({ periodMs: 10_000, fails: () => failing });
    w.scheduler.start();
    await vi.advanceTimersByTimeAsync(200_000);
    const gaps = w.runs.slice(1).map((t, i) => t - w.runs[i]!);
    expect(w.runs[0]).toBe(10_000);
    expect(gaps.slice(0, 8)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
    expect(w.log.lines.filter(([level]) => level === "warn").length).toBe(w.runs.length);
    failing = false;
    const lastFailed = w.runs.at(-1)!;
    const before = w.runs.length;
    await vi.advanceTimersByTimeAsync(60_000);
    const after = w.runs.slice(before);
    expect(after[0]! - lastFailed).toBe(30_000);
    // Recovered: back to the refresh points, no backoff left.
    expect(after.slice(1).map((t, i) => t - after[i]!)).toEqual(after.slice(1).map(() => 10_000));
    expect(after.length).toBeGreaterThan(2);
    await w.scheduler.stop();
  });

  it("a throwing run is logged as an error and the timer keeps going", async () => {
    let calls = 0;
    const log = quietLog();
    const scheduler = new RefreshScheduler({
      nextWake: () => Math.max(Date.now(), T0 + (calls === 0 ? 1_000 : 61_000)),
      run: async () => {
        calls++;
        throw new Error("boom");
      },
      log,
    });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(1);
    expect(log.lines).toContainEqual(["error", "scheduled refresh failed"]);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(calls).toBe(2);
    await scheduler.stop();
  });

  it("poke re-arms: a value due sooner than the armed wake is refreshed on time", async () => {
    const w = world({ periodMs: 60 * 60_000 });
    w.scheduler.start();
    await vi.advanceTimersByTimeAsync(1_000);
    w.setWake(T0 + 91_000);
    w.scheduler.poke();
    await vi.advanceTimersByTimeAsync(90_000);
    expect(w.runs).toEqual([91_000]);
    await w.scheduler.stop();
  });

  it("with nothing held it only checks back, capped by maxSleepMs, and never runs", async () => {
    const run = vi.fn(async () => undefined);
    const scheduler = new RefreshScheduler({ nextWake: () => Infinity, run, log: quietLog(), maxSleepMs: 60_000 });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(24 * 3_600_000);
    expect(run).not.toHaveBeenCalled();
    expect(vi.getTimerCount()).toBe(1);
    await scheduler.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("stop waits for the run in progress and leaves no timer", async () => {
    let release!: () => void;
    let ended = false;
    const scheduler = new RefreshScheduler({
      nextWake: () => Date.now(),
      run: () =>
        new Promise<void>((r) => {
          release = () => {
            ended = true;
            r();
          };
        }),
      log: quietLog(),
    });
    scheduler.start();
    await vi.advanceTimersByTimeAsync(0);
    const stopped = scheduler.stop();
    let done = false;
    void stopped.then(() => (done = true));
    await vi.advanceTimersByTimeAsync(10);
    expect(done).toBe(false);
    release();
    await stopped;
    expect(ended).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("its timers do not keep the process alive", () => {
    vi.useRealTimers();
    const spy = vi.spyOn(globalThis, "setTimeout");
    const scheduler = new RefreshScheduler({ nextWake: () => Date.now() + 3_600_000, run: async () => undefined, log: quietLog() });
    scheduler.start();
    const timer = spy.mock.results.at(-1)!.value as NodeJS.Timeout;
    expect(timer.hasRef()).toBe(false);
    void scheduler.stop();
    spy.mockRestore();
  });

  it("a backoff after a failed run does not stretch when the wall clock is set back an hour", async () => {
    const w = world({ periodMs: 10_000, fails: () => true });
    w.scheduler.start();
    await vi.advanceTimersByTimeAsync(10_000 + 3_500);
    const before = w.runs.length;
    expect(before).toBeGreaterThanOrEqual(2);
    vi.setSystemTime(Date.now() - 60 * 60_000);
    // The wake point moves with the clock (the lease is due now by it).
    w.setWake(Date.now());
    await vi.advanceTimersByTimeAsync(31_000);
    expect(w.runs.length).toBeGreaterThan(before);
    await w.scheduler.stop();
  });
});
