/**
 * The load generator: one long-lived autocannon worker process (bench/fixtures/load.mjs), pinned to
 * its own core, driven by JSON lines. Keep-alive, pipelining 1.
 */
import path from "node:path";
import { Proc } from "./proc.ts";
import { FIXTURES } from "./world.ts";

export interface LoadCommand {
  url: string;
  headers?: Record<string, string>;
  connections: number;
  /** Run for this long... */
  durationS?: number;
  /** ...or until this many responses. */
  amount?: number;
}

export interface LoadResult {
  /** 2xx responses. */
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  elapsedMs: number;
  /** 2xx responses per second over the run. */
  rps: number;
  /** Latency of 2xx responses in ms (float, from process.hrtime). */
  p50: number;
  p99: number;
  p999: number;
  mean: number;
  max: number;
}

export class LoadGenerator {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: LoadResult) => void; reject: (e: Error) => void }>();

  private constructor(private readonly proc: Proc) {
    proc.onLine((line) => {
      let msg: { id?: number; ok?: boolean; error?: string } & Partial<LoadResult>;
      try {
        msg = JSON.parse(line);
      } catch {
        return; // stderr noise
      }
      const p = msg.id !== undefined ? this.pending.get(msg.id) : undefined;
      if (!p || msg.id === undefined) return;
      this.pending.delete(msg.id);
      if (msg.ok) p.resolve(msg as LoadResult);
      else p.reject(new Error(`load generator: ${msg.error}`));
    });
    void proc.exited.then(() => {
      for (const p of this.pending.values()) p.reject(new Error(`the load generator exited; output: ${proc.lines.slice(-3).join(" | ")}`));
      this.pending.clear();
    });
  }

  static start(cpu: number | undefined): LoadGenerator {
    const proc = new Proc(process.execPath, [path.join(FIXTURES, "load.mjs")], { env: { ...process.env } as Record<string, string>, cpu, stdin: true });
    return new LoadGenerator(proc);
  }

  run(cmd: LoadCommand, timeoutMs = 60_000): Promise<LoadResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`load run ${JSON.stringify(cmd.url)} did not finish within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.child.stdin?.write(JSON.stringify({ id, ...cmd }) + "\n");
    });
  }

  async close(): Promise<void> {
    this.proc.child.stdin?.end();
    await this.proc.kill("SIGTERM", 2_000);
  }
}
