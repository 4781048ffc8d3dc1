/**
 * The handler client as it ships (dist/client/, built by `npm run build`):
 *  - in a function under the Lambda emulator, with the built layer and the Vault/STS test servers:
 *    getSecret, getField, awsCredentials and the Powertools provider, before and after a real freeze
 *    (SIGSTOP) longer than Node's client keep-alive and Powertools' cache, and the errors a user meets
 *    (undeclared name, wrong caller token, the Powertools wrapping);
 *  - in-process against plain local servers, for what the extension cannot be made to do on cue:
 *    nothing listening, a reused socket reset (the single retry), a reset twice, no answer.
 */
import http from "node:http";
import type net from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type * as ClientModule from "../../src/client/index.ts";
import type * as PowertoolsModule from "../../src/client/powertools.ts";
import { World, freePort } from "../integration/harness.ts";
import { CLIENT_DIR, LAYER_DIR, PACKAGING_FIXTURES, requireBuilt } from "./helpers.ts";

/** What the fixture handler returns for each call: a value, or the error's class and cause chain. */
interface Outcome<T = any> {
  value?: T;
  error?: { chain: Array<{ name: string; message: string; status?: number }>; isVaultAgentError: boolean; isGetParameterError: boolean };
}
type ClientRun = Record<"db" | "password" | "aws" | "config" | "apiKey" | "undeclared" | "wrongToken" | "powertoolsUndeclared", Outcome>;

const SECRETS = {
  VAULT_SECRET_PATH_DB: "database/creds/app",
  VAULT_SECRET_PATH_CONFIG: "secret/data/app/config",
  VAULT_SECRET_PATH_DEPLOY: "aws/creds/deploy",
};
/** Longer than Node's global agent keep-alive (5 s) and Powertools' default maxAge (5 s). */
const FREEZE_MS = 6_000;

describe("in a function, across a freeze", () => {
  let world: World;

  beforeAll(async () => {
    requireBuilt(path.join(CLIENT_DIR, "index.js"), path.join(CLIENT_DIR, "powertools.js"), path.join(LAYER_DIR, "extensions", "vault-lambda-agent"));
    world = await World.start();
  });

  afterAll(async () => {
    world?.leakScan();
    await world?.close();
  });

  it("serves getSecret, getField, awsCredentials and VaultAgentProvider before and after the environment was frozen", async () => {
    const fn = await world.lambda(SECRETS, { functionDir: PACKAGING_FIXTURES, handler: "client.handler" });
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);

    const first = await fn.invoke({});
    expect(first.ok, JSON.stringify(first.error)).toBe(true);
    const a = first.response as ClientRun;
    const issuedDb = world.vault.leases().find((l) => l.path === "database/creds/app" && !l.revokedAt)!;
    const issuedAws = world.vault.leases().find((l) => l.path === "aws/creds/deploy" && !l.revokedAt)!;
    expect(a.db.error).toBeUndefined();
    expect(a.db.value).toMatchObject({ leaseId: issuedDb.leaseId, renewable: true, cache: "HIT" });
    expect(a.db.value.username).toMatch(/^v-/);
    expect(new Date(a.db.value.expiresAt).getTime()).toBeGreaterThan(Date.now());
    expect(a.password.value).toBe(a.db.value.password);
    expect(a.aws.value).toMatchObject({ accessKeyId: (issuedAws.data as { access_key: string }).access_key, hasSecret: true });
    expect(new Date(a.aws.value.expiration).getTime()).toBeGreaterThan(Date.now());
    expect(a.config.value).toEqual({ api_key: "kv-api-key-7f3a9c", region: "eu-west-1" });
    expect(a.apiKey.value).toBe("kv-api-key-7f3a9c");

    await fn.idle(FREEZE_MS);

    const second = await fn.invoke({});
    expect(second.ok, JSON.stringify(second.error)).toBe(true);
    const b = second.response as ClientRun;
    // Same lease, same values: the extension's cache answered; no call failed after the thaw.
    for (const key of ["db", "password", "aws", "config", "apiKey"] as const) expect(b[key].error, `${key} after the freeze`).toBeUndefined();
    expect(b.db.value).toEqual({ ...a.db.value, cache: "HIT" });
    expect(b.password.value).toBe(a.password.value);
    expect(b.aws.value.accessKeyId).toBe(a.aws.value.accessKeyId);
    expect(b.config.value).toEqual(a.config.value);
    expect(b.apiKey.value).toBe(a.apiKey.value);

    // The environment really was frozen in between, for the whole idle time.
    const t = fn.timeline;
    const freezeAt = t.find((e) => e.what === "freeze" && e.at >= first.doneAt - 1)?.at;
    const thawAt = t.find((e) => e.what === "thaw" && e.at >= second.startedAt - 1_000 && e.at <= second.startedAt)?.at;
    expect(freezeAt, "freeze after the first invoke").toBeDefined();
    expect(thawAt, "thaw before the second invoke").toBeDefined();
    expect(thawAt! - freezeAt!).toBeGreaterThanOrEqual(FREEZE_MS);
    await fn.shutdown();
  });

  it("reports an undeclared name with the variable to set, a wrong caller token as 403, and Powertools wraps ours", async () => {
    const fn = await world.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app" }, { functionDir: PACKAGING_FIXTURES, handler: "client.handler" });
    expect((await fn.start()).ok).toBe(true);
    const r = await fn.invoke({});
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    const out = r.response as ClientRun;

    expect(out.undeclared.error).toMatchObject({ isVaultAgentError: true, isGetParameterError: false });
    expect(out.undeclared.error!.chain[0]).toMatchObject({ name: "VaultAgentError", status: 404 });
    expect(out.undeclared.error!.chain[0]!.message).toContain('secret "nope"');
    expect(out.undeclared.error!.chain[0]!.message).toContain("VAULT_SECRET_PATH_NOPE");

    expect(out.wrongToken.error!.chain[0]).toMatchObject({ name: "VaultAgentError", status: 403 });
    expect(out.wrongToken.error!.chain[0]!.message).toMatch(/^vault-lambda-agent answered 403/);
    expect(out.wrongToken.error!.chain[0]!.message).toContain("AWS_SESSION_TOKEN");

    // Powertools' BaseProvider wraps what a provider throws in GetParameterError, ours as its cause.
    const pt = out.powertoolsUndeclared.error!;
    expect(pt.isGetParameterError).toBe(true);
    expect(pt.chain.map((e) => e.name)).toEqual(["GetParameterError", "VaultAgentError"]);
    expect(pt.chain[1]).toMatchObject({ status: 404 });
    expect(pt.chain[1]!.message).toContain("VAULT_SECRET_PATH_NOPE");
    expect(pt.chain[0]!.message).toBe(pt.chain[1]!.message);

    // Undeclared secrets of this environment: the fixture's reads of config and deploy fail the same way.
    expect(out.config.error!.chain[0]!.name).toBe("GetParameterError");
    expect(out.aws.error!.chain[0]).toMatchObject({ name: "VaultAgentError", status: 404 });
    expect(out.aws.error!.chain[0]!.message).toContain("VAULT_SECRET_PATH_DEPLOY");
    await fn.shutdown();
  });
});

