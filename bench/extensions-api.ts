/**
 * A minimal Lambda Extensions API for the benchmarks that run the extension outside the emulator:
 * it records the moment each `register` arrives and the moment of each extension's first
 * `event/next` (the end of its init: with early registration the login and the reads come between
 * the two), answers them, and parks
 * every `event/next` until `shutdown()` — the process is never frozen, so a load generator can
 * talk to it for as long as it likes. The emulator (test/peers/lambda) is the faithful Lambda; this
 * is a stopwatch.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { epochMs } from "../test/peers/lambda/clock.ts";

export interface Registration {
  /** `Lambda-Extension-Name` it sent. */
  name: string;
  id: string;
  /** epochMs() when the register request's headers were parsed. */
  at: number;
  /** epochMs() of its first `event/next`: the extension is ready. */
  readyAt?: number;
}

export class FakeExtensionsApi {
  readonly registrations: Registration[] = [];
  private readonly parked = new Set<http.ServerResponse>();
  private readonly waiters = new Set<() => void>();
  private nextId = 1;
  private shutdownDeadline: number | undefined;

  private constructor(
    private readonly server: http.Server,
    /** `host:port`, the value of AWS_LAMBDA_RUNTIME_API. */
    readonly address: string,
  ) {}

  static async start(): Promise<FakeExtensionsApi> {
    let api: FakeExtensionsApi | undefined;
    const server = http.createServer({ keepAliveTimeout: 120_000 }, (req, res) => api!.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    api = new FakeExtensionsApi(server, `127.0.0.1:${(server.address() as AddressInfo).port}`);
    return api;
  }

  /** The registration number `index` (0-based, in arrival order), once it has arrived. */
  waitRegistration(index: number, timeoutMs: number): Promise<Registration> {
    return this.waitFor(index, () => true, "register call", timeoutMs);
  }

  /** The registration number `index` once that extension called `event/next` (its init is done). */
  waitReady(index: number, timeoutMs: number): Promise<Registration> {
    return this.waitFor(index, (r) => r.readyAt !== undefined, "register and event/next", timeoutMs);
  }

  private waitFor(index: number, done: (r: Registration) => boolean, what: string, timeoutMs: number): Promise<Registration> {
    const now = this.registrations[index];
    if (now && done(now)) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no ${what} within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (): void => {
        const r = this.registrations[index];
        if (!r || !done(r)) return;
        clearTimeout(timer);
        this.waiters.delete(check);
        resolve(r);
      };
      this.waiters.add(check);
    });
  }

  /**
   * Answers every `event/next`, parked now or arriving later, with SHUTDOWN (reason spindown,
   * `budgetMs` to go).
   */
  shutdown(budgetMs = 2_000): void {
    this.shutdownDeadline = Date.now() + budgetMs;
    for (const res of this.parked) this.sendShutdown(res);
    this.parked.clear();
  }

  private sendShutdown(res: http.ServerResponse): void {
    const body = JSON.stringify({ eventType: "SHUTDOWN", shutdownReason: "spindown", deadlineMs: this.shutdownDeadline });
    res.writeHead(200, { "content-type": "application/json" }).end(body);
  }

  async close(): Promise<void> {
    for (const res of this.parked) res.destroy();
    this.parked.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const at = epochMs();
    req.resume();
    const url = req.url ?? "";
    if (req.method === "POST" && url === "/2020-01-01/extension/register") {
      const name = String(req.headers["lambda-extension-name"] ?? "");
      const id = `ext-${this.nextId++}`;
      this.registrations.push({ name, id, at });
      for (const w of [...this.waiters]) w();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json", "lambda-extension-identifier": id }).end(JSON.stringify({ functionName: "bench", functionVersion: "$LATEST", handler: "index.handler" })));
      return;
    }
    if (req.method === "GET" && url === "/2020-01-01/extension/event/next") {
      const reg = this.registrations.find((r) => r.id === req.headers["lambda-extension-identifier"]);
      if (reg && reg.readyAt === undefined) {
        reg.readyAt = at;
        for (const w of [...this.waiters]) w();
      }
      if (this.shutdownDeadline !== undefined) return this.sendShutdown(res);
      this.parked.add(res);
      res.on("close", () => this.parked.delete(res));
      return;
    }
    // init/error, exit/error: accepted, as Lambda does.
    req.on("end", () => res.writeHead(202, { "content-type": "application/json" }).end("{}"));
  }
}
