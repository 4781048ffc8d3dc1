/**
 * The Lambda side: register as early as the configuration allows (Lambda starts the function's init
 * as soon as every extension registered), init failures reported through `init/error`, then the
 * event loop. See docs/architecture.md ("Init").
 */
import type { Config } from "../config.ts";
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import { ExtensionsApi, type ExtensionEvent } from "./extensions-api.ts";
import { eventsFor, type ExecutionMode } from "./mode.ts";

/** Managed Instances: retries of a failed `event/next`, 1 s doubling up to 30 s. */
const NEXT_RETRY_FIRST_MS = 1_000;
const NEXT_RETRY_MAX_MS = 30_000;

export const EXTENSION_NAME = "vault-lambda-agent";

/**
 * `early`: register once the listener is bound; the login and the reads run while the function
 * initialises (its requests wait for them). `late`: register after them, because a secret is written
 * to a file and the function's init may open it at once.
 */
export type RegistrationOrder = "early" | "late";

export function registrationOrder(config: Pick<Config, "runMode" | "secrets">): RegistrationOrder {
  return config.runMode === "file" || config.secrets.some((s) => s.file !== undefined) ? "late" : "early";
}

export interface LifecycleHooks {
  registration: RegistrationOrder;
  /** What must be done before register in either order (the listener); throws `{type, message}` errors. */
  listen(): Promise<void>;
  /** The init work (login, reads, files): before register when late, after it when early. */
  init(): Promise<void>;
  /** After a failed init, before exiting: revoke and delete what the init obtained (bounded). */
  abandon(): Promise<void>;
  onInvoke(deadlineMs: number, requestId?: string): Promise<void>;
  onShutdown(deadlineMs: number, reason: string): Promise<void>;
}

export interface InitFailure {
  type: string;
  message: string;
}

function asFailure(err: unknown): InitFailure {
  const e = err as Partial<InitFailure> & Error;
  return { type: e.type ?? "Extension.UnknownReason", message: e.message };
}

/**
 * Runs the extension until SHUTDOWN; resolves with the process exit code.
 * `initFailure` is set when the configuration could not even be parsed: the extension still
 * registers, so that Lambda shows the reason instead of a bare crash. The execution mode decides
 * the events registered (./mode.ts: Managed Instances accept SHUTDOWN only) and what a failed
 * `event/next` does: on Managed Instances an extension that exits takes the whole environment (and
 * every invocation running in it) down, so the extension logs it, keeps serving, and asks again.
 */
export async function runLifecycle(
  runtimeApi: string,
  hooks: LifecycleHooks,
  log: Logger,
  initFailure?: InitFailure,
  mode: ExecutionMode = "on-demand",
): Promise<number> {
  const api = new ExtensionsApi(runtimeApi, EXTENSION_NAME, log.redactor);
  let failure = initFailure;
  // Nothing to undo when the configuration failed: nothing was built.
  let started = false;
  if (!failure) {
    started = true;
    try {
      await hooks.listen();
      if (hooks.registration === "late") await hooks.init();
    } catch (err) {
      failure = asFailure(err);
    }
  }

  await api.register(eventsFor(mode));
  if (!failure && hooks.registration === "early") {
    // The first `next` comes only once this is done: no request to Vault is in flight then.
    try {
      await hooks.init();
    } catch (err) {
      failure = asFailure(err);
    }
  }
  if (failure) {
    log.error("init failed", { errorType: failure.type, reason: failure.message });
    if (started) await hooks.abandon().catch((err) => log.error("cleanup after the failed init failed", { error: describe(err) }));
    await api.initError(failure.type, failure.message).catch((err) => log.error("could not report the init error", { error: describe(err) }));
    return 1;
  }

  let retryMs = NEXT_RETRY_FIRST_MS;
  for (;;) {
    let event: ExtensionEvent;
    try {
      event = await api.next();
      retryMs = NEXT_RETRY_FIRST_MS;
    } catch (err) {
      if (mode !== "lambda-managed-instances") {
        log.error("event/next failed; exiting", { error: describe(err) });
        return 1;
      }
      log.error("event/next failed; still serving, asking again", { error: describe(err), retryInS: retryMs / 1000 });
      await new Promise((r) => setTimeout(r, retryMs));
      retryMs = Math.min(NEXT_RETRY_MAX_MS, retryMs * 2);
      continue;
    }
    if (event.eventType === "INVOKE") {
      await hooks.onInvoke(event.deadlineMs, event.requestId).catch((err) => log.error("INVOKE handling failed", { error: describe(err) }));
      continue;
    }
    await hooks.onShutdown(event.deadlineMs, (event.shutdownReason ?? "").toLowerCase()).catch((err) =>
      log.error("SHUTDOWN handling failed", { error: describe(err) }),
    );
    return 0;
  }
}
