/**
 * The bound on the localhost API's open connections. Lambda gives the extension's process 1024
 * file descriptors, which its connections to Vault and its files need too, and `/health` needs no
 * caller token: anything that reaches the port could otherwise hold a thousand idle kept-alive
 * connections and leave the extension unable to reach Vault (EMFILE).
 *
 * From `cullAt` open connections on, each new one first closes every idle one (kept alive between
 * requests; a client pool reconnects). Beyond `max`, when none was idle, the new one is closed at
 * once: what holds the others then is requests in progress, each bounded in time by the server.
 */
import type http from "node:http";
import type { Socket } from "node:net";

export class ConnectionBudget {
  private readonly open = new Set<Socket>();
  /** Open connections between requests: no request in progress, at least one answered. */
  private readonly idle = new Set<Socket>();
  /** Requests in progress per connection (more than one when pipelined). */
  private readonly busy = new WeakMap<Socket, number>();

  constructor(
    readonly max: number,
    private readonly cullAt: number,
  ) {}

  /** Tracks the server's connections and requests. */
  attach(server: http.Server): void {
    server.on("connection", (socket: Socket) => this.admit(socket));
    server.prependListener("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      this.idle.delete(socket);
      this.busy.set(socket, (this.busy.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const left = (this.busy.get(socket) ?? 1) - 1;
        this.busy.set(socket, left);
        if (left === 0 && this.open.has(socket) && !socket.destroyed) this.idle.add(socket);
      });
    });
  }

  get size(): number {
    return this.open.size;
  }

  private admit(socket: Socket): void {
    if (this.open.size >= this.cullAt) {
      for (const s of this.idle) this.drop(s);
    }
    if (this.open.size >= this.max) return void socket.destroy();
    this.open.add(socket);
    socket.once("close", () => this.drop(socket));
  }

  private drop(socket: Socket): void {
    this.open.delete(socket);
    this.idle.delete(socket);
    socket.destroy();
  }
}
