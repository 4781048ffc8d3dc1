/**
 * Entry point of the extension executable: wires configuration, logging, the agent and the Lambda
 * lifecycle. No logic of its own.
 */
import { environmentSecrets, parseConfig, type Config } from "./config.ts";
import { vleCompat } from "./config/vle-compat.ts";
import { ConfigError, describe } from "./errors.ts";
import { createLogger, lambdaLogLevel, Redactor } from "./log.ts";
import { Agent } from "./agent.ts";
import { registrationOrder, runLifecycle, StopRequest, type InitFailure } from "./lambda/lifecycle.ts";
import { executionMode, initBudgetMs } from "./lambda/mode.ts";
import { versionLine } from "./self-check.ts";
import { writeLine } from "./output.ts";
import { flavor, VERSION } from "./build-info.ts";

/** Module-wide, so that even the last-resort crash line below goes through it. */
const redactor = new Redactor();

async function main(): Promise<number> {
  if (process.argv[2] === "--version") {
    process.stdout.write(versionLine() + "\n");
    return 0;
  }
  const startedAt = Date.now();
  // The cost in front of `register` (the only part of the init the function always waits for), in
  // ms since the process started: reported in the "ready" line, measured by `npm run bench`.
  const mainAt = performance.now();
  let config: Config | undefined;
  let failure: InitFailure | undefined;
  const compat = vleCompat(process.env);
  redactor.addAll(environmentSecrets(compat.env));
  try {
    config = parseConfig(compat.env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    failure = { type: "Extension.ConfigInvalid", message: err.message };
  }
  const levelFromEnv = (process.env.VAULT_LOG_LEVEL ?? "").trim().toLowerCase();
  const log = createLogger({ level: config?.logLevel ?? (levelFromEnv === "off" ? "off" : (lambdaLogLevel(process.env.AWS_LAMBDA_LOG_LEVEL) ?? "info")), redactor });
  const { mode, warning: modeWarning } = executionMode(process.env);
  const initBudget = initBudgetMs(mode);
  const build = { version: VERSION, flavor: flavor(), mode };
  log.info("vault-lambda-agent starting", { ...build, initBudgetMs: initBudget, node: process.version });
  if (modeWarning) log.warn(modeWarning);
  for (const warning of [...compat.warnings, ...(config?.warnings ?? [])]) log.warn(warning);
  for (const notice of compat.notices) log.info(notice);

  const runtimeApi = process.env.AWS_LAMBDA_RUNTIME_API;
  if (!runtimeApi) {
    log.error("AWS_LAMBDA_RUNTIME_API is not set: vault-lambda-agent runs as a Lambda extension (from /opt/extensions)");
    return 1;
  }

  const configuredAt = performance.now();
  const agent = config ? new Agent(config, log, redactor, mode, build) : undefined;
  const registration = config ? registrationOrder(config) : "early";
  let listenedAt = 0;
  const preRegister: Record<string, number> = { nodeBootMs: performance.nodeTiming.bootstrapComplete, bundleMs: mainAt - performance.nodeTiming.bootstrapComplete, configMs: configuredAt - mainAt, agentMs: performance.now() - configuredAt };
  process.on("uncaughtException", (err) => log.error("uncaught exception", { error: describe(err) }));
  process.on("unhandledRejection", (err) => log.error("unhandled rejection", { error: describe(err) }));
  // Lambda stops an extension with SHUTDOWN; a signal comes from an operator or a container stop,
  // and gets the same cleanup, bounded (docs/architecture.md, "Stop").
  const stop = new StopRequest();
  for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => stop.request(signal));

  return runLifecycle(
    runtimeApi,
    {
      registration,
      listen: async () => {
        const t = performance.now();
        await agent!.listen(startedAt + initBudget);
        listenedAt = performance.now();
        preRegister.listenMs = listenedAt - t;
      },
      init: async () => {
        // Early: this starts right after register answered.
        if (registration === "early") preRegister.registerMs = performance.now() - listenedAt;
        const timeline = await agent!.init(startedAt + initBudget);
        const rounded = Object.fromEntries(Object.entries(preRegister).map(([k, v]) => [k, Math.round(v * 10) / 10]));
        log.info("ready", { ...timeline, initMs: Date.now() - startedAt, registration, preRegister: rounded });
      },
      abandon: (exitPath) => agent!.abandon(exitPath),
      onInvoke: (deadlineMs, requestId) => {
        log.setRequestId(requestId);
        return agent!.onInvoke(deadlineMs);
      },
      onShutdown: (deadlineMs, reason) => {
        log.setRequestId(undefined);
        return agent!.shutdown(deadlineMs, reason);
      },
    },
    log,
    failure,
    mode,
    stop,
  );
}

main().then(
  (code) => process.exit(code),
  (err) => {
    writeLine(process.stderr, redactor.scrub(JSON.stringify({ timestamp: new Date().toISOString(), level: "ERROR", message: "vault-lambda-agent crashed", error: describe(err) })));
    process.exit(1);
  },
);
