/**
 * A Lambda execution environment on this machine: runs a layer directory the way Lambda runs `/opt`
 * and a handler the way Lambda's runtime does, with the Extensions API and the Runtime API on one
 * loopback port, Lambda's init/invoke/shutdown rules and limits, and a real freeze: every process
 * group is SIGSTOPped between events and SIGCONTed before the next one.
 *
 * This file holds the public API and the lifecycle (init, invoke, shutdown, reset); the APIs are in
 * api.ts, the processes and the freeze in processes.ts, the graceful shutdown in shutdown.ts. The
 * rules follow AWS's docs and the Runtime Interface Emulator's `rapid` core; where they differ from
 * the docs or where a choice was made, README.md beside this file says so.
 */
import { EventEmitter } from "node:events";
import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { CONTAINER_CREDENTIALS_PATH, LambdaApi, type ApiHost } from "./api.ts";
import { epochMs } from "./clock.ts";
import { lambdaEnvironments, checkUserEnv } from "./env.ts";
import { MAX_EXTENSIONS, deliverToExtension, deliverToRuntime, infoOf, listExtensions, liveProcs, parseResponse, registered, traceHeader, type Generation, type Invocation } from "./model.ts";
import { Processes } from "./processes.ts";
import { Recorder } from "./recorder.ts";
import { runtimeSpec, type RuntimeSpec } from "./runtimes.ts";
import { ApiServer } from "./server.ts";
import { emptyShutdown, gracefulShutdown } from "./shutdown.ts";
import { StateWaiter } from "./waiter.ts";
import type { EmulatorError, EmulatorOptions, ExtensionInfo, ExtensionsApiFault, InitResult, InvokeResult, ShutdownResult, TimelineEntry } from "./types.ts";

export type { EmulatorError, EmulatorOptions, ExtensionInfo, ExtensionsApiFault, InitResult, InvokeResult, ShutdownResult, TimelineEntry } from "./types.ts";
export { epochMs } from "./clock.ts";
export { MAX_EXTENSIONS, MAX_RESPONSE_BYTES } from "./model.ts";


type Phase = "new" | "initializing" | "ready" | "invoking" | "failed" | "shutting-down" | "shutdown" | "killed";
type Outcome = "done" | "fatal" | "timeout" | "killed";

export class LambdaEmulator extends EventEmitter {
  private readonly opts: Required<Omit<EmulatorOptions, "logDir" | "env">> & { env: Record<string, string>; logDir?: string; credentialsToken: string };
  private phase: Phase = "new";
  private gen: Generation | undefined;
  private readonly waiter = new StateWaiter();
  private killPromise: Promise<void> | undefined;
  private readonly recorder: Recorder;
  private readonly processes: Processes;
  private readonly server: ApiServer;
  private readonly runtime: RuntimeSpec;
  private readonly faults: Array<ExtensionsApiFault & { seen: number; left: number }> = [];

  constructor(opts: EmulatorOptions) {
    super();
    // A `log` listener is optional; make sure an "error" emit can never crash the host.
    this.on("error", () => undefined);
    const env = opts.env ?? {};
    checkUserEnv(env);
    this.opts = {
      layerDir: path.resolve(opts.layerDir),
      functionDir: path.resolve(opts.functionDir),
      handler: opts.handler,
      env,
      credentials: opts.credentials,
      mode: opts.mode ?? "on-demand",
      maxConcurrency: opts.maxConcurrency ?? 8,
      // SnapStart's AWS_CONTAINER_AUTHORIZATION_TOKEN: a random UUID, as Lambda's.
      credentialsToken: randomUUID(),
      region: opts.region ?? "us-east-1",
      functionName: opts.functionName ?? "emulated-function",
      functionVersion: opts.functionVersion ?? "$LATEST",
      memoryMb: opts.memoryMb ?? 128,
      accountId: opts.accountId ?? "123456789012",
      timeoutMs: opts.timeoutMs ?? 3_000,
      // 10 s on demand; the other modes have at least 130 s (the larger of 130 s and the timeout).
      initTimeoutMs: opts.initTimeoutMs ?? ((opts.mode ?? "on-demand") === "on-demand" ? 10_000 : 130_000),
      shutdownBudgetMs: opts.shutdownBudgetMs ?? 2_000,
      // Managed Instances are never frozen.
      freezeBetweenInvokes: opts.freezeBetweenInvokes ?? opts.mode !== "lambda-managed-instances",
      runtime: opts.runtime ?? "nodejs",
      ...(opts.logDir ? { logDir: path.resolve(opts.logDir) } : {}),
    };
    if (this.opts.logDir) mkdirSync(this.opts.logDir, { recursive: true });
    this.runtime = runtimeSpec(this.opts.runtime);
    this.recorder = new Recorder(this.opts.logDir, (source, line) => void this.emit("log", source, line));
    const emit = (event: string, ...args: unknown[]): void => void this.emit(event, ...args);
    const currentGen = (): Generation | undefined => this.gen;
    const apiHost: ApiHost = {
      get gen() {
        return currentGen();
      },
      config: this.opts,
      mark: this.recorder.mark,
      emit,
      notify: () => this.waiter.notify(),
      takeFault: (route) => this.takeFault(route),
    };
    this.server = new ApiServer(new LambdaApi(apiHost));
    this.processes = new Processes({
      current: currentGen,
      isKilled: () => this.isKilled(),
      mark: this.recorder.mark,
      line: this.recorder.line,
      emit,
      waiter: this.waiter,
    });
    liveEmulators.add(this);
  }

