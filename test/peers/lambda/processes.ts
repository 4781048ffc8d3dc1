/**
 * The processes of the environment: spawning the extensions and the runtime (each in its own process
 * group), turning their exits into the fatal errors Lambda reports, the freeze (SIGSTOP of every
 * group, SIGCONT before the next event), and the hard kills.
 */
import { ManagedProcess } from "./managed-process.ts";
import { liveProcs, type ExtensionParty, type Generation, type Mark } from "./model.ts";
import { sleep, type StateWaiter } from "./waiter.ts";
import { epochMs } from "./clock.ts";

/** Upper bound on waiting for a SIGKILLed process to be reaped, so no wait is unbounded. */
export const REAP_TIMEOUT_MS = 3_000;

/** What the processes need from the emulator. */
export interface ProcessHost {
  /** The current life of the environment: exits of an older one are not fatal to this one. */
  current(): Generation | undefined;
  isKilled(): boolean;
  mark: Mark;
  line(source: string, line: string): void;
  emit(event: string, ...args: unknown[]): void;
  readonly waiter: StateWaiter;
}

/** How the runtime process is started (the runtime's interpreter and its bootstrap). */
export interface RuntimeCommand {
  command: string;
  args: string[];
  cwd: string;
}

export class Processes {
  private readonly all: ManagedProcess[] = [];
  private isFrozen = false;

  constructor(private readonly host: ProcessHost) {}

  get frozen(): boolean {
    return this.isFrozen;
  }

  spawnExtension(gen: Generation, ext: ExtensionParty, env: Record<string, string>, cwd: string): void {
    ext.proc = new ManagedProcess({
      name: ext.name,
      command: ext.path,
      args: [],
      env,
      cwd,
      onLine: (line) => this.host.line(ext.name, line),
      onExit: (code, signal) => this.onExtensionExit(gen, ext, code, signal),
    });
    this.all.push(ext.proc);
    this.host.mark(ext.name, "spawn", String(ext.proc.pid ?? "-"));
  }

  spawnRuntime(gen: Generation, runtime: RuntimeCommand, env: Record<string, string>): void {
    gen.runtime.spawnedAt = epochMs();
    this.host.mark("runtime", "runtime-init-start");
    const proc = new ManagedProcess({
      name: "runtime",
      command: runtime.command,
      args: runtime.args,
      env,
      cwd: runtime.cwd,
      onLine: (line) => this.host.line("runtime", line),
      onExit: (code, signal) => this.onRuntimeExit(gen, code, signal),
    });
    gen.runtime.proc = proc;
    this.all.push(proc);
    this.host.mark("runtime", "spawn", String(proc.pid ?? "-"));
  }

  private onExtensionExit(gen: Generation, ext: ExtensionParty, code: number | null, signal: NodeJS.Signals | null): void {
    ext.pendingNext = undefined;
    const spawnError = ext.proc?.spawnError;
    this.host.mark(ext.name, "exit", spawnError ? `spawn failed: ${spawnError.message}` : `code=${code} signal=${signal}`);
    this.host.emit("exit", ext.name, code, signal);
    if (this.host.current() === gen && !gen.shuttingDown && !gen.fatal) {
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
    this.host.waiter.notify();
  }

  private onRuntimeExit(gen: Generation, code: number | null, signal: NodeJS.Signals | null): void {
    gen.runtime.pendingNext = undefined;
    gen.runtime.parked = [];
    const spawnError = gen.runtime.proc?.spawnError;
    this.host.mark("runtime", "exit", spawnError ? `spawn failed: ${spawnError.message}` : `code=${code} signal=${signal}`);
    this.host.emit("exit", "runtime", code, signal);
    if (this.host.current() === gen && !gen.shuttingDown && !gen.fatal) {
      gen.fatal = spawnError
        ? { source: "runtime", type: "Runtime.InvalidEntrypoint", message: spawnError.message }
        : {
            source: "runtime",
            type: "Runtime.ExitError",
            message: `${gen.invocation ? `RequestId: ${gen.invocation.requestId} ` : ""}Error: Runtime exited ${signal ? `with error: signal: ${signal.toLowerCase()}` : `with error: exit status ${code}`}`,
          };
    }
    this.host.waiter.notify();
  }

  /** SIGSTOPs every process group of the generation and waits (bounded) until they are stopped. */
  async freeze(gen: Generation): Promise<void> {
    const procs = liveProcs(gen);
    for (const p of procs) p.signalGroup("SIGSTOP");
    this.isFrozen = true;
    this.host.mark("lambda", "freeze", procs.map((p) => `${p.name}:${p.pid}`).join(" "));
    // SIGSTOP is asynchronous; wait (bounded) until /proc shows every leader stopped, so that
    // "frozen" means frozen for whoever looks next (ps, a request to a server in it).
    const stopped = (): boolean =>
      procs.every((p) => {
        const state = p.procState();
        return state === undefined || state === "T" || state === "t";
      });
    for (let i = 0; i < 500 && !stopped() && !this.host.isKilled(); i++) await sleep(1);
    this.host.emit("frozen");
  }

  /** SIGCONTs every live process group (always when `force`, else only when frozen). */
  thaw(gen: Generation, force = false): void {
    if (!this.isFrozen && !force) return;
    for (const p of liveProcs(gen)) p.signalGroup("SIGCONT");
    this.markThawed();
  }

  private markThawed(): void {
    if (!this.isFrozen) return;
    this.isFrozen = false;
    this.host.mark("lambda", "thaw");
    this.host.emit("thawed");
  }

  /** SIGKILL of the process group; SIGCONT first, as a stopped process would not die before it. */
  sigkill(p: ManagedProcess): void {
    p.signalGroup("SIGCONT");
    p.signalGroup("SIGKILL");
    this.host.mark(p.name, "SIGKILL");
  }

  /** Waits until every one of `procs` exited, the deadline passed, or the emulator was killed. */
  async awaitExit(procs: ManagedProcess[], deadline: number): Promise<void> {
    await this.host.waiter.until(() => (this.host.isKilled() || procs.every((p) => p.exited) ? true : undefined), deadline - epochMs());
  }

  /** Synchronous last resort when the host process exits: no process may stay stopped or orphaned. */
  killSync(): void {
    // Only groups whose leader is still ours: the pid of a reaped leader may belong to someone else.
    for (const p of this.all) {
      if (p.exited) continue;
      p.signalGroup("SIGCONT");
      p.signalGroup("SIGKILL");
    }
    this.isFrozen = false;
  }

  /** kill(): every process of every life, SIGKILLed and reaped (bounded). */
  async killAll(): Promise<void> {
    this.killSync();
    await waitAll(this.all.map((p) => p.exitPromise), REAP_TIMEOUT_MS);
  }
}

/** Waits for all promises (which never reject) or the timeout, whichever comes first. */
export async function waitAll(promises: Array<Promise<void>>, timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(promises), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}
