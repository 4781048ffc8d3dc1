/**
 * How an operation has been going (the token's refreshes, one secret's refreshes, requests to
 * Vault): last success, last failure, failures in a row. `/health` reports it and derives its status
 * from it; nothing else decides on it. Messages are `describe(err)`: never a secret.
 */
export class Outcomes {
  lastSuccessAt: number | undefined;
  lastError: { at: number; message: string } | undefined;
  /** Failures since the last success. */
  consecutiveFailures = 0;

  succeeded(at: number): void {
    this.lastSuccessAt = at;
    this.consecutiveFailures = 0;
  }

  failed(at: number, message: string): void {
    this.lastError = { at, message };
    this.consecutiveFailures++;
  }

  get failing(): boolean {
    return this.consecutiveFailures > 0;
  }
}