  /** `"127.0.0.1:PORT"`, the value of AWS_LAMBDA_RUNTIME_API. Available once start() was called. */
  get runtimeApi(): string {
    if (!this.server.listening) throw new Error("LambdaEmulator: runtimeApi is known once start() has been called");
    return `127.0.0.1:${this.server.port}`;
  }

  /**
   * Replaces the function role's credentials, as a SnapStart restore does: the container-credentials
   * endpoint answers the new ones from now on (the environment's keys of a running process cannot change).
   */
  setCredentials(credentials: EmulatorOptions["credentials"]): void {
    this.opts.credentials = credentials;
  }

  /**
   * SnapStart: the snapshot taken at the end of init stays frozen for `afterMs`, then is restored
   * with new credentials (the container-credentials endpoint answers them from then on). The next
   * `invoke` thaws the processes and sends INVOKE, as Lambda does after a restore; extensions get no
   * event of their own for it.
   */
  async restore(credentials: EmulatorOptions["credentials"], afterMs = 0): Promise<void> {
    if (this.opts.mode !== "snap-start") throw new Error(`LambdaEmulator.restore(): the mode is ${this.opts.mode}, not snap-start`);
    this.recorder.mark("lambda", "snapshot");
    await this.idle(afterMs);
    this.setCredentials(credentials);
    this.recorder.mark("lambda", "restore", credentials.accessKeyId);
  }

  get frozen(): boolean {
    return this.processes.frozen;
  }

  /** Answers matching Extensions API calls wrongly from now on (README, "Faults"). */
  addFault(fault: ExtensionsApiFault): void {
    this.faults.push({ ...fault, seen: 0, left: fault.times ?? 1 });
  }

  private takeFault(route: ExtensionsApiFault["route"]): ExtensionsApiFault | undefined {
    for (const f of this.faults) {
      if (f.route !== route || f.left <= 0) continue;
      if (f.seen++ < (f.skip ?? 0)) continue;
      f.left--;
      return f;
    }
    return undefined;
  }

  /**
   * Sends `signal` to one process of the environment ("runtime" or an extension's name), thawed
   * first: what an operator's `kill` (or a container stop) does, which Lambda itself never does to
   * an extension. False when that process is not alive.
   */
  signal(source: string, signal: NodeJS.Signals): boolean {
    const gen = this.gen;
    const proc = source === "runtime" ? gen?.runtime.proc : gen?.extensions.find((e) => e.name === source)?.proc;
    if (!gen || !proc || proc.exited) return false;
    this.processes.thaw(gen);
    this.recorder.mark(source, signal);
    return proc.signal(signal);
  }

  get timeline(): TimelineEntry[] {
    return this.recorder.timeline;
  }

  /** The function's ARN, as in INVOKE events and Lambda-Runtime-Invoked-Function-Arn. */
  get functionArn(): string {
    return `arn:aws:lambda:${this.opts.region}:${this.opts.accountId}:function:${this.opts.functionName}`;
  }

  /** Captured stdout/stderr lines of one process ("runtime" or an extension name), or of all. */
  logs(source?: string): string[] {
    return this.recorder.logs(source);
  }

