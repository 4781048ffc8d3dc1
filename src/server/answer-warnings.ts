/**
 * Every 4xx and 5xx answered to the handler is worth a warning, but a handler retrying in a loop
 * must not flood the log: one line per status per window, carrying how many were left out since.
 */
import type { Clock } from "../clock.ts";

const WINDOW_MS = 60_000;

export class AnswerWarnings {
  private readonly last = new Map<number, { at: number; suppressed: number }>();

  constructor(
    private readonly now: Clock,
    private readonly windowMs = WINDOW_MS,
  ) {}

  /** Whether to log this answer now; when yes, how many of its status were not logged since the last line. */
  note(status: number): { log: true; suppressed: number } | { log: false } {
    const now = this.now();
    const seen = this.last.get(status);
    if (seen && now - seen.at < this.windowMs) {
      seen.suppressed++;
      return { log: false };
    }
    this.last.set(status, { at: now, suppressed: 0 });
    return { log: true, suppressed: seen?.suppressed ?? 0 };
  }
}
