/**
 * The in-flight limit of the localhost API: how many proxied requests may wait on Vault at once.
 * Only waiting on Vault takes a slot: reading a request's body never does (a slow body is bounded
 * by its own 5 s deadline), and neither does an answer from the cache.
 */
export class InFlightLimit {
  private count = 0;

  constructor(readonly max: number) {}

  /** Takes a slot; false when all are taken (the caller answers 429). */
  tryEnter(): boolean {
    if (this.count >= this.max) return false;
    this.count++;
    return true;
  }

  leave(): void {
    this.count--;
  }

  get taken(): number {
    return this.count;
  }
}
