import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { guardStream, writeLine } from "../src/output.ts";

/** A stream whose every write fails as a closed pipe's does (EPIPE, as an 'error' event). */
function brokenPipe(): Writable & { writes: number } {
  const stream = new Writable({
    write(_chunk, _encoding, callback) {
      stream.writes++;
      callback(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    },
  }) as Writable & { writes: number };
  stream.writes = 0;
  return stream;
}

describe("writeLine", () => {
  it("a stream that failed once is written to no more, and its error throws nothing", async () => {
    const stream = brokenPipe();
    guardStream(stream);
    writeLine(stream, "first");
    await new Promise((r) => setImmediate(r));
    for (let i = 0; i < 1_000; i++) writeLine(stream, `line ${i}`);
    await new Promise((r) => setImmediate(r));
    expect(stream.writes).toBe(1);
  });

  it("writes lines to a healthy stream, one newline each", async () => {
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk, _encoding, callback) {
        chunks.push(String(chunk));
        callback();
      },
    });
    guardStream(stream);
    writeLine(stream, "a");
    writeLine(stream, "b");
    expect(chunks).toEqual(["a\n", "b\n"]);
  });
});
