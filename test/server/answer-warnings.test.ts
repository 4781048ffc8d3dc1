import { describe, expect, it } from "vitest";
import { AnswerWarnings } from "../../src/server/answer-warnings.ts";
import { FakeClock, SECOND } from "../vault/fakes.ts";

describe("warnings about error answers, rate-limited", () => {
  it("one line per status per minute, carrying how many were left out since the last", () => {
    const clock = new FakeClock();
    const w = new AnswerWarnings(clock.now);
    expect(w.note(502)).toEqual({ log: true, suppressed: 0 });
    expect(w.note(403)).toEqual({ log: true, suppressed: 0 });
    for (let i = 0; i < 5; i++) {
      clock.advance(SECOND);
      expect(w.note(502)).toEqual({ log: false });
    }
    clock.advance(55 * SECOND);
    expect(w.note(502)).toEqual({ log: true, suppressed: 5 });
    expect(w.note(502)).toEqual({ log: false });
    expect(w.note(403)).toEqual({ log: true, suppressed: 0 });
  });
});
