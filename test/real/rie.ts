/**
 * AWS's Lambda Runtime Interface Emulator (.real/bin/aws-lambda-rie) running a layer as /opt: the RIE
 * only looks for extensions in /opt/extensions, so it runs in a mount namespace of its own
 * (`unshare -m`, private propagation) where a copy of the layer is bind-mounted on /opt. The runtime is
 * the emulator's Node runtime (test/peers/lambda/runtime-bootstrap.mjs), which speaks the Runtime API.
 */
import { spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { freePort } from "../integration/harness.ts";
import { RIE, ROOT, capture, requireInstalled } from "./peers.ts";

export const RUNTIME_BOOTSTRAP = path.join(ROOT, "test/peers/lambda/runtime-bootstrap.mjs");

export interface RieOptions {
  /** What /opt holds (a layer directory). */
  optDir: string;
  taskRoot: string;
  handler: string;
  env: Record<string, string>;
  logFile: string;
  /** The RIE may stop on its own right after start (an init failure in Managed Instances mode). */
  mayExit?: boolean;
}

export class Rie {
  readonly lines: string[] = [];
  private closed = false;
  private constructor(
    readonly url: string,
    private readonly child: ChildProcess,
  ) {}

  /** A copy of `layerDir` plus extra extension files, to bind-mount on /opt. */
  static optDir(layerDir: string, extraExtensions: Record<string, string> = {}): string {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-rie-opt-"));
    // In Managed Instances mode the RIE runs the extensions as another user: /opt must be readable.
    fs.chmodSync(dir, 0o755);
    fs.cpSync(layerDir, dir, { recursive: true });
    for (const [name, file] of Object.entries(extraExtensions)) {
      fs.copyFileSync(file, path.join(dir, "extensions", name));
      fs.chmodSync(path.join(dir, "extensions", name), 0o755);
    }
    return dir;
  }

  static async start(opts: RieOptions): Promise<Rie> {
    requireInstalled(RIE);
    const [port, apiPort] = [await freePort(), await freePort()];
    const command = [RIE, "--runtime-interface-emulator-address", `127.0.0.1:${port}`, "--runtime-api-address", `127.0.0.1:${apiPort}`, process.execPath, RUNTIME_BOOTSTRAP];
    const script = `mount --bind "$0" /opt && exec "$@"`;
    const child = spawn("unshare", ["-m", "--propagation", "private", "sh", "-c", script, opts.optDir, ...command], {
      cwd: opts.taskRoot,
      env: { PATH: `${path.dirname(process.execPath)}:${process.env.PATH ?? ""}`, HOME: os.tmpdir(), _HANDLER: opts.handler, LAMBDA_TASK_ROOT: opts.taskRoot, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const rie = new Rie(`http://127.0.0.1:${port}`, child);
    child.once("close", () => (rie.closed = true));
    capture(child, opts.logFile, rie.lines);
    // The RIE listens at once; init runs on the first invoke (classic) or at start (Managed Instances).
    const until = Date.now() + 20_000;
    for (;;) {
      if (child.exitCode !== null) {
        // Managed Instances mode initialises at start and may stop before we look: the caller checks.
        if (opts.mayExit) return rie;
        throw new Error(`the RIE exited ${child.exitCode}: ${rie.lines.slice(-5).join(" | ")}`);
      }
      if (rie.lines.some((l) => /listening|Listening|Runtime API Server|exec '/.test(l))) break;
      try {
        await fetch(`${rie.url}/`, { signal: AbortSignal.timeout(500) });
        break;
      } catch {
        if (Date.now() > until) throw new Error(`the RIE did not listen: ${rie.lines.slice(-5).join(" | ")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return rie;
  }

  /** Its exit code once it exited and its output was read to the end (null before; 128 for a signal). */
  get exitCode(): number | null {
    return this.closed ? (this.child.exitCode ?? 128) : null;
  }

  async invoke(event: unknown, timeoutMs = 60_000): Promise<{ status: number; json: any; text: string }> {
    const res = await fetch(`${this.url}/2015-03-31/functions/function/invocations`, { method: "POST", body: JSON.stringify(event), signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {}
    return { status: res.status, json, text };
  }

  /** SIGTERM, as a container stop sends it; waits (bounded) for the RIE to exit. */
  async terminate(timeoutMs = 20_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const exited = new Promise((r) => this.child.once("exit", r));
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.kill(), timeoutMs);
    await exited;
    clearTimeout(timer);
    return this.child.exitCode;
  }

  /** SIGKILL to the whole process group (the RIE, the runtime, the extensions). */
  kill(): void {
    try {
      if (this.child.pid) process.kill(-this.child.pid, "SIGKILL");
    } catch {
      /* already gone */
    }
  }
}
