/**
 * Red team of the redactor against secrets that look like the structure of the text it scrubs: a
 * value equal to a JSON key the logger writes, a number, a piece of JSON. A log line, an EMF line or
 * a `/health` answer must stay the JSON it was (Lambda parses the log line to filter by level and
 * to find `message`), with only the secret's occurrences replaced.
 */
import { describe, expect, it } from "vitest";
import { createLogger, Redactor } from "../src/log.ts";

function logged(secrets: unknown[], fields: Record<string, unknown>, message = "read secret"): { line: string; record: Record<string, unknown> } {
  const redactor = new Redactor();
  for (const s of secrets) redactor.addAll(s);
  const lines: string[] = [];
  const log = createLogger({ level: "debug", redactor, write: (l) => void lines.push(l) });
  log.info(message, fields);
  const line = lines[0]!;
  return { line, record: JSON.parse(line) as Record<string, unknown> };
}

describe("a secret equal to a piece of the log line's structure", () => {
  it.each(["message", "extension", "requestId", "timestamp", "exitPath", "leaseId"])("a secret %j (a key the logger writes) leaves every key in place", (secret) => {
    const { record } = logged([secret], { exitPath: "init failed", leaseId: "database/creds/app/abc", note: `the value ${secret} here` });
    expect(record.message).toBe("read secret");
    expect(record.extension).toBe("vault-lambda-agent");
    expect(record).toHaveProperty("exitPath");
    expect(record).toHaveProperty("leaseId");
    expect(record.note).toBe("the value [redacted] here");
  });

  it("a long numeric secret keeps the line JSON: numbers the extension logs are its own", () => {
    const { line, record } = logged(["12345678"], { ms: 123456789, initMs: 12345678, reason: "pin 12345678 refused" });
    expect(() => JSON.parse(line)).not.toThrow();
    expect(record.ms).toBe(123456789);
    expect(record.reason).toBe("pin [redacted] refused");
  });

  it("a secret that is a piece of JSON (`{\"a\":1}`, `null,\"`) keeps the line JSON, and is still replaced inside text", () => {
    for (const secret of ['{"a":1}', 'null,"x', '"},{"x']) {
      const { line, record } = logged([secret], { obj: { a: 1 }, n: null, x: "y", text: `got ${secret} back` });
      expect(() => JSON.parse(line), `${secret}: ${line}`).not.toThrow();
      expect(record.text).toBe("got [redacted] back");
    }
  });

  it("short secrets that are common words (\"true\", \"INFO\", \"{\", \"\") never change a key, a boolean, the level or a number", () => {
    const { line, record } = logged(["true", "INFO", "{", "5432", "ok"], { ok: true, port: 5432, state: "ok", flag: "true", level2: "INFO" });
    expect(() => JSON.parse(line)).not.toThrow();
    expect(record).toMatchObject({ level: "INFO", ok: true, port: 5432 });
    // A short secret standing as a whole value is still replaced.
    expect(record).toMatchObject({ state: "[redacted]", flag: "[redacted]", level2: "[redacted]" });
  });

  it("a secret inside an error message written across lines is replaced on every line", () => {
    const secret = "s3cr3t-multi-line-value";
    const { record } = logged([secret], { error: `Vault answered 400:\n  * invalid value ${secret}\n  * field: "${secret}"` });
    expect(String(record.error)).not.toContain(secret);
    expect(String(record.error).match(/\[redacted\]/g)).toHaveLength(2);
  });
});

describe("numbers in a secret", () => {
  it("a number in a secret's data is registered as its text: a PIN stored as a JSON number is scrubbed from text", () => {
    const redactor = new Redactor();
    redactor.addAll({ pin: 98765432, enabled: true, nested: { list: [1234567890, "x-long-value"] } });
    expect(redactor.scrub("pin 98765432, key 1234567890, x-long-value")).toBe("pin [redacted], key [redacted], [redacted]");
    // Booleans are not secrets: "true" is never registered from a boolean.
    expect(redactor.scrub('{"enabled":true}')).toBe('{"enabled":true}');
  });
});

describe("scrubJson (the /health answer, error bodies)", () => {
  it("scrubs every string of a JSON value and keeps it parseable, whatever the secrets look like", () => {
    const redactor = new Redactor();
    for (const s of ["status", "degraded", "12345678", "secrets"]) redactor.add(s);
    const body = { status: "degraded", secrets: [{ name: "DB", expiresInS: 12345678, reason: "user degraded was refused" }], version: "1.0.0" };
    const scrubbed = JSON.parse(redactor.scrubJson(body)) as typeof body;
    expect(scrubbed.status).toBe("[redacted]");
    expect(scrubbed.secrets[0]!.expiresInS).toBe(12345678);
    expect(scrubbed.secrets[0]!.reason).toBe("user [redacted] was refused");
    expect(scrubbed.version).toBe("1.0.0");
  });
});
