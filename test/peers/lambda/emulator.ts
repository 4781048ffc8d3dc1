/**
 * A Lambda execution environment on this machine: runs a layer directory the way Lambda runs `/opt`
 * and a Node handler the way the nodejs runtime does, with the Extensions API and the Runtime API on
 * one loopback port, Lambda's init/invoke/shutdown rules and limits, and a real freeze: every process
 * group is SIGSTOPped between events and SIGCONTed before the next one.
 *
 * The rules follow AWS's docs and the Runtime Interface Emulator's `rapid` core; where they differ
 * from the docs or where a choice was made, README.md beside this file says so.
 */
import { EventEmitter } from "node:events";
import http, { type Server } from "node:http";
import { randomUUID } from "node:crypto";
import { appendFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { AddressInfo } from "node:net";
import { LambdaApi, type ApiHost } from "./api.ts";
import { epochMs } from "./clock.ts";
import { lambdaEnvironments, checkUserEnv } from "./env.ts";
import { BodyTooLarge, sendError } from "./http.ts";
import { ManagedProcess } from "./managed-process.ts";
import {
  MAX_EXTENSIONS,
  allProcsOf,
  deliverToExtension,
  deliverToRuntime,
  infoOf,
  listExtensions,
  liveProcs,
  parseResponse,
  registered,
  traceHeader,
  type ExtensionParty,
  type Generation,
  type Invocation,
} from "./model.ts";
import { StateWaiter, sleep } from "./waiter.ts";
import type { EmulatorError, EmulatorOptions, ExtensionInfo, InitResult, InvokeResult, ShutdownResult, TimelineEntry } from "./types.ts";

export type { EmulatorError, EmulatorOptions, ExtensionInfo, InitResult, InvokeResult, ShutdownResult, TimelineEntry } from "./types.ts";
export { epochMs } from "./clock.ts";
export { MAX_EXTENSIONS, MAX_RESPONSE_BYTES } from "./model.ts";

const BOOTSTRAP_PATH = fileURLToPath(new URL("./runtime-bootstrap.mjs", import.meta.url));
/** Upper bound on waiting for a SIGKILLed process to be reaped, so no wait is unbounded. */
const REAP_TIMEOUT_MS = 3_000;

type Phase = "new" | "initializing" | "ready" | "invoking" | "failed" | "shutting-down" | "shutdown" | "killed";
type Outcome = "done" | "fatal" | "timeout" | "killed";

export class LambdaEmulator extends EventEmitter {
  private readonly opts: Required<Omit<EmulatorOptions, "logDir" | "env">> & { env: Record<string, string>; logDir?: string };
  private phase: Phase = "new";
  private gen: Generation | undefined;
  private server: Server | undefined;
  private port = 0;
  private isFrozen = false;
  private readonly waiter = new StateWaiter();
  private readonly allProcs: ManagedProcess[] = [];
  private readonly lines = new Map<string, string[]>();
  private readonly allLines: string[] = [];
  private readonly timelineEntries: TimelineEntry[] = [];
  private killPromise: Promise<void> | undefined;
  private readonly markFn = (source: string, what: string, detail?: string): void => this.mark(source, what, detail);
  private readonly api: LambdaApi;

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
      region: opts.region ?? "us-east-1",
      functionName: opts.functionName ?? "emulated-function",
      functionVersion: opts.functionVersion ?? "$LATEST",
      memoryMb: opts.memoryMb ?? 128,
      accountId: opts.accountId ?? "123456789012",
      timeoutMs: opts.timeoutMs ?? 3_000,
      initTimeoutMs: opts.initTimeoutMs ?? 10_000,
      shutdownBudgetMs: opts.shutdownBudgetMs ?? 2_000,
      freezeBetweenInvokes: opts.freezeBetweenInvokes ?? true,
      ...(opts.logDir ? { logDir: path.resolve(opts.logDir) } : {}),
    };
    if (this.opts.logDir) mkdirSync(this.opts.logDir, { recursive: true });
    const currentGen = (): Generation | undefined => this.gen;
    const host: ApiHost = {
      get gen() {
        return currentGen();
      },
      config: this.opts,
      mark: this.markFn,
      emit: (event, ...args) => void this.emit(event, ...args),
      notify: () => this.waiter.notify(),
    };
    this.api = new LambdaApi(host);
    liveEmulators.add(this);
  }

  /** `"127.0.0.1:PORT"`, the value of AWS_LAMBDA_RUNTIME_API. Available once start() was called. */
  get runtimeApi(): string {
    if (!this.server) throw new Error("LambdaEmulator: runtimeApi is known once start() has been called");
    return `127.0.0.1:${this.port}`;
  }

  get frozen(): boolean {
    return this.isFrozen;
  }

  get timeline(): TimelineEntry[] {
    return this.timelineEntries;
  }

  /** The function's ARN, as in INVOKE events and Lambda-Runtime-Invoked-Function-Arn. */
  get functionArn(): string {
    return `arn:aws:lambda:${this.opts.region}:${this.opts.accountId}:function:${this.opts.functionName}`;
  }

  /** Captured stdout/stderr lines of one process ("runtime" or an extension name), or of all. */
  logs(source?: string): string[] {
    return source === undefined ? [...this.allLines] : [...(this.lines.get(source) ?? [])];
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
    let init: InitResult | undefined;
    const crashed = this.gen;
    if (this.phase === "ready" && crashed?.fatal) {
      // A process died while the environment was idle: Lambda resets it before the next event.
      this.phase = "shutting-down";
      await this.shutdownGeneration(crashed, "failure");
      if (this.isKilled()) return this.killedInvoke();
      this.phase = "failed";
    }
    if (this.phase === "failed") {
      init = await this.runInit();
      if (!init.ok) {
        const at = epochMs();
        return {
          ok: false,
          error: { errorType: init.error?.type ?? "Unknown", errorMessage: init.error?.message ?? "init failed" },
          timedOut: init.error?.type === "Sandbox.Timedout",
          requestId: "",
          startedAt: at,
          doneAt: at,
          durationMs: 0,
          extensionOverheadMs: 0,
          init,
        };
      }
    }
    if (this.phase !== "ready") {
      const hint = this.phase === "new" ? " (call start() first)" : "";
      throw new Error(`LambdaEmulator.invoke(): cannot invoke while the environment is ${this.phase}${hint}`);
    }
    const gen = this.gen!;
    this.phase = "invoking";

    const requestId = randomUUID();
    const inv: Invocation = {
      requestId,
      payload: payload === undefined ? "{}" : JSON.stringify(payload),
      deadlineMs: Date.now() + this.opts.timeoutMs,
      arn: this.functionArn,
      traceId: traceHeader(),
    };
    gen.invocation = inv;
    await this.thaw(gen);
    const startedAt = epochMs();
    this.mark("lambda", "invoke", requestId);

    // The runtime and every INVOKE subscriber get the event at the same time.
    deliverToRuntime(gen, inv, this.markFn);
    for (const ext of gen.extensions) {
      if (ext.id && ext.events.includes("INVOKE") && !ext.exitError) {
        deliverToExtension(ext, {
          eventType: "INVOKE",
          deadlineMs: inv.deadlineMs,
          requestId,
          invokedFunctionArn: inv.arn,
          tracing: { type: "X-Amzn-Trace-Id", value: inv.traceId },
        }, this.markFn);
      }
    }

    // The function timeout bounds the whole invoke phase, extensions included.
    const outcome = await this.awaitOutcome(
      gen,
      () => inv.response !== undefined && gen.runtime.pendingNext !== undefined && registered(gen).every((e) => e.pendingNext !== undefined),
      startedAt + this.opts.timeoutMs,
    );
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
      timedOut: outcome === "timeout",
      requestId,
      startedAt,
      ...(runtimeDoneAt !== undefined ? { runtimeDoneAt } : {}),
      doneAt,
      durationMs: (runtimeDoneAt ?? doneAt) - startedAt,
      extensionOverheadMs: runtimeDoneAt !== undefined && lastExtNext > runtimeDoneAt ? lastExtNext - runtimeDoneAt : 0,
      ...(init ? { init } : {}),
    };
    if (inv.response?.body !== undefined) result.response = parseResponse(inv.response.body);
    if (inv.response?.error) result.error = inv.response.error;

    if (outcome === "killed") return { ...result, error: { errorType: "Emulator.Killed", errorMessage: "the emulator was killed during the invoke" } };
    if (outcome === "done") {
      result.ok = inv.response?.ok === true;
      gen.invocation = undefined;
      this.mark("lambda", "invoke-done", requestId);
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
      this.mark("lambda", "invoke-failed", `${requestId} ${result.error.errorType}`);
      // A timeout or a crash resets the environment: a shutdown, then a fresh init on the next invoke.
      this.phase = "shutting-down";
      result.reset = await this.shutdownGeneration(gen, outcome === "timeout" ? "timeout" : "failure");
      if (!this.isKilled()) this.phase = "failed";
    }
    this.emit("invoke-done", result);
    return result;
  }

  /** Lets wall-clock time pass while the environment stays as it is (frozen, between invokes). */
  async idle(ms: number): Promise<void> {
    this.mark("lambda", "idle", `${ms} ms`);
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
    await this.closeServer();
    liveEmulators.delete(this);
    return result;
  }

  /** Hard cleanup for afterEach: SIGCONT + SIGKILL every process group, close the server. Idempotent. */
  kill(): Promise<void> {
    this.killPromise ??= (async () => {
      this.phase = "killed";
      this.waiter.notify();
      this.killSync();
      this.isFrozen = false;
      await waitAll(this.allProcs.map((p) => p.exitPromise), REAP_TIMEOUT_MS);
      await this.closeServer();
      liveEmulators.delete(this);
    })();
    return this.killPromise;
  }

  /** Synchronous last resort when the host process exits: no process may stay stopped or orphaned. */
  killSync(): void {
    // Only groups whose leader is still ours: the pid of a reaped leader may belong to someone else.
    for (const p of this.allProcs) {
      if (p.exited) continue;
      p.signalGroup("SIGCONT");
      p.signalGroup("SIGKILL");
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Init

  private async runInit(): Promise<InitResult> {
    this.phase = "initializing";
    const startedAt = epochMs();
    const deadline = startedAt + this.opts.initTimeoutMs;
    const gen: Generation = {
      extensions: [],
      runtime: { queue: [] },
      registrationOpen: true,
      initDone: false,
      shuttingDown: false,
    };
    this.gen = gen;
    await this.ensureServer();
    this.mark("lambda", "init-start");

    const envs = lambdaEnvironments({
      userEnv: this.opts.env,
      runtimeApi: this.runtimeApi,
      credentials: this.opts.credentials,
      region: this.opts.region,
      functionName: this.opts.functionName,
      functionVersion: this.opts.functionVersion,
      memoryMb: this.opts.memoryMb,
      handler: this.opts.handler,
      layerDir: this.opts.layerDir,
      functionDir: this.opts.functionDir,
      runtimeDir: path.dirname(BOOTSTRAP_PATH),
    });

    const files = listExtensions(path.join(this.opts.layerDir, "extensions"));
    gen.extensions = files.map((file) => ({ name: path.basename(file), path: file, events: [], queue: [] }));

    let failure: EmulatorError | undefined;
    if (gen.extensions.length > MAX_EXTENSIONS) {
      failure = {
        source: "lambda",
        type: "Extension.TooManyExtensions",
        message: `${gen.extensions.length} extensions in ${path.join(this.opts.layerDir, "extensions")}; Lambda allows at most ${MAX_EXTENSIONS}`,
      };
      gen.extensions = [];
    }

    // Extension init: every extension starts at once (spawn order: alphabetical).
    if (!failure && !this.isKilled()) {
      for (const ext of gen.extensions) this.spawnExtension(gen, ext, envs.extension);
      const registeredOutcome = await this.awaitOutcome(gen, () => gen.extensions.every((e) => e.id !== undefined), deadline);
      failure = this.initFailure(gen, registeredOutcome, "register");
    }

    // Runtime init starts only after every extension registered.
    if (!failure && !this.isKilled()) {
      this.spawnRuntime(gen, envs.runtime);
      const readyOutcome = await this.awaitOutcome(
        gen,
        () => gen.runtime.pendingNext !== undefined && registered(gen).every((e) => e.pendingNext !== undefined),
        deadline,
      );
      failure = this.initFailure(gen, readyOutcome, "next");
    }

    if (this.isKilled()) {
      const at = epochMs();
      return { ok: false, durationMs: at - startedAt, startedAt, error: { source: "lambda", type: "Emulator.Killed", message: "the emulator was killed during init" }, extensions: gen.extensions.map(infoOf) };
    }

    const runtimeInitStartedAt = gen.runtime.spawnedAt;
    if (!failure) {
      gen.initDone = true;
      const initDoneAt = epochMs();
      this.mark("lambda", "init-done");
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
    this.mark("lambda", "init-failed", `${failure.source}: ${failure.type}: ${failure.message}`);
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

  private spawnExtension(gen: Generation, ext: ExtensionParty, env: Record<string, string>): void {
    ext.proc = new ManagedProcess({
      name: ext.name,
      command: ext.path,
      args: [],
      env,
      cwd: this.opts.layerDir,
      onLine: (line) => this.onLine(ext.name, line),
      onExit: (code, signal) => this.onExtensionExit(gen, ext, code, signal),
    });
    this.allProcs.push(ext.proc);
    this.mark(ext.name, "spawn", String(ext.proc.pid ?? "-"));
  }

  private spawnRuntime(gen: Generation, env: Record<string, string>): void {
    gen.runtime.spawnedAt = epochMs();
    this.mark("runtime", "runtime-init-start");
    const proc = new ManagedProcess({
      name: "runtime",
      command: process.execPath,
      args: [BOOTSTRAP_PATH],
      env,
      cwd: this.opts.functionDir,
      onLine: (line) => this.onLine("runtime", line),
      onExit: (code, signal) => this.onRuntimeExit(gen, code, signal),
    });
    gen.runtime.proc = proc;
    this.allProcs.push(proc);
    this.mark("runtime", "spawn", String(proc.pid ?? "-"));
  }

  private onExtensionExit(gen: Generation, ext: ExtensionParty, code: number | null, signal: NodeJS.Signals | null): void {
    ext.pendingNext = undefined;
    const spawnError = ext.proc?.spawnError;
    this.mark(ext.name, "exit", spawnError ? `spawn failed: ${spawnError.message}` : `code=${code} signal=${signal}`);
    this.emit("exit", ext.name, code, signal);
    if (this.gen === gen && !gen.shuttingDown && !gen.fatal) {
      if (spawnError) {
        gen.fatal = { source: ext.name, type: "Extension.LaunchError", message: `${ext.path}: ${spawnError.message}` };
      } else if (ext.initError || ext.exitError) {
        const e = (ext.initError ?? ext.exitError)!;
        gen.fatal = { source: ext.name, type: e.type, message: e.message };
      } else {
        const how = signal ? `signal ${signal}` : `exit status ${code}`;
        gen.fatal = {
          source: ext.name,
          type: "Extension.Crash",
          message: ext.id ? `extension ${ext.name} exited unexpectedly (${how})` : `extension ${ext.name} exited before registering (${how})`,
        };
      }
    }
    this.waiter.notify();
  }

  private onRuntimeExit(gen: Generation, code: number | null, signal: NodeJS.Signals | null): void {
    gen.runtime.pendingNext = undefined;
    const spawnError = gen.runtime.proc?.spawnError;
    this.mark("runtime", "exit", spawnError ? `spawn failed: ${spawnError.message}` : `code=${code} signal=${signal}`);
    this.emit("exit", "runtime", code, signal);
    if (this.gen === gen && !gen.shuttingDown && !gen.fatal) {
      gen.fatal = spawnError
        ? { source: "runtime", type: "Runtime.InvalidEntrypoint", message: spawnError.message }
        : {
            source: "runtime",
            type: "Runtime.ExitError",
            message: `${gen.invocation ? `RequestId: ${gen.invocation.requestId} ` : ""}Error: Runtime exited ${signal ? `with error: signal: ${signal.toLowerCase()}` : `with error: exit status ${code}`}`,
          };
    }
    this.waiter.notify();
  }

  // ---------------------------------------------------------------------------------------------
  // Shutdown / reset

  /**
   * Lambda's graceful shutdown (rapid's gracefulShutdown): thaw; with no registered extension,
   * SIGKILL at once; otherwise SIGTERM the runtime and give it min(300 ms, 30 %) of the budget, then
   * SHUTDOWN to the extensions subscribed to it (the others are SIGKILLed right away) and SIGKILL
   * whatever is alive at the deadline.
   */
  private async shutdownGeneration(gen: Generation, reason: string): Promise<ShutdownResult> {
    gen.shuttingDown = true;
    gen.registrationOpen = false;
    const t0 = epochMs();
    this.mark("lambda", "shutdown-start", reason);
    await this.thaw(gen, true);
    const killed: string[] = [];
    const killedUnsubscribed: string[] = [];
    let runtimeMs = 0;
    let extensionsMs = 0;
    let deadlineMs = 0;
    const rt = gen.runtime.proc;
    const regs = registered(gen);

    if (regs.length === 0) {
      for (const p of liveProcs(gen)) {
        this.sigkill(p);
        if (p === rt) killed.push("runtime");
        else killedUnsubscribed.push(p.name);
      }
      runtimeMs = epochMs() - t0;
    } else {
      const budget = this.opts.shutdownBudgetMs;
      const runtimeShare = Math.min(300, budget * 0.3);
      if (rt && !rt.exited) {
        rt.signal("SIGTERM");
        this.mark("runtime", "SIGTERM");
        await this.awaitProcs([rt], t0 + runtimeShare);
        if (!rt.isGone()) {
          this.sigkill(rt);
          killed.push("runtime");
        }
      }
      runtimeMs = epochMs() - t0;

      const extStart = epochMs();
      const deadline = t0 + budget;
      deadlineMs = Math.round(Date.now() + (deadline - epochMs()));
      const waitFor: ManagedProcess[] = [];
      for (const ext of gen.extensions) {
        const p = ext.proc;
        if (!p || p.exited) continue;
        if (ext.id && ext.events.includes("SHUTDOWN") && !ext.initError && !ext.exitError) {
          deliverToExtension(ext, { eventType: "SHUTDOWN", shutdownReason: reason, deadlineMs }, this.markFn);
          waitFor.push(p);
        } else if (ext.initError || ext.exitError) {
          waitFor.push(p); // it reported an error and is expected to exit by itself
        } else {
          this.sigkill(p);
          killedUnsubscribed.push(ext.name);
        }
      }
      await this.awaitProcs(waitFor, deadline);
      for (const p of waitFor) {
        if (!p.isGone()) {
          this.sigkill(p);
          killed.push(p.name);
        }
      }
      extensionsMs = epochMs() - extStart;
    }

    // Whatever the leaders left behind in their process groups goes too (ESRCH when nothing is left).
    for (const p of allProcsOf(gen)) p.signalGroup("SIGKILL");
    await waitAll(allProcsOf(gen).map((p) => p.exitPromise), REAP_TIMEOUT_MS);
    await waitAll(allProcsOf(gen).map((p) => p.drained), REAP_TIMEOUT_MS);
    gen.invocation = undefined;
    this.isFrozen = false;

    const exitCodes: Record<string, number | null> = {};
    const exitSignals: Record<string, string | null> = {};
    for (const p of allProcsOf(gen)) {
      exitCodes[p.name] = p.exitCode;
      exitSignals[p.name] = p.exitSignal;
    }
    const result: ShutdownResult = {
      durationMs: epochMs() - t0,
      reason,
      exitCodes,
      exitSignals,
      killed,
      killedUnsubscribed,
      deadlineMs,
      runtimeMs,
      extensionsMs,
    };
    this.mark("lambda", "shutdown-done", `${reason} killed=[${killed.join(",")}]`);
    this.emit("shutdown-done", result);
    return result;
  }

  private sigkill(p: ManagedProcess): void {
    p.signalGroup("SIGCONT");
    p.signalGroup("SIGKILL");
    this.mark(p.name, "SIGKILL");
  }

  private async awaitProcs(procs: ManagedProcess[], deadline: number): Promise<void> {
    await this.waiter.until(() => (this.isKilled() || procs.every((p) => p.exited) ? true : undefined), deadline - epochMs());
  }

  // ---------------------------------------------------------------------------------------------
  // Freeze / thaw

  private async freeze(gen: Generation): Promise<void> {
    if (!this.opts.freezeBetweenInvokes || this.isKilled()) return;
    const procs = liveProcs(gen);
    for (const p of procs) p.signalGroup("SIGSTOP");
    this.isFrozen = true;
    this.mark("lambda", "freeze", procs.map((p) => `${p.name}:${p.pid}`).join(" "));
    // SIGSTOP is asynchronous; wait (bounded) until /proc shows every leader stopped, so that
    // "frozen" means frozen for whoever looks next (ps, a request to a server in it).
    const stopped = (): boolean =>
      procs.every((p) => {
        const state = p.procState();
        return state === undefined || state === "T" || state === "t";
      });
    for (let i = 0; i < 500 && !stopped() && !this.isKilled(); i++) await sleep(1);
    this.emit("frozen");
  }

  private async thaw(gen: Generation, force = false): Promise<void> {
    if (!this.isFrozen && !force) return;
    for (const p of liveProcs(gen)) p.signalGroup("SIGCONT");
    if (this.isFrozen) {
      this.isFrozen = false;
      this.mark("lambda", "thaw");
      this.emit("thawed");
    }
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

  private killedInvoke(): InvokeResult {
    const at = epochMs();
    return {
      ok: false,
      error: { errorType: "Emulator.Killed", errorMessage: "the emulator was killed" },
      timedOut: false,
      requestId: "",
      startedAt: at,
      doneAt: at,
      durationMs: 0,
      extensionOverheadMs: 0,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Server

  private async ensureServer(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      this.api.route(req, res).catch((err: unknown) => {
        if (err instanceof BodyTooLarge) sendError(res, 413, "RequestEntityTooLarge", err.message);
        else sendError(res, 500, "ServiceException", err instanceof Error ? err.message : String(err));
      });
    });
    // Long polls wait for minutes while the environment is frozen: no request timeout.
    server.requestTimeout = 0;
    server.on("clientError", (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
  }

  private async closeServer(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---------------------------------------------------------------------------------------------
  // Logs and timeline

  private onLine(source: string, line: string): void {
    let list = this.lines.get(source);
    if (!list) this.lines.set(source, (list = []));
    list.push(line);
    this.allLines.push(line);
    if (this.opts.logDir) {
      try {
        appendFileSync(path.join(this.opts.logDir, `${source}.log`), `${line}\n`);
      } catch {
        /* a log file that cannot be written must not break the environment */
      }
    }
    this.emit("log", source, line);
  }

  private mark(source: string, what: string, detail?: string): void {
    this.timelineEntries.push({ at: epochMs(), source, what, ...(detail !== undefined ? { detail } : {}) });
  }
}

// -----------------------------------------------------------------------------------------------
// Helpers

function emptyShutdown(reason: string): ShutdownResult {
  return { durationMs: 0, reason, exitCodes: {}, exitSignals: {}, killed: [], killedUnsubscribed: [], deadlineMs: 0, runtimeMs: 0, extensionsMs: 0 };
}

/** Waits for all promises (which never reject) or the timeout, whichever comes first. */
async function waitAll(promises: Array<Promise<void>>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(promises), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}

// A detached process group survives its parent: if the host exits without kill(), stop nothing
// and leave nothing behind.
const liveEmulators = new Set<LambdaEmulator>();
process.once("exit", () => {
  for (const emulator of liveEmulators) emulator.killSync();
});
