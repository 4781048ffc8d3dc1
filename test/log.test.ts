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

  it("maps AWS_LAMBDA_LOG_LEVEL to its levels", () => {
    expect(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "fatal", "", undefined, "LOUD"].map(lambdaLogLevel)).toEqual([
      "trace", "debug", "info", "warn", "error", "error", "error", undefined, undefined, undefined,
    ]);
  });
});
