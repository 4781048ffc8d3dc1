/**
 * A child process as Lambda runs one: its own process group (spawned `detached`, so setsid), so that
 * SIGSTOP/SIGCONT/SIGKILL reach everything it started; stdout and stderr captured line by line.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { StringDecoder } from "node:string_decoder";

export interface ManagedProcessOptions {
  /** "runtime" or the extension's name: the source of its log lines. */
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
  onLine: (line: string, stream: "stdout" | "stderr") => void;
  onExit: (code: number | null, signal: NodeJS.Signals | null) => void;
}

export class ManagedProcess {
  readonly name: string;
  readonly pid: number | undefined;
  /** Set when the process could not be started (ENOENT, EACCES, bad shebang...). */
  spawnError: Error | undefined;
  exited = false;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Resolves once the process has exited (or failed to start). Never rejects. */
  readonly exitPromise: Promise<void>;
  /**
   * Resolves once its output pipes are drained too (every line delivered), or 500 ms after the exit
   * when a grandchild keeps the pipes open. Never rejects.
   */
  readonly drained: Promise<void>;

  private readonly child: ChildProcess;
  private resolveExit!: () => void;

  constructor(opts: ManagedProcessOptions) {
    this.name = opts.name;
    this.exitPromise = new Promise<void>((resolve) => (this.resolveExit = resolve));
    let resolveDrained!: () => void;
    this.drained = new Promise<void>((resolve) => (resolveDrained = resolve));
    this.child = spawn(opts.command, opts.args, {
      cwd: opts.cwd,
      env: opts.env,
      detached: true,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.pid = this.child.pid;
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (this.exited) return;
      this.exited = true;
      this.exitCode = code;
      this.exitSignal = signal;
      opts.onExit(code, signal);
      this.resolveExit();
    };
    this.child.on("error", (err) => {
      // Only a failed spawn has no pid; other errors (a failed kill) are not exits.
      if (this.child.pid === undefined) {
        this.spawnError = err;
        finish(null, null);
      }
    });
    this.child.on("exit", (code, signal) => {
      finish(code, signal);
      setTimeout(resolveDrained, 500).unref();
    });
    this.child.on("close", () => resolveDrained());
    void this.exitPromise.then(() => {
      if (this.spawnError) resolveDrained();
    });
    if (this.child.stdout) captureLines(this.child.stdout, (l) => opts.onLine(l, "stdout"));
    if (this.child.stderr) captureLines(this.child.stderr, (l) => opts.onLine(l, "stderr"));
  }

  /** Sends a signal to the whole process group; false if there was nothing to signal. */
  signalGroup(signal: NodeJS.Signals): boolean {
    if (this.pid === undefined) return false;
    try {
      process.kill(-this.pid, signal);
      return true;
    } catch {
      return false; // ESRCH: the group is gone
    }
  }

  /** Sends a signal to the process itself (Lambda SIGTERMs the runtime's pid, not its group). */
  signal(signal: NodeJS.Signals): boolean {
    if (this.pid === undefined || this.exited) return false;
    try {
      process.kill(this.pid, signal);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * True once the process is gone, even if Node has not reaped it yet: a zombie ("Z") has exited.
   * Deadline decisions use this, so that a process that exited just before a late timer fired is
   * not reported as SIGKILLed.
   */
  isGone(): boolean {
    if (this.exited) return true;
    const state = this.procState();
    return state === "Z" || state === "X";
  }

  /**
   * The scheduler state of the process from /proc (Linux): "T" when stopped. undefined when /proc is
   * not available or the process is gone.
   */
  procState(): string | undefined {
    if (this.pid === undefined || this.exited) return undefined;
    try {
      const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8");
      // "pid (comm) S ...": comm may hold spaces and parentheses, so split after the last ')'.
      return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    } catch {
      return undefined;
    }
  }
}

function captureLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  const decoder = new StringDecoder("utf8");
  let pending = "";
  const emit = (text: string): void => {
    pending += text;
    let nl = pending.indexOf("\n");
    while (nl >= 0) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      onLine(line.endsWith("\r") ? line.slice(0, -1) : line);
      nl = pending.indexOf("\n");
    }
  };
  stream.on("data", (chunk: Buffer) => emit(decoder.write(chunk)));
  stream.on("end", () => {
    emit(decoder.end());
    if (pending.length > 0) onLine(pending);
    pending = "";
  });
  stream.on("error", () => {
    /* the pipe broke because the process died; the exit handler reports that */
  });
}
