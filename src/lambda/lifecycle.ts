/**
 * The Lambda side: everything ready before `register` (Lambda starts the function's init as soon as
 * an extension registers), init failures reported through `init/error`, then the event loop.
 */
import { describe } from "../errors.ts";
import type { Logger } from "../log.ts";
import { ExtensionsApi, type ExtensionEvent } from "./extensions-api.ts";
import type { ExtensionEventType } from "./mode.ts";

export const EXTENSION_NAME = "vault-lambda-agent";

export interface LifecycleHooks {
  /** Everything that must be ready before register; throws `{type, message}` errors on failure. */
  init(): Promise<void>;
  onInvoke(deadlineMs: number): Promise<void>;
  onShutdown(deadlineMs: number, reason: string): Promise<void>;
}

export interface InitFailure {
  type: string;
  message: string;
}

/**
 * Runs the extension until SHUTDOWN; resolves with the process exit code.
 * `initFailure` is set when the configuration could not even be parsed: the extension still
 * registers, so that Lambda shows the reason instead of a bare crash. `events` depends on the
 * execution mode (./mode.ts: Managed Instances accept SHUTDOWN only).
 */
export async function runLifecycle(
  runtimeApi: string,
  hooks: LifecycleHooks,
  log: Logger,
  initFailure?: InitFailure,
  events: ExtensionEventType[] = ["INVOKE", "SHUTDOWN"],
): Promise<number> {
  const api = new ExtensionsApi(runtimeApi, EXTENSION_NAME);
  let failure = initFailure;
  if (!failure) {
    try {
      await hooks.init();
    } catch (err) {
      const e = err as Partial<InitFailure> & Error;
      failure = { type: e.type ?? "Extension.UnknownReason", message: e.message };
    }
  }

  await api.register(events);
  if (failure) {
    log.error("init failed", { errorType: failure.type, reason: failure.message });
    await api.initError(failure.type, failure.message).catch((err) => log.error("could not report the init error", { error: describe(err) }));
    return 1;
  }

  for (;;) {
    let event: ExtensionEvent;
    try {
      event = await api.next();
    } catch (err) {
      log.error("event/next failed; exiting", { error: describe(err) });
      return 1;
    }
    if (event.eventType === "INVOKE") {
      await hooks.onInvoke(event.deadlineMs).catch((err) => log.error("INVOKE handling failed", { error: describe(err) }));
      continue;
    }
    await hooks.onShutdown(event.deadlineMs, (event.shutdownReason ?? "").toLowerCase()).catch((err) =>
      log.error("SHUTDOWN handling failed", { error: describe(err) }),
    );
    return 0;
  }
}
