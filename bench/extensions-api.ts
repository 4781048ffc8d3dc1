/**
 * A minimal Lambda Extensions API for the benchmarks that run the extension outside the emulator:
 * it records the moment each `register` arrives (the end of a cold start), answers it, and parks
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
    const now = this.registrations[index];
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        reject(new Error(`no register call within ${timeoutMs} ms`));
      }, timeoutMs);
      const check = (): void => {
        const r = this.registrations[index];
        if (!r) return;
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
      if (this.shutdownDeadline !== undefined) return this.sendShutdown(res);
      this.parked.add(res);
      res.on("close", () => this.parked.delete(res));
      return;
    }
    // init/error, exit/error: accepted, as Lambda does.
    req.on("end", () => res.writeHead(202, { "content-type": "application/json" }).end("{}"));
  }
}
