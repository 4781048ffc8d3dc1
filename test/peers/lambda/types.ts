/**
 * Public types of the Lambda emulator. `emulator.ts` re-exports all of them; import from there.
 * Every timestamp is `epochMs()` (performance.timeOrigin + performance.now(), float epoch ms) so that
 * it can be compared with timestamps taken by other peers and by the product's tests.
 */

/** Lambda's execution modes, as `AWS_LAMBDA_INITIALIZATION_TYPE` names them. */
export type LambdaMode = "on-demand" | "provisioned-concurrency" | "snap-start" | "lambda-managed-instances";

export interface EmulatorCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** Epoch ms; what the container-credentials endpoint says in `Expiration` (default: an hour from the answer). */
  expiresAt?: number;
}

export interface EmulatorOptions {
  /** Like `/opt`: every regular file in `<layerDir>/extensions/` is an external extension. */
  layerDir: string;
  /** `LAMBDA_TASK_ROOT`: holds the handler module. */
  functionDir: string;
  /**
   * nodejs: `"index.handler"` → `<functionDir>/index.{js,mjs,cjs}`, export `handler` (ESM or CJS).
   * python: `"app.handler"` → `<functionDir>/app.py`, function `handler`.
   */
  handler: string;
  /** The function's runtime: `nodejs` (default, this process's node) or `python` (the host's python3). */
  runtime?: "nodejs" | "python";
  /** The function's own environment variables (Lambda's reserved names are rejected). */
  env?: Record<string, string>;
  /**
   * The function role's credentials: in the environment (`AWS_ACCESS_KEY_ID`...), or under
   * `snap-start` only on the container-credentials endpoint (`setCredentials` replaces them).
   */
  credentials: EmulatorCredentials;
  /**
   * `AWS_LAMBDA_INITIALIZATION_TYPE`; default `on-demand`. `snap-start`: no keys in the environment,
   * `AWS_CONTAINER_CREDENTIALS_FULL_URI` (on the Runtime API port) and `AWS_CONTAINER_AUTHORIZATION_TOKEN`
   * instead. `lambda-managed-instances`: registering `INVOKE` is refused (403 `Extension.InvalidEventType`).
   */
  mode?: LambdaMode;
  /** Managed Instances: how many invocations the runtime runs at once (`AWS_LAMBDA_MAX_CONCURRENCY`). Default 8. */
  maxConcurrency?: number;
  /** Default `us-east-1`. */
  region?: string;
  /** Default `emulated-function`. */
  functionName?: string;
  /** Default `$LATEST`. */
  functionVersion?: string;
  /** Default 128. */
  memoryMb?: number;
  /** Account id in ARNs and in the register answer (`accountId` feature). Default `123456789012`. */
  accountId?: string;
  /** Function timeout; bounds the whole invoke phase, extensions included. Default 3000. */
  timeoutMs?: number;
  /** Init phase limit (extension init + runtime init + function init). Default 10 000 on demand, 130 000 in the other modes. */
  initTimeoutMs?: number;
  /** Shutdown budget with external extensions. Default 2000; the runtime gets min(300, 30 %) of it first. */
  shutdownBudgetMs?: number;
  /** Default true (false on Managed Instances): SIGSTOP every process group after init and after each invoke, SIGCONT before the next event. */
  freezeBetweenInvokes?: boolean;
  /** If set, every captured output line of every process is appended to `<logDir>/<source>.log`. */
  logDir?: string;
}

/**
 * An Extensions API call answered wrongly on purpose, to test an extension's exit paths: the
 * matching call gets `status` with `body` as is (default: `200` with a body that is not JSON and no
 * `Lambda-Extension-Identifier`, i.e. garbage), and the call changes nothing in the environment.
 */
export interface ExtensionsApiFault {
  route: "register" | "event/next";
  /** Default 200. */
  status?: number;
  /** Sent as is; default `<html>bad gateway</html>`. */
  body?: string;
  /** Matching calls let through before the fault applies (default 0). */
  skip?: number;
  /** How many calls it applies to (default 1). */
  times?: number;
}

