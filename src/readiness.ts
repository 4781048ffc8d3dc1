/**
 * Whether the extension can answer yet (docs/architecture.md, "Init"). With early registration the
 * function's init runs while the extension logs in and reads, so a localhost request may arrive
 * before there is anything to serve: it waits here instead of getting `503`, until the init work
 * ends (`open` or `fail`) or the init budget does.
 */
export type Readiness = "starting" | "ready" | "failed" | "closed";

export class ReadinessGate {
  private current: Readiness = "starting";
  private reason = "";
  private deadline = Infinity;
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
    return "vault-lambda-agent is not ready yet (its init did not finish within the init budget)";
  }

  /** The end of the init budget: no request waits past it. */
  bound(deadline: number): void {
    this.deadline = deadline;
  }

  open(): void {
    this.settle("ready", "");
  }

  fail(reason: string): void {
    this.settle("failed", reason);
  }

  close(): void {
    this.settle("closed", "");
  }

  /** Resolves with the state once it is no longer `starting`, or still `starting` at the deadline. */
  wait(now = Date.now()): Promise<Readiness> {
    if (this.current !== "starting" || now >= this.deadline) return Promise.resolve(this.current);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(this.current);
      };
      // Init never freezes (Lambda freezes only after every party called `next`), so a timer is
      // a sound bound here; a finite deadline is always set before the listener is bound.
      const timer = Number.isFinite(this.deadline) ? setTimeout(done, this.deadline - now) : undefined;
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