  /** Pids (= process group ids) of the live processes of the current environment. */
  pids(): number[] {
    const gen = this.gen;
    if (!gen) return [];
    return liveProcs(gen).flatMap((p) => (p.pid === undefined ? [] : [p.pid]));
  }

  /** The extensions of the current environment, as InitResult reports them. */
  extensionInfo(): ExtensionInfo[] {
    return this.gen ? this.gen.extensions.map(infoOf) : [];
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle

  /** Init: spawn extensions, start the runtime once all registered, resolve when init is over. */
  async start(): Promise<InitResult> {
    if (this.phase !== "new") throw new Error(`LambdaEmulator.start(): already started (environment is ${this.phase})`);
    return this.runInit();
  }

  /**
   * One invocation. After a reset (function timeout, crash, failed init) the environment is
   * initialised again first, as Lambda does on the next invoke; the result then carries `init`.
   */
  async invoke(payload?: unknown): Promise<InvokeResult> {
    if (this.opts.mode === "lambda-managed-instances") return this.invokeConcurrently(payload);
    const before = await this.resetBeforeInvoke();
    if ("failed" in before) return before.failed;
    const init = before.init;
    this.requireReady();
    const gen = this.gen!;
    this.phase = "invoking";

    const inv = this.newInvocation(payload);
    const requestId = inv.requestId;
    gen.invocation = inv;
    this.processes.thaw(gen);
    const startedAt = epochMs();
    this.recorder.mark("lambda", "invoke", requestId);
    this.deliverInvoke(gen, inv);

    // The function timeout bounds the whole invoke phase, extensions included.
    const outcome = await this.awaitOutcome(
      gen,
      () => inv.response !== undefined && gen.runtime.pendingNext !== undefined && registered(gen).every((e) => e.pendingNext !== undefined),
      startedAt + this.opts.timeoutMs,
    );
    const result: InvokeResult = { ...invokeAccounting(gen, inv, startedAt, outcome === "timeout"), ...(init ? { init } : {}) };

    if (outcome === "killed") return { ...result, error: { errorType: "Emulator.Killed", errorMessage: "the emulator was killed during the invoke" } };
    if (outcome === "done") {
      result.ok = inv.response?.ok === true;
      gen.invocation = undefined;
      this.recorder.mark("lambda", "invoke-done", requestId);
      await this.freeze(gen);
      if (this.isKilled()) return result;
      this.phase = "ready";
    } else {
      if (outcome === "timeout") {
        result.error = {
          errorType: "Sandbox.Timedout",
          errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(this.opts.timeoutMs / 1000).toFixed(2)} seconds`,
        };
      } else {
        result.error = { errorType: gen.fatal?.type ?? "Unknown", errorMessage: gen.fatal?.message ?? "" };
      }
      this.recorder.mark("lambda", "invoke-failed", `${requestId} ${result.error.errorType}`);
      // A timeout or a crash resets the environment: a shutdown, then a fresh init on the next invoke.
      this.phase = "shutting-down";
      result.reset = await this.shutdownGeneration(gen, outcome === "timeout" ? "timeout" : "failure");
      if (!this.isKilled()) this.phase = "failed";
    }
    this.emit("invoke-done", result);
    return result;
  }

  private requireReady(): void {
    if (this.phase === "ready") return;
    const hint = this.phase === "new" ? " (call start() first)" : "";
    throw new Error(`LambdaEmulator.invoke(): cannot invoke while the environment is ${this.phase}${hint}`);
  }

  private newInvocation(payload: unknown): Invocation {
    return {
      requestId: randomUUID(),
      payload: payload === undefined ? "{}" : JSON.stringify(payload),
      deadlineMs: Date.now() + this.opts.timeoutMs,
      arn: this.functionArn,
      traceId: traceHeader(),
    };
  }

  /**
   * Managed Instances: invocations run side by side (as many as the runtime has workers waiting;
   * more wait in the queue), nothing freezes, extensions get no INVOKE, and a timeout or an error
   * ends that invocation only (the environment goes on, as there).
   */
  private async invokeConcurrently(payload: unknown): Promise<InvokeResult> {
    this.requireReady();
    const gen = this.gen!;
    const inv = this.newInvocation(payload);
    gen.invocations.set(inv.requestId, inv);
    const startedAt = epochMs();
    this.recorder.mark("lambda", "invoke", inv.requestId);
    deliverToRuntime(gen, inv, this.recorder.mark);
    const outcome = await this.awaitOutcome(gen, () => inv.response !== undefined, startedAt + this.opts.timeoutMs);
    gen.invocations.delete(inv.requestId);
    const result = invokeAccounting(gen, inv, startedAt, outcome === "timeout");
    result.ok = outcome === "done" && inv.response?.ok === true;
    if (outcome === "timeout") result.error = { errorType: "Sandbox.Timedout", errorMessage: `RequestId: ${inv.requestId} Error: Task timed out after ${(this.opts.timeoutMs / 1000).toFixed(2)} seconds` };
    else if (outcome !== "done") result.error = { errorType: gen.fatal?.type ?? "Emulator.Killed", errorMessage: gen.fatal?.message ?? "the emulator was killed during the invoke" };
    this.recorder.mark("lambda", result.ok ? "invoke-done" : "invoke-failed", inv.requestId);
    this.emit("invoke-done", result);
    return result;
  }

  /**
   * Before an invoke, Lambda resets an environment a process of which died while it was idle, and
   * initialises again one that was reset. Returns the invoke's failed result if that init failed.
   */
  private async resetBeforeInvoke(): Promise<{ init?: InitResult } | { failed: InvokeResult }> {
    const crashed = this.gen;
    if (this.phase === "ready" && crashed?.fatal) {
      this.phase = "shutting-down";
      await this.shutdownGeneration(crashed, "failure");
      if (this.isKilled()) return { failed: emptyInvoke({ errorType: "Emulator.Killed", errorMessage: "the emulator was killed" }) };
      this.phase = "failed";
    }
    if (this.phase !== "failed") return {};
    const init = await this.runInit();
    if (init.ok) return { init };
    const error = { errorType: init.error?.type ?? "Unknown", errorMessage: init.error?.message ?? "init failed" };
    return { failed: { ...emptyInvoke(error), timedOut: init.error?.type === "Sandbox.Timedout", init } };
  }

  /** The runtime and every INVOKE subscriber get the event at the same time. */
  private deliverInvoke(gen: Generation, inv: Invocation): void {
    deliverToRuntime(gen, inv, this.recorder.mark);
    for (const ext of gen.extensions) {
      if (ext.id && ext.events.includes("INVOKE") && !ext.exitError) {
        deliverToExtension(
          ext,
          { eventType: "INVOKE", deadlineMs: inv.deadlineMs, requestId: inv.requestId, invokedFunctionArn: inv.arn, tracing: { type: "X-Amzn-Trace-Id", value: inv.traceId } },
          this.recorder.mark,
        );
      }
    }
  }

  /** Lets wall-clock time pass while the environment stays as it is (frozen, between invokes). */
  async idle(ms: number): Promise<void> {
    this.recorder.mark("lambda", "idle", `${ms} ms`);
    await this.waiter.until(() => (this.isKilled() ? true : undefined), ms);
  }

  /** Shuts the environment down (SIGTERM runtime, SHUTDOWN to extensions, SIGKILL at the deadline). */
  async shutdown(reason: "spindown" | "timeout" | "failure" = "spindown"): Promise<ShutdownResult> {
    if (this.phase === "initializing" || this.phase === "invoking" || this.phase === "shutting-down") {
      throw new Error(`LambdaEmulator.shutdown(): cannot shut down while the environment is ${this.phase}`);
    }
    if (this.phase === "shutdown" || this.phase === "killed") throw new Error(`LambdaEmulator.shutdown(): already ${this.phase}`);
    let result: ShutdownResult;
    if (this.gen && this.phase !== "new" && this.phase !== "failed") {
      this.phase = "shutting-down";
      result = await this.shutdownGeneration(this.gen, reason);
    } else {
      result = emptyShutdown(reason);
    }
    if (!this.isKilled()) this.phase = "shutdown";
    await this.server.close();
    liveEmulators.delete(this);
    return result;
  }

  /** Hard cleanup for afterEach: SIGCONT + SIGKILL every process group, close the server. Idempotent. */
  kill(): Promise<void> {
    this.killPromise ??= (async () => {
      this.phase = "killed";
      this.waiter.notify();
      await this.processes.killAll();
      await this.server.close();
      liveEmulators.delete(this);
    })();
    return this.killPromise;
  }

  /** Synchronous last resort when the host process exits: no process may stay stopped or orphaned. */
  killSync(): void {
    this.processes.killSync();
  }

  // ---------------------------------------------------------------------------------------------
  // Init

  private async runInit(): Promise<InitResult> {
    this.phase = "initializing";
    const startedAt = epochMs();
    const deadline = startedAt + this.opts.initTimeoutMs;
    const gen: Generation = {
      extensions: [],
      runtime: { queue: [], parked: [] },
      invocations: new Map(),
      registrationOpen: true,
      initDone: false,
      shuttingDown: false,
    };
    this.gen = gen;
    await this.server.ensure();
    this.recorder.mark("lambda", "init-start");

    const failure = await this.initPhases(gen, deadline);

    if (this.isKilled()) {
      const at = epochMs();
      return { ok: false, durationMs: at - startedAt, startedAt, error: { source: "lambda", type: "Emulator.Killed", message: "the emulator was killed during init" }, extensions: gen.extensions.map(infoOf) };
    }

    const runtimeInitStartedAt = gen.runtime.spawnedAt;
    if (!failure) {
      gen.initDone = true;
      const initDoneAt = epochMs();
      this.recorder.mark("lambda", "init-done");
      await this.freeze(gen);
      const result: InitResult = {
        ok: true,
        durationMs: initDoneAt - startedAt,
        startedAt,
        extensions: gen.extensions.map(infoOf),
        ...(runtimeInitStartedAt !== undefined ? { runtimeInitStartedAt } : {}),
        initDoneAt,
      };
      if (!this.isKilled()) this.phase = "ready";
      this.emit("init-done", result);
      return result;
    }

    const failedAt = epochMs();
    this.recorder.mark("lambda", "init-failed", `${failure.source}: ${failure.type}: ${failure.message}`);
    // A failed init resets the environment (Lambda tries init again on the next invoke).
    this.phase = "shutting-down";
    const reset = await this.shutdownGeneration(gen, "failure");
    if (!this.isKilled()) this.phase = "failed";
    const result: InitResult = {
      ok: false,
      durationMs: failedAt - startedAt,
      startedAt,
      error: failure,
      extensions: gen.extensions.map(infoOf),
      ...(runtimeInitStartedAt !== undefined ? { runtimeInitStartedAt } : {}),
      reset,
    };
    this.emit("init-failed", result);
    return result;
  }

  /**
   * Lambda's init phases: every extension starts at once (alphabetical spawn order) and registers;
   * only then the runtime starts; init is over when the runtime and every extension wait in next.
   * Returns what failed, if anything.
   */
  private async initPhases(gen: Generation, deadline: number): Promise<EmulatorError | undefined> {
    const envs = lambdaEnvironments({
      userEnv: this.opts.env,
      runtimeApi: this.runtimeApi,
      credentials: this.opts.credentials,
      mode: this.opts.mode,
      ...(this.opts.mode === "lambda-managed-instances" ? { maxConcurrency: this.opts.maxConcurrency } : {}),
      ...(this.opts.mode === "snap-start"
        ? { containerCredentials: { uri: `http://${this.runtimeApi}${CONTAINER_CREDENTIALS_PATH}`, token: this.opts.credentialsToken } }
        : {}),
      region: this.opts.region,
      functionName: this.opts.functionName,
      functionVersion: this.opts.functionVersion,
      memoryMb: this.opts.memoryMb,
      handler: this.opts.handler,
      layerDir: this.opts.layerDir,
      functionDir: this.opts.functionDir,
      runtime: this.runtime,
    });
    const extensionsDir = path.join(this.opts.layerDir, "extensions");
    gen.extensions = listExtensions(extensionsDir).map((file) => ({ name: path.basename(file), path: file, events: [], queue: [] }));
    if (gen.extensions.length > MAX_EXTENSIONS) {
      const message = `${gen.extensions.length} extensions in ${extensionsDir}; Lambda allows at most ${MAX_EXTENSIONS}`;
      gen.extensions = [];
      return { source: "lambda", type: "Extension.TooManyExtensions", message };
    }
    if (this.isKilled()) return undefined;
    for (const ext of gen.extensions) this.processes.spawnExtension(gen, ext, envs.extension, this.opts.layerDir);
    const registeredOutcome = await this.awaitOutcome(gen, () => gen.extensions.every((e) => e.id !== undefined), deadline);
    const failure = this.initFailure(gen, registeredOutcome, "register");
    if (failure || this.isKilled()) return failure;

    this.processes.spawnRuntime(gen, { command: this.runtime.command, args: this.runtime.args, cwd: this.opts.functionDir }, envs.runtime);
    const readyOutcome = await this.awaitOutcome(
      gen,
      () => gen.runtime.pendingNext !== undefined && registered(gen).every((e) => e.pendingNext !== undefined),
      deadline,
    );
    return this.initFailure(gen, readyOutcome, "next");
  }