export interface ExtensionInfo {
  /** The executable's file name (what it must send as `Lambda-Extension-Name`). */
  name: string;
  pid: number | undefined;
  /** Events it subscribed to at register (empty before register). */
  events: Array<"INVOKE" | "SHUTDOWN">;
  registeredAt?: number;
  firstNextAt?: number;
  /** Set when it called `/extension/init/error`. */
  initError?: { type: string; message: string };
  /** Set when it called `/extension/exit/error`. */
  exitError?: { type: string; message: string };
  /** Exit code once it exited (null when killed by a signal). */
  exitCode?: number | null;
}

export interface EmulatorError {
  /** Extension name, `"runtime"`, or `"lambda"` for limits enforced by the platform itself. */
  source: string;
  type: string;
  message: string;
}

export interface InitResult {
  ok: boolean;
  /** start of init → init done (or failed / timed out). */
  durationMs: number;
  startedAt: number;
  error?: EmulatorError;
  extensions: ExtensionInfo[];
  /** When the runtime process was spawned (only after every extension registered). */
  runtimeInitStartedAt?: number;
  initDoneAt?: number;
  /** A failed init resets the environment (shutdown with reason "failure"); its report. */
  reset?: ShutdownResult;
}

export interface InvokeResult {
  ok: boolean;
  /** The function's response, parsed as JSON when it is JSON. */
  response?: unknown;
  error?: { errorType: string; errorMessage: string };
  timedOut: boolean;
  requestId: string;
  /** When the event was delivered (runtime and INVOKE subscribers at once). */
  startedAt: number;
  /** When the runtime posted its response or error. */
  runtimeDoneAt?: number;
  /** When the invoke phase ended (runtime and every extension back in `next`), or failed. */
  doneAt: number;
  /** event → runtime response (or → doneAt when the runtime never answered). */
  durationMs: number;
  /** runtime response → last extension back in `next` (Lambda's PostRuntimeExtensionsDuration). */
  extensionOverheadMs: number;
  /** Set when this invoke had to (re-)initialise the environment first (after a reset). */
  init?: InitResult;
  /** Set when the invoke failed hard (timeout, crash) and the environment was reset. */
  reset?: ShutdownResult;
}

export interface ShutdownResult {
  durationMs: number;
  /** The `shutdownReason` sent to extensions: "spindown" | "timeout" | "failure". */
  reason: string;
  /** Exit code per process ("runtime" or extension name); null when it ended by a signal. */
  exitCodes: Record<string, number | null>;
  /** Signal that ended each process, or null. */
  exitSignals: Record<string, string | null>;
  /** SIGKILLed because they were still alive at their deadline ("runtime" included). */
  killed: string[];
  /** Extensions SIGKILLed at once because they had not subscribed to SHUTDOWN (or never registered). */
  killedUnsubscribed: string[];
  /** The `deadlineMs` of the SHUTDOWN event (epoch ms, wall clock); 0 without external extensions. */
  deadlineMs: number;
  /** SIGTERM to the runtime → runtime gone (exited or SIGKILLed at its share of the budget). */
  runtimeMs: number;
  /** SHUTDOWN sent → every extension gone. */
  extensionsMs: number;
}

export interface TimelineEntry {
  at: number;
  /** "runtime", an extension name, or "lambda" for the emulator's own steps. */
  source: string;
  /**
   * spawn | register | register-rejected | next | init/error | exit/error | runtime-init-start |
   * runtime-next | runtime-response | runtime-error | runtime-init-error | init-done | init-failed |
   * invoke | event | invoke-done | invoke-failed | freeze | thaw | idle | SIGTERM | SIGKILL |
   * shutdown-start | shutdown-done | exit
   */
  what: string;
  detail?: string;
}
