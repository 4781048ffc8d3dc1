/**
 * Whether the extension can answer yet (docs/architecture.md, "Init"). With early registration the
 * function's init runs while the extension logs in and reads, so a localhost request may arrive
 * before there is anything to serve: it waits here instead of getting `503`, until the init work
 * ends (`open` or `fail`) or the init budget does.
 */
export type Readiness = "starting" | "restoring" | "ready" | "failed" | "closed";

export class ReadinessGate {
  private current: Readiness = "starting";
  private reason = "";
  private deadline = Infinity;
  /** `restoring` only: how long one request may wait for the restore. */
  private restoreWaitMs = 0;
  private readonly waiters = new Set<() => void>();

  get state(): Readiness {
    return this.current;
  }

  get isReady(): boolean {
    return this.current === "ready";
  }

  /** Why requests are refused once the gate is `failed` or `closed`, in plain words. */
  get refusal(): string {
    if (this.current === "failed") return `vault-lambda-agent failed to start: ${this.reason}`;
    if (this.current === "closed") return "vault-lambda-agent is shutting down";
    if (this.current === "restoring") return this.reason;
    return "vault-lambda-agent is not ready yet (its init did not finish within the init budget)";
  }

  /** The end of the init budget: no request waits past it. */
  bound(deadline: number): void {
    this.deadline = deadline;
  }

  open(): void {
    this.settle("ready", "");
  }

  /**
   * SnapStart, once everything was revoked before the snapshot: requests wait for the restore (the
   * next INVOKE opens the gate again), each at most `waitMs`, then get `reason`. A request from the
   * function's own init lands here too, and must not log in again: what it obtained would go into
   * the snapshot.
   */
  awaitRestore(waitMs: number, reason: string): void {
    this.restoreWaitMs = waitMs;
    this.settle("restoring", reason);
  }

  fail(reason: string): void {
    this.settle("failed", reason);
  }

  close(): void {
    this.settle("closed", "");
  }

  /** Whether a request should wait (rather than be answered or refused at once). */
  get waiting(): boolean {
    return this.current === "starting" || this.current === "restoring";
  }

  /**
   * Resolves with the state once it is no longer `starting` or `restoring`, or unchanged at the bound:
   * the init budget while starting, `waitMs` from now while restoring.
   */
  wait(now = Date.now()): Promise<Readiness> {
    const bound = this.current === "restoring" ? now + this.restoreWaitMs : this.deadline;
    if (!this.waiting || now >= bound) return Promise.resolve(this.current);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.current);
      };
      // Init never freezes (Lambda freezes only after every party called `next`), so a timer is
      // a sound bound here; a finite deadline is always set before the listener is bound.
      // While restoring, the bound starts with the request, after any freeze.
      const timer = Number.isFinite(bound) ? setTimeout(done, bound - now) : undefined;
      this.waiters.add(done);
    });
  }

  private settle(state: Readiness, reason: string): void {
    if (this.current === "closed") return;
    this.current = state;
    this.reason = reason;
    for (const done of [...this.waiters]) done();
  }
}
