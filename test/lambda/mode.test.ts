// The execution mode (docs/architecture.md, "Execution modes"): what AWS_LAMBDA_INITIALIZATION_TYPE says, and what each mode changes.
import { describe, expect, it } from "vitest";
import { eventsFor, EXECUTION_MODES, executionMode, initBudgetMs } from "../../src/lambda/mode.ts";

describe("executionMode", () => {
  it.each([
    [undefined, "on-demand"],
    ["", "on-demand"],
    ["  ", "on-demand"],
    ["on-demand", "on-demand"],
    ["provisioned-concurrency", "provisioned-concurrency"],
    ["snap-start", "snap-start"],
    ["lambda-managed-instances", "lambda-managed-instances"],
    [" SNAP-START ", "snap-start"],
  ])("%j is %s, without a warning", (value, mode) => {
    expect(executionMode({ AWS_LAMBDA_INITIALIZATION_TYPE: value })).toEqual({ mode });
  });

  it("an unknown value runs as on-demand and says so, naming the variable and the known modes", () => {
    const reading = executionMode({ AWS_LAMBDA_INITIALIZATION_TYPE: "snapstart" });
    expect(reading.mode).toBe("on-demand");
    expect(reading.warning).toContain('AWS_LAMBDA_INITIALIZATION_TYPE="snapstart"');
    for (const mode of EXECUTION_MODES) expect(reading.warning).toContain(mode);
    expect(reading.warning).toContain("running as on-demand");
  });

  it("quotes at most 64 characters of an unknown value", () => {
    const reading = executionMode({ AWS_LAMBDA_INITIALIZATION_TYPE: "x".repeat(1000) });
    expect(reading.warning).toContain(`"${"x".repeat(64)}"`);
    expect(reading.warning).not.toContain("x".repeat(65));
  });
});

describe("what each mode changes", () => {
  it("on demand keeps 6.5 s of Lambda's 10 s; the other modes a bounded part of the platform's 130 s", () => {
    expect(initBudgetMs("on-demand")).toBe(6_500);
    for (const mode of ["provisioned-concurrency", "snap-start", "lambda-managed-instances"] as const) {
      expect(initBudgetMs(mode)).toBeGreaterThan(10_000);
      expect(initBudgetMs(mode)).toBeLessThan(130_000);
    }
  });

  it("Managed Instances register SHUTDOWN only; every other mode INVOKE and SHUTDOWN", () => {
    expect(eventsFor("lambda-managed-instances")).toEqual(["SHUTDOWN"]);
    for (const mode of ["on-demand", "provisioned-concurrency", "snap-start"] as const) expect(eventsFor(mode)).toEqual(["INVOKE", "SHUTDOWN"]);
  });
});
