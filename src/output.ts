/**
 * The process's stdout and stderr, written to only while they take it. Lambda keeps them open, but a
 * host whose log pipe closed (an emulator that went away while this process lives on) makes every
 * write fail with EPIPE, reported as an 'error' event. Without a listener that is an uncaught
 * exception, whose own log line fails the same way: a loop that spun 80 % of a core, forever, in two
 * extensions orphaned by AWS's RIE. A stream that failed once stays closed; its lines are dropped.
 */
import type { Writable } from "node:stream";

const closed = new WeakSet<Writable>();

/** Listens for the stream's errors, so that a failed write closes it instead of throwing. */
export function guardStream(stream: Writable): void {
  stream.on("error", () => closed.add(stream));
}

guardStream(process.stdout);
guardStream(process.stderr);

/** Writes one line, unless the stream has failed before. */
export function writeLine(stream: Writable, line: string): void {
  if (closed.has(stream) || stream.destroyed) return;
  stream.write(line + "\n");
}
