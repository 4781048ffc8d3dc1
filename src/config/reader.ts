// Reading the environment: trimmed values (empty = unset), and every problem collected, so that a
// user fixes a broken deployment in one round trip instead of one cold start per mistake.
import type { ConfigProblem } from "../errors.ts";
import { Invalid, type Parser } from "./parsers.ts";

/** Reads trimmed values (empty = unset) and collects problems. */
export class Reader {
  readonly problems: ConfigProblem[] = [];
  constructor(private readonly env: Record<string, string | undefined>) {}

  get(variable: string): string | undefined {
    const v = this.env[variable]?.trim();
    return v === undefined || v === "" ? undefined : v;
  }

  has(variable: string): boolean {
    return this.get(variable) !== undefined;
  }

  /** Prefixes the variable's name unless `message` already starts with it ("A: …", "A and B: …"). */
  problem(variable: string, message: string): void {
    const named = message.startsWith(`${variable}:`) || message.startsWith(`${variable} and `);
    this.problems.push({ variable, message: named ? message : `${variable}: ${message}` });
  }

  /** Parses an optional variable: unset → fallback; invalid → a problem, and the fallback. */
  optional<T, F extends T | undefined>(variable: string, fallback: F, parse: Parser<T>): T | F {
    const raw = this.get(variable);
    if (raw === undefined) return fallback;
    const parsed = parse(raw);
    if (parsed instanceof Invalid) {
      this.problem(variable, parsed.message);
      return fallback;
    }
    return parsed;
  }
}
