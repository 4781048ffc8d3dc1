/**
 * VaultFront: what may stand between the extension and Vault (a gateway under a path prefix, a
 * load balancer, a broken middlebox), as a pass-through proxy in front of the Vault test server.
 * It records every request-target it receives, so that a test can tell whether anything left
 * `<prefix>/v1/`, and answers chosen requests itself, with what the Vault test server's faults
 * cannot give: a redirect, an endless answer, a reset in the middle of an answer.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** How the front answers a request it takes over (the request body has been read). */
export type FrontAnswer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

interface FrontRule {
  method?: string;
  path: RegExp;
  answer: FrontAnswer;
}

export class VaultFront {
  /** Every request-target received, as sent (method and raw target). */
  readonly seen: Array<{ method: string; target: string }> = [];
  private readonly rules: FrontRule[] = [];

  private constructor(
    private readonly server: http.Server,
    /** VAULT_ADDR for the extension: the front's origin and its path prefix. */
    readonly url: string,
    private readonly prefix: string,
  ) {}

  /** A front on loopback that forwards `<prefix>/v1/*` to `vaultUrl`'s `/v1/*`, and nothing else. */
  static async start(vaultUrl: string, prefix = ""): Promise<VaultFront> {
    const upstream = new URL(vaultUrl);
    let front: VaultFront | undefined;
    const server = http.createServer((req, res) => front!.handle(req, res, upstream));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    front = new VaultFront(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`, prefix);
    return front;
  }

  /** Requests that arrived outside `<prefix>/v1/`: a path that escaped. */
  escapes(): string[] {
    return this.seen.map((s) => s.target).filter((t) => !t.startsWith(`${this.prefix}/v1/`));
  }

  /** How many requests with this method reached the front for a Vault path matching `path`. */
  count(method: string, path: RegExp): number {
    return this.seen.filter((s) => s.method === method && path.test(this.vaultPath(s.target))).length;
  }

  /** Answers requests whose Vault path (after `/v1/`, without the query) matches, until removed. */
  answer(path: RegExp, answer: FrontAnswer, method?: string): () => void {
    const rule: FrontRule = { path, answer, ...(method ? { method } : {}) };
    this.rules.push(rule);
    return () => void this.rules.splice(this.rules.indexOf(rule), 1);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private vaultPath(target: string): string {
    return target.slice(`${this.prefix}/v1/`.length).split("?")[0]!;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse, upstream: URL): void {
    const target = req.url ?? "";
    this.seen.push({ method: req.method ?? "", target });
    if (!target.startsWith(`${this.prefix}/v1/`)) {
      // An escaped request gets an answer that looks like success, as a real upstream's might.
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ escaped: target }));
    }
    const rule = this.rules.find((r) => (!r.method || r.method === req.method) && r.path.test(this.vaultPath(target)));
    if (rule) {
      req.resume();
      return void req.on("end", () => rule.answer(req, res));
    }
    const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: target.slice(this.prefix.length), headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    out.on("error", () => res.destroy());
    req.pipe(out);
  }
}

/** A 307 to `location`. */
export function redirectTo(location: string): FrontAnswer {
  return (_req, res) => void res.writeHead(307, { location }).end();
}

/** Status line and headers, part of a JSON body, then the connection reset. */
export const resetMidAnswer: FrontAnswer = (_req, res) => {
  res.writeHead(200, { "content-type": "application/json", "content-length": "4096" });
  res.write('{"request_id":"');
  setImmediate(() => res.socket?.destroy());
};

/**
 * An answer of `total` bytes streamed as fast as the reader takes them (no Content-Length, so only
 * counting can stop it); `stats` tells how much was written when the reader hung up.
 */
export function endlessAnswer(total: number): { answer: FrontAnswer; stats: { written: number; closed: boolean } } {
  const stats = { written: 0, closed: false };
  const chunk = Buffer.alloc(256 * 1024, 0x20);
  const answer: FrontAnswer = (_req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    res.write("{");
    res.on("close", () => (stats.closed = true));
    const pump = () => {
      while (stats.written < total && !res.destroyed) {
        stats.written += chunk.length;
        if (!res.write(chunk)) return void res.once("drain", pump);
      }
      if (!res.destroyed) res.end("}");
    };
    pump();
  };
  return { answer, stats };
}
