/**
 * Child processes for the benchmarks: spawned (optionally pinned to a core with `taskset`), their
 * output kept line by line, killed and awaited with a bound, and their resident memory read from
 * `/proc/<pid>/status`.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";

const TASKSET = "/usr/bin/taskset";

/**
 * Cores to pin to: the servers under test on one core, the load generator on another, so that
 * they do not steal each other's time slices. Undefined on a single-core machine or without taskset.
 */
export interface Pinning {
  server: number;
  load: number;
}

export function pinning(): Pinning | undefined {
  if (os.availableParallelism() < 2 || !fs.existsSync(TASKSET)) return undefined;
  return { server: 1, load: 0 };
}

export interface SpawnOptions {
  env: Record<string, string>;
  cwd?: string;
  /** Pin the process (and what it execs) to this core. */
  cpu?: number | undefined;
  /** Keep stdin open as a pipe (the load worker reads commands from it). */
  stdin?: boolean;
}

export class Proc {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private lineListeners = new Set<(line: string) => void>();
  private done = false;

  constructor(command: string, args: string[], opts: SpawnOptions) {
    // taskset execs the command: the pid stays the pid of the process under test (and a /bin/sh
    // launcher that execs node keeps it too), so /proc/<pid> is the measured process.
    const [cmd, argv] = opts.cpu === undefined ? [command, args] : [TASKSET, ["-c", String(opts.cpu), command, ...args]];
    this.child = spawn(cmd, argv, { env: opts.env, cwd: opts.cwd, stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"] });
    this.exited = new Promise((resolve) => {
      // "close", not "exit": by then every line of its output has been read.
      this.child.on("close", (code, signal) => {
        this.done = true;
        resolve({ code, signal });
      });
      this.child.on("error", () => {
        this.done = true;
        resolve({ code: null, signal: null });
      });
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      let buf = "";
      stream?.setEncoding("utf8");
      stream?.on("data", (chunk: string) => {
        buf += chunk;
        let i: number;
        while ((i = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          this.lines.push(line);
          for (const l of this.lineListeners) l(line);
        }
      });
    }
  }

  get pid(): number {
    const pid = this.child.pid;
    if (pid === undefined) throw new Error("the process did not start");
    return pid;
  }

  get alive(): boolean {
    return !this.done;
  }

  /** Calls `listener` with every line received from now on. */
  onLine(listener: (line: string) => void): void {
    this.lineListeners.add(listener);
  }

  /** The first line (already received or to come) that satisfies `match`, within `timeoutMs`. */
  waitLine(match: (line: string) => boolean, timeoutMs: number): Promise<string> {
    const seen = this.lines.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.lineListeners.delete(listener);
        reject(new Error(`no matching output line within ${timeoutMs} ms; last lines: ${this.lines.slice(-5).join(" | ")}`));
      }, timeoutMs);
      const listener = (line: string): void => {
        if (!match(line)) return;
        clearTimeout(timer);
        this.lineListeners.delete(listener);
        resolve(line);
      };
      this.lineListeners.add(listener);
    });
  }

  /** SIGKILL (or `signal`) and wait for the exit, at most `timeoutMs`. */
  async kill(signal: NodeJS.Signals = "SIGKILL", timeoutMs = 5_000): Promise<void> {
    if (this.done) return;
    this.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.exited, new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    if (!this.done) this.child.kill("SIGKILL");
  }
}

/** Resident set size in MB (VmRSS of /proc/<pid>/status), or NaN when it cannot be read. */
export function rssMb(pid: number): number {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

let clockTicks: number | undefined;

/**
 * CPU time (user + system) the process has used so far, in ms, from /proc/<pid>/stat; NaN when it
 * cannot be read. Resolution: one clock tick (10 ms at the usual 100 Hz).
 */
export function cpuMs(pid: number): number {
  try {
    clockTicks ??= Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // utime and stime are fields 14 and 15 of the whole line: 12 and 13 after "(comm) ".
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return Number.NaN;
  }
}

/** Resolves after `ms`; only for pacing a simulated day, never to wait for an event. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
