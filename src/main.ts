/**
 * Entry point of the extension executable: wires configuration, logging, the agent and the Lambda
 * lifecycle. No logic of its own.
 */
import { parseConfig, type Config } from "./config.ts";
import { vleCompat } from "./config/vle-compat.ts";
import { ConfigError, describe } from "./errors.ts";
import { createLogger, Redactor } from "./log.ts";
import { Agent } from "./agent.ts";
import { runLifecycle, type InitFailure } from "./lambda/lifecycle.ts";
import { executionMode, initBudgetMs } from "./lambda/mode.ts";
import { versionLine } from "./self-check.ts";

async function main(): Promise<number> {
  if (process.argv[2] === "--version") {
    process.stdout.write(versionLine() + "\n");
    return 0;
  }
  const startedAt = Date.now();
  const redactor = new Redactor();
  let config: Config | undefined;
  let failure: InitFailure | undefined;
  const compat = vleCompat(process.env);
  try {
    config = parseConfig(compat.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    failure = { type: "Extension.ConfigInvalid", message: err.message };
  }
  const levelFromEnv = (process.env.VAULT_LOG_LEVEL ?? "").trim().toLowerCase();
  const log = createLogger({ level: config?.logLevel ?? (levelFromEnv === "off" ? "off" : "info"), redactor });
  const { mode, warning: modeWarning } = executionMode(process.env);
  const initBudget = initBudgetMs(mode);
  log.info("starting", { mode, initBudgetMs: initBudget });
  if (modeWarning) log.warn(modeWarning);
  for (const warning of [...compat.warnings, ...(config?.warnings ?? [])]) log.warn(warning);
  for (const notice of compat.notices) log.info(notice);

  const runtimeApi = process.env.AWS_LAMBDA_RUNTIME_API;
  if (!runtimeApi) {
    log.error("AWS_LAMBDA_RUNTIME_API is not set: vault-lambda-agent runs as a Lambda extension (from /opt/extensions)");
    return 1;
  }

  const agent = config ? new Agent(config, log, redactor, mode) : undefined;
  process.on("uncaughtException", (err) => log.error("uncaught exception", { error: describe(err) }));
  process.on("unhandledRejection", (err) => log.error("unhandled rejection", { error: describe(err) }));

  return runLifecycle(
    runtimeApi,
    {
      init: async () => {
        const timeline = await agent!.init(startedAt + initBudget);
        log.info("ready", { ...timeline, initMs: Date.now() - startedAt });
      },
      onInvoke: (deadlineMs) => agent!.onInvoke(deadlineMs),
      onShutdown: (deadlineMs, reason) => agent!.shutdown(deadlineMs, reason),
    },
    log,
    failure,
    mode,
  );
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level: "ERROR", message: "vault-lambda-agent crashed", error: describe(err) }) + "\n");
    process.exit(1);
  },
);
