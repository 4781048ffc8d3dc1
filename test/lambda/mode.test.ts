import { describe, expect, it } from "vitest";
import { executionMode } from "../../src/lambda/mode.ts";

describe("the execution mode", () => {
  it("is AWS_LAMBDA_INITIALIZATION_TYPE as Lambda says it; unset or empty is on-demand", () => {
    expect(executionMode({})).toBe("on-demand");
    expect(executionMode({ AWS_LAMBDA_INITIALIZATION_TYPE: " " })).toBe("on-demand");
    for (const mode of ["on-demand", "provisioned-concurrency", "snap-start", "lambda-managed-instances"]) expect(executionMode({ AWS_LAMBDA_INITIALIZATION_TYPE: mode })).toBe(mode);
    expect(executionMode({ AWS_LAMBDA_INITIALIZATION_TYPE: "Snap-Start" })).toBe("snap-start");
  });
});
