/** Float epoch milliseconds from the monotonic clock: the timestamp every peer and test compares. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}
