/**
 * What the emulator records about an environment: every output line of every process (per source,
 * all together, and optionally in `<logDir>/<source>.log`) and the timeline of its steps.
 */
import { appendFileSync } from "node:fs";
import path from "node:path";
import { epochMs } from "./clock.ts";
import type { Mark } from "./model.ts";
import type { TimelineEntry } from "./types.ts";

export class Recorder {
  readonly timeline: TimelineEntry[] = [];
  private readonly lines = new Map<string, string[]>();
  private readonly allLines: string[] = [];

  constructor(
    private readonly logDir: string | undefined,
    private readonly emitLine: (source: string, line: string) => void,
  ) {}

  /** Records a timeline entry (bound: passed around as a `Mark`). */
  readonly mark: Mark = (source, what, detail) => {
    this.timeline.push({ at: epochMs(), source, what, ...(detail !== undefined ? { detail } : {}) });
  };

  /** One captured output line of `source` ("runtime" or an extension name). */
  readonly line = (source: string, line: string): void => {
    let list = this.lines.get(source);
    if (!list) this.lines.set(source, (list = []));
    list.push(line);
    this.allLines.push(line);
    if (this.logDir) {
      try {
        appendFileSync(path.join(this.logDir, `${source}.log`), `${line}\n`);
      } catch {
        /* a log file that cannot be written must not break the environment */
      }
    }
    this.emitLine(source, line);
  };

  logs(source?: string): string[] {
    return source === undefined ? [...this.allLines] : [...(this.lines.get(source) ?? [])];
  }
}
