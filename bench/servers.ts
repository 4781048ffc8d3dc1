/**
 * The two servers the hot-path and memory benchmarks compare: the extension (the built layer's
 * launcher, run outside the emulator against a fake Extensions API that never sends an event, so it
 * is never frozen), and a bare `node:http` server answering the very bytes the extension answered.
 */
import http from "node:http";
import path from "node:path";
import { FakeExtensionsApi } from "./extensions-api.ts";
import { Proc } from "./proc.ts";
import { BUNDLE, BenchWorld, DB_PATH, FIXTURES, LAUNCHER, freePort } from "./world.ts";

export interface CapturedResponse {
  status: number;
  /** Headers as sent, minus the ones node:http adds by itself (date, connection, keep-alive). */
  headers: Record<string, string>;
  body: string;
}

export interface ServerUnderTest {
  proc: Proc;
  url: string;
  stop(): Promise<void>;
}

/** GET with the caller token; the answer as the wire carried it. */
export function get(url: string, headers: Record<string, string>): Promise<CapturedResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => {
        const out: Record<string, string> = {};
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) {
          const name = res.rawHeaders[i]!;
          if (!["date", "connection", "keep-alive"].includes(name.toLowerCase())) out[name] = res.rawHeaders[i + 1]!;
        }
        resolve({ status: res.statusCode ?? 0, headers: out, body });
      });
      res.on("error", reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${url}: no answer within 10 s`)));
    req.on("error", reject);
  });
}

/**
 * The extension with `secrets` declared, registered and serving. `stop()` sends SHUTDOWN (it
 * revokes and exits) and kills it if it has not exited within 3 s.
 */
export async function startExtension(
  world: BenchWorld,
  secrets: Record<string, string>,
  cpu: number | undefined,
  /** Run `node <nodeArgs> index.mjs` in `cwd` instead of the launcher (for diagnostics flags). */
  direct?: { nodeArgs: string[]; cwd: string },
): Promise<ServerUnderTest> {
  const api = await FakeExtensionsApi.start();
  const port = await freePort();
  const env = world.extensionEnv(api.address, world.agentEnv(port, secrets));
  const proc = direct ? new Proc(process.execPath, [...direct.nodeArgs, BUNDLE], { env, cpu, cwd: direct.cwd }) : new Proc(LAUNCHER, [], { env, cpu });
  try {
    // Registered and done with its init (login, reads): it waits in `event/next`.
    await api.waitReady(0, 10_000);
  } catch (err) {
    await proc.kill();
    await api.close();
    throw new Error(`the extension did not become ready: ${(err as Error).message}; output: ${proc.lines.slice(-5).join(" | ")}`);
  }
  return {
    proc,
    url: `http://127.0.0.1:${port}`,
    stop: async () => {
      api.shutdown();
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([proc.exited, new Promise<void>((r) => (timer = setTimeout(r, 3_000)))]);
      clearTimeout(timer);
      await proc.kill();
      await api.close();
    },
  };
}

/** A bare node:http server answering `response` to every request. */
export async function startBare(response: CapturedResponse, cpu: number | undefined): Promise<ServerUnderTest> {
  const proc = new Proc(process.execPath, [path.join(FIXTURES, "bare-server.mjs")], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", BARE_RESPONSE: JSON.stringify(response) },
    cpu,
  });
  const line = await proc.waitLine((l) => l.startsWith("{\"port\""), 10_000);
  const { port } = JSON.parse(line) as { port: number };
  return { proc, url: `http://127.0.0.1:${port}`, stop: () => proc.kill("SIGTERM", 2_000) };
}

/** Whether two answers are the same bytes: status, headers (order and case included), body. */
export function sameBytes(a: CapturedResponse, b: CapturedResponse): boolean {
  return a.status === b.status && a.body === b.body && JSON.stringify(Object.entries(a.headers)) === JSON.stringify(Object.entries(b.headers));
}

export interface ExtensionAndBare {
  ours: ServerUnderTest;
  bare: ServerUnderTest;
  headers: Record<string, string>;
  /** The extension's answer to `GET /secrets/db`, which the bare server replays. */
  answer: CapturedResponse;
  /** Whether the bare server's answer is byte-for-byte the extension's. */
  identical: boolean;
}

/**
 * The extension serving `/secrets/db`, and a bare node:http server answering the same bytes: the
 * pair the hot-path and memory benchmarks compare. Both are pushed to `servers` as soon as they
 * start, so the caller's cleanup stops them whatever happens next.
 */
export async function startExtensionAndBare(world: BenchWorld, cpu: number | undefined, servers: ServerUnderTest[]): Promise<ExtensionAndBare> {
  const ours = await startExtension(world, { db: DB_PATH }, cpu);
  servers.push(ours);
  const headers = { "x-vault-token": world.sessionToken };
  const answer = await get(`${ours.url}/secrets/db`, headers);
  if (answer.status !== 200) throw new Error(`GET /secrets/db answered ${answer.status}: ${answer.body}`);
  const bare = await startBare(answer, cpu);
  servers.push(bare);
  const identical = sameBytes(answer, await get(`${bare.url}/secrets/db`, headers));
  return { ours, bare, headers, answer, identical };
}
