/**
 * Lambda Managed Instances send no INVOKE to extensions and never freeze the environment, so the
 * token and the leases are freshened on a timer instead (docs/architecture.md, "Execution modes"):
 * sleep until the policy's next refresh point (`nextWake`), run what INVOKE runs elsewhere, re-arm.
 *
 * - Re-armed after every run and whenever something changed (`poke`): a new value may be due
 *   sooner than the timer armed for the old ones.
 * - Backs off as INVOKE does: `nextWake` includes each failing key's retry time (the policy's
 *   backoff), so a failed refresh wakes the timer at its retry time, not at once. As a safety net,
 *   a run that still leaves something due at once backs off 1 s, 2 s, 4 s... at most 30 s; a run
 *   that moved every wake time into the future resets it. Never a busy loop.
 * - One run at a time; a timer never keeps the process alive (unref'd); a sleep is capped, since
 *   `setTimeout` cannot wait longer than about 24.8 days and a wall-clock step is then caught too.
 */
import { systemClock, type Clock } from "../clock.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";

export interface RefreshSchedulerOptions {
  /** Epoch ms when something held next needs attention (`nextWake`); Infinity when nothing does. */
  nextWake: () => number;
  /** Freshens whatever is due; failures are its to log (a throw is logged here). */
  run: () => Promise<void>;
  log: Logger;
  clock?: Clock;
  /** Longest single sleep; default 5 minutes. */
  maxSleepMs?: number;
}

const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
const DEFAULT_MAX_SLEEP_MS = 5 * 60_000;

export class RefreshScheduler {
  private readonly now: Clock;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  /** Consecutive runs that left something due. */
  private failures = 0;
  private notBefore = 0;

  constructor(private readonly opts: RefreshSchedulerOptions) {
    this.now = opts.clock ?? systemClock;
  }

  start(): void {
    this.stopped = false;
    this.arm();
  }

  /** Something held changed: re-arm, in case it is due sooner. A run in progress re-arms when it ends. */
  poke(): void {
    if (!this.stopped && !this.running) this.arm();
  }

  /** No more runs; resolves when a run in progress has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Not before this, after a run that left something due; a time further than any backoff means the clock was set back since: over. */
  private holdOff(now: number): number {
    return this.notBefore - now > MAX_BACKOFF_MS ? 0 : this.notBefore;
  }

  private arm(): void {
    if (this.timer) clearTimeout(this.timer);
    const now = this.now();
    const at = Math.max(this.opts.nextWake(), this.holdOff(now));
    const delay = Math.min(Math.max(0, at - now), this.opts.maxSleepMs ?? DEFAULT_MAX_SLEEP_MS);
    this.timer = setTimeout(() => this.fire(), delay);
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    if (this.stopped || this.running) return;
    // A capped sleep, or a poke that armed early: nothing due yet, sleep again.
    const now = this.now();
    if (Math.max(this.opts.nextWake(), this.holdOff(now)) > now) return this.arm();
    this.running = this.opts
      .run()
      .catch((err) => this.opts.log.error("scheduled refresh failed", { error: describe(err) }))
      .then(() => {
        const now = this.now();
        if (this.opts.nextWake() <= now) {
          this.failures++;
          const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** Math.min(this.failures - 1, 10));
          this.notBefore = now + backoff;
          this.opts.log.warn("something is still due after a scheduled refresh; retrying later", { retryInS: backoff / 1000 });
        } else {
          this.failures = 0;
          this.notBefore = 0;
        }
      })
      .finally(() => {
        this.running = undefined;
        if (!this.stopped) this.arm();
      });
  }
}
