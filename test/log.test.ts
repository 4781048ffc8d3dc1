import { describe, expect, it } from "vitest";
import { createLogger, lambdaLogLevel, Redactor } from "../src/log.ts";

describe("the logger", () => {
  it("writes Lambda's JSON log format, with the invocation's request id while there is one", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", redactor: new Redactor(), write: (l) => void lines.push(l) });
    log.debug("not at info");
    log.info("before");
    log.setRequestId("8f5e0c1a-0000-4000-8000-000000000001");
    log.warn("during", { secret: "DB" });
    log.setRequestId(undefined);
    log.error("after");
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records.map((r) => [r.level, r.message, r.requestId])).toEqual([
      ["INFO", "before", undefined],
      ["WARN", "during", "8f5e0c1a-0000-4000-8000-000000000001"],
      ["ERROR", "after", undefined],
    ]);
    for (const r of records) expect(new Date(r.timestamp as string).toISOString()).toBe(r.timestamp);
    expect(records[1]).toMatchObject({ secret: "DB", extension: "vault-lambda-agent" });
  });

  it("logs a path or URL without its query, which may carry a token", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "info", redactor: new Redactor(), write: (l) => void lines.push(l) });
    log.info("revoked lease", { path: "auth/token/lookup?token=hvs.abc", url: "http://127.0.0.1/v1/x?y=1", other: "a?b" });
    expect(JSON.parse(lines[0]!)).toMatchObject({ path: "auth/token/lookup", url: "http://127.0.0.1/v1/x", other: "a?b" });
  });

  it("maps AWS_LAMBDA_LOG_LEVEL to its levels", () => {
    expect(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "fatal", "", undefined, "LOUD"].map(lambdaLogLevel)).toEqual([
      "trace", "debug", "info", "warn", "error", "error", "error", undefined, undefined, undefined,
    ]);
  });
});

describe("the redactor", () => {
  const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\\kqhkiG9w0"BAQEFAASC\n-----END PRIVATE KEY-----';

  function logged(redactor: Redactor, fields: Record<string, unknown>): string {
    const lines: string[] = [];
    createLogger({ level: "info", redactor, write: (l) => void lines.push(l) }).warn("something failed", fields);
    expect(() => JSON.parse(lines[0]!)).not.toThrow();
    return lines[0]!;
  }

  it("matches a secret with quotes, backslashes and newlines in a JSON line, escaped once and twice", () => {
    const redactor = new Redactor();
    redactor.add(PEM);
    const line = logged(redactor, { error: `Vault answered 400: invalid ${PEM}`, body: JSON.stringify({ key: PEM }) });
    expect(line).not.toContain("MIIEvQIBADANBg");
    expect(line.match(/\[redacted\]/g)).toHaveLength(2);
  });

  it("matches a secret URL-encoded and in base64, as a login request or a query carries it", () => {
    const redactor = new Redactor();
    const sessionToken = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ+abc=";
    redactor.add(sessionToken);
    const text = `x-amz-security-token=${encodeURIComponent(sessionToken)} blob=${Buffer.from(sessionToken).toString("base64")} raw=${sessionToken}`;
    expect(redactor.scrub(text)).toBe("x-amz-security-token=[redacted] blob=[redacted] raw=[redacted]");
  });

  it("matches a secret as Go's JSON escapes it and form-encoded, as Vault may quote a body it was sent", () => {
    const redactor = new Redactor();
    const password = "p<a>s&s w'o(r)d!";
    redactor.add(password);
    const goJson = '{"password":"p\\u003ca\\u003es\\u0026s w\'o(r)d!"}';
    const text = `Vault: invalid body ${goJson}; form password=${new URLSearchParams({ p: password }).toString().slice(2)}`;
    expect(redactor.scrub(text)).toBe('Vault: invalid body {"password":"[redacted]"}; form password=[redacted]');
  });

  it("replaces the longest secret first, so that one containing another goes whole", () => {
    const redactor = new Redactor();
    redactor.add("abcdef");
    redactor.add("abcdef-0123456789");
    expect(redactor.scrub("token abcdef-0123456789 and abcdef")).toBe("token [redacted] and [redacted]");
  });

  it("matches a secret under 6 characters only as a whole value, not inside other words", () => {
    const redactor = new Redactor();
    redactor.add("x9Qz");
    redactor.add("5432");
    const line = logged(redactor, {
      pin: "x9Qz",
      error: 'field "x9Qz" rejected; form pin=x9Qz&user=a; port=5432',
      body: JSON.stringify({ said: JSON.stringify({ pin: "x9Qz" }) }),
      other: "x9Qzzz 15432 at 5432 x9Qz",
    });
    const record = JSON.parse(line) as Record<string, string>;
    expect(record.pin).toBe("[redacted]");
    expect(record.body).not.toContain("x9Qz");
    expect(record.error).toBe('field "[redacted]" rejected; form pin=[redacted]&user=a; port=[redacted]');
    // Inside other values and in running text a short value stays: it would match ordinary words.
    expect(record.other).toBe("x9Qzzz 15432 at 5432 x9Qz");
  });

  it("never touches the timestamp and the level, even when a secret reads like one", () => {
    const redactor = new Redactor();
    redactor.add("WARN");
    const record = JSON.parse(logged(redactor, { said: "WARN" })) as Record<string, string>;
    expect(record.level).toBe("WARN");
    expect(record.said).toBe("[redacted]");
  });

  it("takes secrets found anywhere in a structure, and ignores what is not a string", () => {
    const redactor = new Redactor();
    redactor.addAll({ a: ["pw-1-secret", { b: "another-secret" }], n: 5, z: null });
    expect(redactor.scrub("pw-1-secret another-secret 5")).toBe("[redacted] [redacted] 5");
  });
});
