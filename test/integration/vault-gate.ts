/**
 * Holding Vault's answers: a pass-through proxy in front of the Vault test server, for tests that
 * need a request to be on the wire (a login held while the function's init asks the extension).
 */
import http from "node:http";
import type net from "node:net";

/**
 * A pass-through proxy in front of the Vault test server that can hold the requests for a path
 * until told to let them go: tests wait for what they need (a login on the wire, N requests
 * held) by counting, never by sleeping.
 */
export class VaultGate {
  private readonly held: Array<{ path: string; go: () => void }> = [];
  private readonly closed = new Set<string>();
  private constructor(
    private readonly server: http.Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<VaultGate> {
    const upstream = new URL(target);
    let gate: VaultGate | undefined;
    const server = http.createServer((req, res) => {
      const path = (req.url ?? "").replace(/^\/v1\//, "").split("?")[0]!;
      const forward = () => {
        const out = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        });
        out.on("error", () => res.destroy());
        req.pipe(out);
      };
      if (gate!.closed.has(path)) gate!.held.push({ path, go: forward });
      else forward();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    gate = new VaultGate(server, `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
    return gate;
  }

  hold(path: string): void {
    this.closed.add(path);
  }

  holding(path: string): number {
    return this.held.filter((h) => h.path === path).length;
  }

  release(path: string): void {
    this.closed.delete(path);
    for (const h of this.held.filter((x) => x.path === path)) h.go();
    this.held.splice(0, this.held.length, ...this.held.filter((x) => x.path !== path));
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** Polls (every 10 ms, at most 20 s) until `done` holds: a count to reach, not a time to wait. */
export async function until(done: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 2_000; i++) {
    if (await done()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

