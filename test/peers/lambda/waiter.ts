/**
 * Bounded waits on the emulator's state. Every state change calls `notify()`; a waiter re-evaluates
 * its condition then, so there is no polling and no window between "check" and "wait".
 */
export class StateWaiter {
  private readonly listeners = new Set<() => void>();

  notify(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /**
   * Resolves with the first non-undefined value of `check()`, or with undefined after `timeoutMs`.
   * Never rejects.
   */
  until<T>(check: () => T | undefined, timeoutMs: number): Promise<T | undefined> {
    const first = check();
    if (first !== undefined) return Promise.resolve(first);
    return new Promise<T | undefined>((resolve) => {
      let settled = false;
      const settle = (value: T | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(value);
      };
      const listener = (): void => {
        let value: T | undefined;
        try {
          value = check();
        } catch {
          value = undefined;
        }
        if (value !== undefined) settle(value);
      };
      const timer = setTimeout(() => settle(undefined), Math.max(0, timeoutMs));
      this.listeners.add(listener);
    });
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
