/**
 * The loopback HTTP server that carries the Extensions API and the Runtime API (one port, as
 * AWS_LAMBDA_RUNTIME_API names one address for both).
 */
import http, { type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { LambdaApi } from "./api.ts";
import { BodyTooLarge, sendError } from "./http.ts";

export class ApiServer {
  private server: Server | undefined;
  private boundPort = 0;

  constructor(private readonly api: LambdaApi) {}

  get listening(): boolean {
    return this.server !== undefined;
  }

  get port(): number {
    return this.boundPort;
  }

  /** Listens on an ephemeral loopback port; the same port for every life of the environment. */
  async ensure(): Promise<void> {
    if (this.server) return;
    const server = http.createServer((req, res) => {
      this.api.route(req, res).catch((err: unknown) => {
        if (err instanceof BodyTooLarge) sendError(res, 413, "RequestEntityTooLarge", err.message);
        else sendError(res, 500, "ServiceException", err instanceof Error ? err.message : String(err));
      });
    });
    // Long polls wait for minutes while the environment is frozen: no request timeout.
    server.requestTimeout = 0;
    // Nor an idle timeout (Lambda's Go server has none): Node's default 5 s closes an extension's
    // kept-alive connection during a long init, and the extension's next call on it races the close
    // (ECONNRESET on its init/error, seen under load).
    server.keepAliveTimeout = 0;
    server.on("clientError", (_err, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.server = server;
    this.boundPort = (server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