  private initFailure(gen: Generation, outcome: Outcome, waitingFor: "register" | "next"): EmulatorError | undefined {
    if (outcome === "done" || outcome === "killed") return undefined;
    if (outcome === "fatal") return gen.fatal;
    // Timed out: name the first party that was still missing.
    const laggard =
      waitingFor === "register"
        ? gen.extensions.find((e) => e.id === undefined)?.name
        : gen.runtime.pendingNext === undefined
          ? "runtime"
          : registered(gen).find((e) => e.pendingNext === undefined)?.name;
    const source = laggard ?? "lambda";
    const what = waitingFor === "register" ? "to register" : source === "runtime" ? "the runtime to call invocation/next" : "to call event/next";
    return {
      source,
      type: "Sandbox.Timedout",
      message: `Init timed out after ${this.opts.initTimeoutMs} ms waiting for ${source === "runtime" ? what : `extension ${source} ${what}`}`,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Shutdown / reset

  /** Shuts one life of the environment down (shutdown.ts) and reports it. */
  private async shutdownGeneration(gen: Generation, reason: string): Promise<ShutdownResult> {
    const result = await gracefulShutdown(gen, reason, { processes: this.processes, mark: this.recorder.mark, budgetMs: this.opts.shutdownBudgetMs });
    this.emit("shutdown-done", result);
    return result;
  }

  /** Freezes the environment between events, unless the options say not to. */
  private async freeze(gen: Generation): Promise<void> {
    if (!this.opts.freezeBetweenInvokes || this.isKilled()) return;
    await this.processes.freeze(gen);
  }

  // ---------------------------------------------------------------------------------------------
  // Delivery

  /** Waits until `done()`, a fatal error of this life, the deadline, or kill(). */
  private async awaitOutcome(gen: Generation, done: () => boolean, deadline: number): Promise<Outcome> {
    const outcome = await this.waiter.until<Outcome>(() => {
      if (this.isKilled()) return "killed";
      if (gen.fatal) return "fatal";
      return done() ? "done" : undefined;
    }, deadline - epochMs());
    return outcome ?? "timeout";
  }

  private isKilled(): boolean {
    return this.phase === "killed";
  }
}

/** An invoke that never reached the function (killed, or its re-init failed). */
function emptyInvoke(error: { errorType: string; errorMessage: string }): InvokeResult {
  const at = epochMs();
  return { ok: false, error, timedOut: false, requestId: "", startedAt: at, doneAt: at, durationMs: 0, extensionOverheadMs: 0 };
}

/**
 * What an invoke took: `durationMs` event → runtime response, `extensionOverheadMs` runtime response
 * → last INVOKE subscriber back in next (Lambda's PostRuntimeExtensionsDuration); the response or error.
 */
function invokeAccounting(gen: Generation, inv: Invocation, startedAt: number, timedOut: boolean): InvokeResult {
  const doneAt = epochMs();
  const runtimeDoneAt = inv.respondedAt;
  const lastExtNext = Math.max(
    0,
    ...registered(gen)
      .filter((e) => e.events.includes("INVOKE") && e.lastNextAt !== undefined && e.lastNextAt >= startedAt)
      .map((e) => e.lastNextAt!),
  );
  const result: InvokeResult = {
    ok: false,
    timedOut,
    requestId: inv.requestId,
    startedAt,
    ...(runtimeDoneAt !== undefined ? { runtimeDoneAt } : {}),
    doneAt,
    durationMs: (runtimeDoneAt ?? doneAt) - startedAt,
    extensionOverheadMs: runtimeDoneAt !== undefined && lastExtNext > runtimeDoneAt ? lastExtNext - runtimeDoneAt : 0,
  };
  if (inv.response?.body !== undefined) result.response = parseResponse(inv.response.body);
  if (inv.response?.error) result.error = inv.response.error;
  return result;
}

// A detached process group survives its parent: if the host exits without kill(), stop nothing
// and leave nothing behind.
const liveEmulators = new Set<LambdaEmulator>();
process.once("exit", () => {
  for (const emulator of liveEmulators) emulator.killSync();
});
