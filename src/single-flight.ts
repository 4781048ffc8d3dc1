/**
 * One operation per key at a time: a caller that asks while one is running joins it instead of
 * starting another (one login for many callers, one read per secret however many requests wait).
 */
export class SingleFlight<K> {
  private readonly pending = new Map<K, Promise<unknown>>();

  run<V>(key: K, start: () => Promise<V>): Promise<V> {
    const running = this.pending.get(key) as Promise<V> | undefined;
    if (running) return running;
    const flight = start().finally(() => this.pending.delete(key));
    this.pending.set(key, flight);
    return flight;
  }

  running(key: K): boolean {
    return this.pending.has(key);
  }
}
