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
  /**
   * Before any exit other than SHUTDOWN: revoke what was obtained (logins and reads in flight
   * included) and delete what was written, bounded to about a second. `exitPath` names the exit.
   */
  abandon(exitPath: string): Promise<void>;
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
 * A request to stop from outside the Extensions API (SIGTERM, SIGINT): `request` it from a signal
 * handler; the lifecycle notices wherever it is waiting, cleans up and exits 0. A second request
 * changes nothing.
 */
export class StopRequest {
  private signal: string | undefined;
  private readonly listeners = new Set<(signal: string) => void>();

  request(signal: string): void {
    if (this.signal !== undefined) return;
    this.signal = signal;
    for (const listener of [...this.listeners]) listener(signal);
  }

  /** `p`, unless a stop is requested first: then a `Stopped` error (and `p` goes on unwatched). */
  race<T>(p: Promise<T>): Promise<T> {
    if (this.signal !== undefined) {
      p.catch(() => undefined);
      return Promise.reject(new Stopped(this.signal));
    }
    return new Promise<T>((resolve, reject) => {
      const onStop = (signal: string) => reject(new Stopped(signal));
      this.listeners.add(onStop);
      p.then(
        (value) => {
          this.listeners.delete(onStop);
          resolve(value);
        },
        (err: unknown) => {
          this.listeners.delete(onStop);
          reject(err);
        },
      );
    });
  }
}

/** Thrown out of whatever the lifecycle awaits when a stop was requested. */
class Stopped extends Error {
  constructor(readonly signal: string) {
    super(`stopped by ${signal}`);
  }
}

/**
 * The exits other than SHUTDOWN: each logs one `warn` line naming the exit path (`exitPath`), then
 * cleans up as SHUTDOWN does (`abandon`), bounded, and returns the exit code.
 */
async function exitWithCleanup(hooks: LifecycleHooks, log: Logger, started: boolean, exitPath: string, code: number, details: Record<string, unknown> = {}): Promise<number> {
  log.warn("exiting without SHUTDOWN: revoking what was obtained and deleting what was written", { exitPath, ...details });
  if (started) await hooks.abandon(exitPath).catch((err) => log.error("cleanup before the exit failed", { exitPath, error: describe(err) }));
  return code;
}

/**
 * Runs the extension until SHUTDOWN (exit 0) or another exit; resolves with the process exit code.
 * `initFailure` is set when the configuration could not even be parsed: the extension still
 * registers, so that Lambda shows the reason instead of a bare crash. The execution mode decides
 * the events registered (./mode.ts: Managed Instances accept SHUTDOWN only) and what a failed
 * `event/next` does: on Managed Instances an extension that exits takes the whole environment (and
 * every invocation running in it) down, so the extension logs it, keeps serving, and asks again.
 * Every exit other than SHUTDOWN — a failed init, `register` or `event/next` answering an error or
 * garbage, a `stop` (SIGTERM, SIGINT), a failure of this loop itself — cleans up first
 * (docs/architecture.md, "Stop").
 */
export async function runLifecycle(
  runtimeApi: string,
  hooks: LifecycleHooks,
  log: Logger,
  initFailure?: InitFailure,
  mode: ExecutionMode = "on-demand",
  stop: StopRequest = new StopRequest(),
): Promise<number> {
  const unlessStopped = <T>(p: Promise<T>): Promise<T> => stop.race(p);
  // Nothing to undo when the configuration failed: nothing was built.
  const started = !initFailure;
  try {
    return await lifecycle(runtimeApi, hooks, log, initFailure, mode, unlessStopped);
  } catch (err) {
    if (err instanceof Stopped) return exitWithCleanup(hooks, log, started, err.signal, 0);
    if (err instanceof RegisterFailed) {
      log.error("register failed; exiting", { error: describe(err.cause) });
      return exitWithCleanup(hooks, log, started, "register failed", 1);
    }
    return exitWithCleanup(hooks, log, started, "lifecycle failed", 1, { error: describe(err) });
  }
}

/** `register` answered an error or garbage (or could not be reached). */
class RegisterFailed extends Error {}

async function lifecycle(
  runtimeApi: string,
  hooks: LifecycleHooks,
  log: Logger,
  initFailure: InitFailure | undefined,
  mode: ExecutionMode,
  unlessStopped: <T>(p: Promise<T>) => Promise<T>,
): Promise<number> {
  const api = new ExtensionsApi(runtimeApi, EXTENSION_NAME, log.redactor);
  let failure = initFailure;
  if (!failure) {
    try {
      await unlessStopped(hooks.listen());
      if (hooks.registration === "late") await unlessStopped(hooks.init());
    } catch (err) {
      if (err instanceof Stopped) throw err;
      failure = asFailure(err);
    }
  }

  try {
    await unlessStopped(api.register(eventsFor(mode)));
  } catch (err) {
    if (err instanceof Stopped) throw err;
    // The init failure, if any, cannot be reported without a registration: it is logged instead.
    if (failure) log.error("init failed", { errorType: failure.type, reason: failure.message });
    throw new RegisterFailed("register failed", { cause: err });
  }
  if (!failure && hooks.registration === "early") {
    // The first `next` comes only once this is done: no request to Vault is in flight then.
    try {
      await unlessStopped(hooks.init());
    } catch (err) {
      if (err instanceof Stopped) throw err;
      failure = asFailure(err);
    }
  }
  if (failure) {
    log.error("init failed", { errorType: failure.type, reason: failure.message });
    // Cleaned up before the report: Lambda may stop the environment as soon as it has it.
    const code = await exitWithCleanup(hooks, log, !initFailure, "init failed", 1, { errorType: failure.type });
    await api.initError(failure.type, failure.message).catch((err) => log.error("could not report the init error", { error: describe(err) }));
    return code;
  }

  let retryMs = NEXT_RETRY_FIRST_MS;
  for (;;) {
    let event: ExtensionEvent;
    try {
      event = await unlessStopped(api.next());
      retryMs = NEXT_RETRY_FIRST_MS;
    } catch (err) {
      if (err instanceof Stopped) throw err;
      if (mode !== "lambda-managed-instances") {
        log.error("event/next failed; exiting", { error: describe(err) });
        return exitWithCleanup(hooks, log, true, "event/next failed", 1);
      }
      log.error("event/next failed; still serving, asking again", { error: describe(err), retryInS: retryMs / 1000 });
      await unlessStopped(new Promise((r) => setTimeout(r, retryMs)));
      retryMs = Math.min(NEXT_RETRY_MAX_MS, retryMs * 2);
      continue;
    }
    if (event.eventType === "INVOKE") {
      await unlessStopped(hooks.onInvoke(event.deadlineMs, event.requestId).catch((err) => log.error("INVOKE handling failed", { error: describe(err) })));
      continue;
    }
    // SHUTDOWN is the cleanup already, bounded by its own deadline: a signal now changes nothing.
    await hooks.onShutdown(event.deadlineMs, (event.shutdownReason ?? "").toLowerCase()).catch((err) =>
      log.error("SHUTDOWN handling failed", { error: describe(err) }),
    );
    return 0;
  }
}