describe("in-process, against plain local servers", () => {
  let client: typeof ClientModule;
  const servers: http.Server[] = [];

  beforeAll(async () => {
    requireBuilt(path.join(CLIENT_DIR, "index.js"));
    // The built module, not src/: what the package ships.
    client = (await import(pathToFileURL(path.join(CLIENT_DIR, "index.js")).href)) as typeof ClientModule;
  });

  afterEach(async () => {
    for (const s of servers.splice(0)) {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });

  /** A server that records every request with the connection it came on. */
  async function serve(onRequest: (req: http.IncomingMessage, res: http.ServerResponse, nthOnSocket: number) => void) {
    const perSocket = new Map<net.Socket, number>();
    const seen: Array<{ socket: number; nth: number; token: string | undefined; url: string | undefined }> = [];
    const ids = new Map<net.Socket, number>();
    const server = http.createServer((req, res) => {
      const nth = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, nth);
      if (!ids.has(req.socket)) ids.set(req.socket, ids.size + 1);
      seen.push({ socket: ids.get(req.socket)!, nth, token: req.headers["x-vault-token"] as string | undefined, url: req.url });
      onRequest(req, res, nth);
    });
    server.keepAliveTimeout = 30_000;
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return { port: (server.address() as net.AddressInfo).port, seen };
  }

  const SECRET_BODY = JSON.stringify({ name: "DB", path: "database/creds/app", data: { username: "v-app-1", password: "pw-1" }, lease_id: "database/creds/app/x1", lease_duration: 3000, renewable: true, expires_at: "2099-01-01T00:00:00.000Z" });

  function answer(res: http.ServerResponse): void {
    res.writeHead(200, { "content-type": "application/json", "x-cache": "HIT" });
    res.end(SECRET_BODY);
  }

  it("nothing listening: a VaultAgentError that points at the layer and VAULT_AGENT_PORT", async () => {
    const port = await freePort();
    const err = await client.getSecret("db", { port, token: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.VaultAgentError);
    expect((err as ClientModule.VaultAgentError).status).toBe(0);
    expect((err as Error).message).toContain(`127.0.0.1:${port}`);
    expect((err as Error).message).toContain("vault-lambda-agent layer attached");
    expect((err as Error).message).toContain("VAULT_AGENT_PORT");
  });

  it("retries once when a kept-alive socket is reset on reuse, and the retry succeeds on a new connection", async () => {
    // The second request on a connection is answered by closing it: what a pooled socket that died
    // while the environment was frozen looks like to the client.
    const { port, seen } = await serve((req, res, nth) => (nth > 1 ? req.socket.destroy() : answer(res)));
    const first = await client.getSecret("db", { port, token: "session-token" });
    expect(first).toMatchObject({ name: "DB", leaseId: "database/creds/app/x1", leaseDuration: 3000, renewable: true, cache: "HIT" });
    expect(first.expiresAt?.toISOString()).toBe("2099-01-01T00:00:00.000Z");
    const second = await client.getField("db", "password", { port, token: "session-token" });
    expect(second).toBe(SECRET_BODY); // the stub answers the whole body; the point is that it answered
    expect(seen.map((s) => [s.socket, s.nth])).toEqual([
      [1, 1], // first read
      [1, 2], // reuse of the pooled socket: reset by the server
      [2, 1], // the single retry, on a new connection
    ]);
    expect(seen.every((s) => s.token === "session-token")).toBe(true);
    expect(seen[2]!.url).toBe("/secrets/db?field=password");
  });

  it("a connection reset twice is a VaultAgentError (status 0) with the socket error as its cause, after exactly two attempts", async () => {
    const { port, seen } = await serve((req) => req.socket.destroy());
    const err = await client.getSecret("db", { port, token: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.VaultAgentError);
    expect((err as ClientModule.VaultAgentError).status).toBe(0);
    expect((err as Error).message).toContain("/secrets/db failed twice");
    expect(((err as Error).cause as NodeJS.ErrnoException).code).toBe("ECONNRESET");
    expect(seen).toHaveLength(2);
  });

  it("no answer within timeoutMs: a VaultAgentError naming the wait, without a retry", async () => {
    const { port, seen } = await serve(() => {
      /* never answers */
    });
    const started = performance.now();
    const err = await client.getSecret("db", { port, token: "t", timeoutMs: 300 }).catch((e: unknown) => e);
    const waited = performance.now() - started;
    expect(err).toBeInstanceOf(client.VaultAgentError);
    expect((err as Error).message).toBe("vault-lambda-agent did not answer /secrets/db within 300 ms");
    expect(waited).toBeGreaterThanOrEqual(290);
    expect(waited).toBeLessThan(3_000);
    expect(seen).toHaveLength(1);
  });

  it("VaultAgentProvider: a field read is cached apart from the whole secret; forceFetch asks the extension for a fresh read", async () => {
    const { VaultAgentProvider } = (await import(pathToFileURL(path.join(CLIENT_DIR, "powertools.js")).href)) as typeof PowertoolsModule;
    const { port, seen } = await serve((req, res) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1");
      if (url.searchParams.get("field") === "password") {
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8" });
        res.end("pw-1");
      } else answer(res);
    });
    const vault = new VaultAgentProvider({ port, token: "t" });
    expect(await vault.get("db")).toEqual({ username: "v-app-1", password: "pw-1" });
    expect(await vault.get("db", { sdkOptions: { field: "password" } })).toBe("pw-1");
    // Both are now in Powertools' cache (default maxAge 5 s): no request for either.
    expect(await vault.get("db", { sdkOptions: { field: "password" } })).toBe("pw-1");
    expect(await vault.get("db")).toEqual({ username: "v-app-1", password: "pw-1" });
    expect(await vault.get("db", { forceFetch: true })).toEqual({ username: "v-app-1", password: "pw-1" });
    expect(seen.map((r) => r.url)).toEqual(["/secrets/db", "/secrets/db?field=password", "/secrets/db?refresh=true"]);
  });

  it("a 502 from the extension carries its message and says where to look", async () => {
    const { port } = await serve((_req, res) => {
      res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ errors: ["Vault answered 500 for database/creds/app: internal error"] }));
    });
    const err = await client.getSecret("db", { port, token: "t" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(client.VaultAgentError);
    expect((err as ClientModule.VaultAgentError).status).toBe(502);
    expect((err as Error).message).toBe(
      'vault-lambda-agent answered 502 for secret "db": Vault answered 500 for database/creds/app: internal error (Vault could not be reached or refused the read; see the extension\'s log)',
    );
  });
});
