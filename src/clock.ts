/**
 * Time, injected. Production uses the wall clock (`Date.now()`): the environment may have been
 * frozen for minutes, and only the wall clock knows. Unit tests pass a fake clock they move by hand.
 */
export type Clock = () => number;

export const systemClock: Clock = () => Date.now();
