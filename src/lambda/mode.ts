/**
 * The Lambda execution mode, from `AWS_LAMBDA_INITIALIZATION_TYPE`: `on-demand`,
 * `provisioned-concurrency`, `snap-start` or `lambda-managed-instances`. The one place the variable
 * is read.
 */

/** Unset (older runtimes, the emulators) means on-demand; any other value is kept as Lambda says it. */
export function executionMode(env: NodeJS.ProcessEnv = process.env): string {
  return (env.AWS_LAMBDA_INITIALIZATION_TYPE ?? "").trim().toLowerCase() || "on-demand";
}
