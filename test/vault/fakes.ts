/**
 * Fakes for unit tests of the token manager and the cache: a clock moved by hand, a Vault client
 * whose routes the test defines (answers, failures, answers that never come), an authenticator
 * that counts logins, and a logger that keeps its lines.
 */
import { VaultError, vaultMessages } from "../../src/errors.ts";
import { createLogger, Redactor, type Logger } from "../../src/log.ts";
import type { RawResponse, VaultRequest, VaultResponse, VaultTransport } from "../../src/vault/client.ts";
import type { LoginProvider } from "../../src/vault/token.ts";
import type { TokenGrant } from "../../src/vault/auth.ts";

export const T0 = Date.UTC(2030, 0, 1);
export const SECOND = 1_000;
export const MINUTE = 60_000;

export class FakeClock {
  t = T0;
  readonly now = (): number => this.t;
  advance(ms: number): void {
    this.t += ms;
  }
}

export function answer(status: number, body?: unknown): RawResponse {
  return { status, headers: { "content-type": "application/json" }, body: Buffer.from(body === undefined ? "" : JSON.stringify(body)) };
}

export function unreachable(req: VaultRequest): never {
  throw new VaultError("connection", req.method, req.path, undefined, ["ECONNREFUSED"]);
}

type Handler = (req: VaultRequest) => RawResponse | Promise<RawResponse>;

/** A Vault that answers what the test says, per `METHOD path`, and records every request. */
export class FakeVault implements VaultTransport {
  readonly calls: VaultRequest[] = [];
  private readonly routes = new Map<string, Handler>();

  on(method: string, path: string, handler: Handler): this {
    this.routes.set(`${method} ${path}`, handler);
    return this;
  }

  count(method: string, path: string): number {
    return this.calls.filter((c) => c.method === method && c.path === path).length;
  }

  async send(req: VaultRequest): Promise<RawResponse> {
    this.calls.push(req);
    const handler = this.routes.get(`${req.method} ${req.path}`);
    return handler ? handler(req) : answer(404, { errors: [] });
  }

  async request<T>(req: VaultRequest): Promise<VaultResponse<T>> {
    const raw = await this.send(req);
    const json = raw.body.length ? (JSON.parse(raw.body.toString()) as unknown) : undefined;
    if (raw.status >= 200 && raw.status < 300) return { status: raw.status, headers: raw.headers, json: json as T };
    const { errors, warnings } = vaultMessages(json);
    throw new VaultError("status", req.method, req.path, raw.status, errors, { warnings });
  }
}

/** Logs in with tokens `token-1`, `token-2`... of the given TTL. */
export class FakeAuth implements LoginProvider {
  logins = 0;
  ttlS: number;
  fail: Error | undefined;

  constructor(ttlS: number) {
    this.ttlS = ttlS;
  }

  async login(): Promise<TokenGrant> {
    if (this.fail) throw this.fail;
    this.logins++;
    return { clientToken: `token-${this.logins}`, accessor: `accessor-${this.logins}`, policies: ["app"], leaseDurationS: this.ttlS, renewable: true };
  }
}

export function testLogger(): { log: Logger; lines: Array<Record<string, unknown>>; redactor: Redactor } {
  const lines: Array<Record<string, unknown>> = [];
  const redactor = new Redactor();
  const log = createLogger({ level: "debug", redactor, write: (line) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines, redactor };
}

/** Lets every settled promise's callbacks run (no timers involved). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
  await new Promise<void>((resolve) => setImmediate(resolve));
}
