/**
 * The Lambda execution mode, from `AWS_LAMBDA_INITIALIZATION_TYPE`, and what each mode changes for
 * the extension: the init budget and the events it registers for (docs/architecture.md,
 * "Execution modes"; README, "Execution modes").
 */

export const EXECUTION_MODES = ["on-demand", "provisioned-concurrency", "snap-start", "lambda-managed-instances"] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];

export type ExtensionEventType = "INVOKE" | "SHUTDOWN";

export interface ModeReading {
  mode: ExecutionMode;
  /** Set when the variable held something this extension does not know. */
  warning?: string;
}

/** The mode Lambda says it runs in; unset means on-demand, anything unknown too (with a warning). */
export function executionMode(env: Record<string, string | undefined>): ModeReading {
  const raw = env.AWS_LAMBDA_INITIALIZATION_TYPE?.trim();
  if (raw === undefined || raw === "") return { mode: "on-demand" };
  const value = raw.toLowerCase();
  const known = EXECUTION_MODES.find((m) => m === value);
  if (known) return { mode: known };
  return {
    mode: "on-demand",
    warning:
      `AWS_LAMBDA_INITIALIZATION_TYPE="${raw.slice(0, 64)}" is not a mode this extension knows (${EXECUTION_MODES.join(", ")}); ` +
      "running as on-demand. Lambda sets this variable: do not set it on the function",
  };
}

/**
 * How long init may take, of the platform's limit. On demand the whole init phase (the function's
 * own init included) has 10 s; the extension keeps 6.5 s of it. The other modes have at least 130 s
 * (the larger of 130 s and the function's timeout); the extension keeps a bounded part, so that a
 * Vault that never answers still leaves the function's init room to finish and report.
 */
export function initBudgetMs(mode: ExecutionMode): number {
  return mode === "on-demand" ? 6_500 : 60_000;
}

/** Lambda Managed Instances accept SHUTDOWN only (INVOKE is refused with 403 Extension.InvalidEventType). */
export function eventsFor(mode: ExecutionMode): ExtensionEventType[] {
  return mode === "lambda-managed-instances" ? ["SHUTDOWN"] : ["INVOKE", "SHUTDOWN"];
}
