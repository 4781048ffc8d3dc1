/**
 * A pass-through HTTP proxy in front of the Vault test server that can rewrite Vault's JSON
 * answers on chosen paths: for answers no correct Vault gives but a buggy plugin or gateway may
 * (a `lease_duration` of 0, negative, null or a string next to a `lease_id`). The request really
 * reaches the Vault test server, so what it creates (a database user, a lease) really exists there
 * and can be counted and checked for revocation; only the answer the client sees is changed.
 */
import { createServer, request, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo, Socket } from "node:net";

interface Rewrite {
  path: string | RegExp;
  change: (json: Record<string, unknown>) => Record<string, unknown>;
}

export class RewritingProxy {
  private readonly rewrites: Rewrite[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  /** Listens on an ephemeral loopback port and forwards everything to `target` (the Vault test server's URL). */
  static async start(target: string): Promise<RewritingProxy> {
    let proxy: RewritingProxy | undefined;
    const server = createServer((req, res) => {
      void collect(req).then((body) => {
        const upstream = request(new URL(req.url ?? "/", target), { method: req.method, headers: { ...req.headers, host: new URL(target).host } }, (answer) => {
          void collect(answer).then((raw) => {
            const out = proxy!.rewrite(logicalPath(req.url ?? "/"), answer.headers["content-type"], raw);
            const headers = { ...answer.headers, "content-length": String(out.length) };
            delete headers["transfer-encoding"];
            res.writeHead(answer.statusCode ?? 502, headers);
            res.end(out);
          });
        });
        upstream.on("error", () => res.destroy());
        res.on("close", () => upstream.destroy());
        upstream.end(body);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve());
    });
    proxy = new RewritingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on("connection", (s: Socket) => {
      proxy!.sockets.add(s);
      s.on("close", () => proxy!.sockets.delete(s));
    });
    return proxy;
  }

  /** Rewrites the JSON answers of requests to `path` (logical, without `/v1/` and the query); returns a function that stops it. */
  onAnswer(path: string | RegExp, change: Rewrite["change"]): () => void {
    const rewrite = { path, change };
    this.rewrites.push(rewrite);
    return () => {
      const i = this.rewrites.indexOf(rewrite);
      if (i >= 0) this.rewrites.splice(i, 1);
    };
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  private rewrite(path: string, contentType: string | undefined, raw: Buffer): Buffer {
    const rule = this.rewrites.find((r) => (typeof r.path === "string" ? r.path === path : r.path.test(path)));
    if (!rule || !contentType?.includes("json") || raw.length === 0) return raw;
    return Buffer.from(JSON.stringify(rule.change(JSON.parse(raw.toString("utf8")) as Record<string, unknown>)));
  }
}

function logicalPath(url: string): string {
  const pathname = new URL(url, "http://proxy.invalid").pathname;
  return pathname.startsWith("/v1/") ? pathname.slice(4) : pathname.replace(/^\//, "");
}

function collect(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on("data", (c: Buffer) => chunks.push(c));
    stream.on("end", () => resolve(Buffer.concat(chunks)));
    stream.on("error", reject);
  });
}
