/**
 * The Vault proxy's decisions against a Vault that answers what the test says: what a cached read
 * is keyed on and sends (defect 3), how many cached reads are kept (defect 13), what never leaves
 * (the extension's own token, defect 12), and which requests may be repeated (defect 8).
 */
import type { ServerResponse } from "node:http";
import { describe, expect, it } from "vitest";
import { SecretCache } from "../../src/cache/secret-cache.ts";
import { InFlightLimit } from "../../src/server/in-flight.ts";
import { leaseRefusal, MAX_CACHED_PROXY_BYTES, MAX_CACHED_PROXY_READS, tokenEndpoint, VaultProxy } from "../../src/server/proxy.ts";
import { redactErrors } from "../../src/server/responses.ts";
import type { RawResponse, VaultRequest, VaultResponse, VaultTransport } from "../../src/vault/client.ts";
import { TokenManager } from "../../src/vault/token.ts";
import { answer, FakeAuth, testLogger } from "../vault/fakes.ts";

class ScriptedVault implements VaultTransport {
  readonly calls: VaultRequest[] = [];
  constructor(private readonly reply: (req: VaultRequest) => RawResponse) {}
  async send(req: VaultRequest): Promise<RawResponse> {
    this.calls.push(req);
    return this.reply(req);
  }
  async request<T>(req: VaultRequest): Promise<VaultResponse<T>> {
    const raw = await this.send(req);
    return { status: raw.status, headers: raw.headers, json: JSON.parse(raw.body.toString()) as T };
  }
}

interface Answered {
  status: number;
  headers: Record<string, string>;
  text: string;
}

function fakeResponse(): { res: ServerResponse; answered: Answered } {
  const answered: Answered = { status: 0, headers: {}, text: "" };
  const res = {
    writeHead(status: number, headers: Record<string, string>) {
      answered.status = status;
      answered.headers = headers;
      return res;
    },
    end(body?: Buffer | string) {
      answered.text = body === undefined ? "" : body.toString();
    },
  };
  return { res: res as unknown as ServerResponse, answered };
}

function setup(reply: (req: VaultRequest) => RawResponse, opts: { defaultCacheTtlMs?: number; namespace?: string } = {}) {
  const vault = new ScriptedVault(reply);
  const { log, redactor } = testLogger();
  const tokens = new TokenManager({ client: vault, auth: new FakeAuth(3_600), graceMs: 10_000, log });
  const cache = new SecretCache({ client: vault, tokens, log, redactor, graceMs: 10_000, waitMs: 1_000 });
  const proxy = new VaultProxy({ client: vault, tokens, cache, defaultCacheEnabled: false, defaultCacheTtlMs: opts.defaultCacheTtlMs ?? 60_000, namespace: opts.namespace });
  const limit = new InFlightLimit(4);
  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<Answered> => {
    const { res, answered } = fakeResponse();
    // As the localhost server does: error bodies go out through the redactor.
    redactErrors(res, redactor);
    await proxy.handle(method, path, headers, body === undefined ? undefined : Buffer.from(body), res, limit);
    return answered;
  };
  return { vault, cache, call, limit, tokens };
}

const kv = (value: string) => answer(200, { data: { data: { value } } });
const cached = { "x-vault-cache-control": "cache" };

describe("cached reads (defect 3)", () => {
  it("key on every X-Vault-* header and send them: each namespace gets and keeps its own answer", async () => {
    const { vault, call } = setup((req) => kv(req.headers?.["x-vault-namespace"] ?? "root"));
    const root = await call("GET", "secret/data/x", cached);
    const team1 = await call("GET", "secret/data/x", { ...cached, "x-vault-namespace": "team1" });
    const team1Again = await call("GET", "secret/data/x", { ...cached, "x-vault-namespace": "team1" });
    const inconsistent = await call("GET", "secret/data/x", { ...cached, "x-vault-inconsistent": "forward-active-node" });
    expect(JSON.parse(root.text).data.data.value).toBe("root");
    expect(JSON.parse(team1.text).data.data.value).toBe("team1");
    expect([team1Again.headers["x-cache"], JSON.parse(team1Again.text).data.data.value]).toEqual(["HIT", "team1"]);
    expect(inconsistent.headers["x-cache"]).toBe("MISS");
    expect(vault.calls.map((c) => c.headers)).toEqual([{}, { "x-vault-namespace": "team1" }, { "x-vault-inconsistent": "forward-active-node" }]);
  });

  it("never serves a wrapped request from the cache, nor keeps its answer", async () => {
    let n = 0;
    const { vault, call } = setup((req) => (req.headers?.["x-vault-wrap-ttl"] ? answer(200, { wrap_info: { token: `hvs.wrapping-${++n}` } }) : kv("plain")));
    await call("GET", "secret/data/x", cached);
    const w1 = await call("GET", "secret/data/x", { ...cached, "x-vault-wrap-ttl": "60s" });
    const w2 = await call("GET", "secret/data/x", { ...cached, "x-vault-wrap-ttl": "60s" });
    expect([JSON.parse(w1.text).wrap_info.token, JSON.parse(w2.text).wrap_info.token]).toEqual(["hvs.wrapping-1", "hvs.wrapping-2"]);
    expect(vault.calls.filter((c) => c.headers?.["x-vault-wrap-ttl"] === "60s")).toHaveLength(2);
  });

  it(`keeps at most ${MAX_CACHED_PROXY_READS} reads, least recently used out (defect 13)`, async () => {
    const { vault, cache, call } = setup(() => kv("v"));
    await call("GET", "secret/data/hot?n=0", cached);
    for (let i = 1; i <= 500; i++) {
      await call("GET", `secret/data/x?n=${i}`, cached);
      // The hot path stays in use, so it stays cached.
      if (i % 100 === 0) expect((await call("GET", "secret/data/hot?n=0", cached)).headers["x-cache"]).toBe("HIT");
    }
    expect(cache.size).toBe(MAX_CACHED_PROXY_READS);
    expect(vault.calls.filter((c) => c.path === "secret/data/hot?n=0")).toHaveLength(1);
    // The oldest of the rest were dropped: asking again reads again.
    expect((await call("GET", "secret/data/x?n=1", cached)).headers["x-cache"]).toBe("MISS");
  });

  it(`keeps at most ${MAX_CACHED_PROXY_BYTES / 1024 / 1024} MiB of cached answers, least recently used out: distinct X-Vault-* headers cannot grow it`, async () => {
    const big = "x".repeat(3 * 1024 * 1024);
    const { vault, cache, call } = setup(() => kv(big));
    await call("GET", "secret/data/hot", cached);
    for (let i = 0; i < 40; i++) {
      // Every X-Vault-* header is part of the key: a caller can make each request a new entry.
      await call("GET", "secret/data/big", { ...cached, "x-vault-junk": String(i) });
      if (i % 5 === 0) expect((await call("GET", "secret/data/hot", cached)).headers["x-cache"]).toBe("HIT");
    }
    expect(cache.size).toBeLessThanOrEqual(Math.floor(MAX_CACHED_PROXY_BYTES / big.length) + 1);
    expect(vault.calls.filter((c) => c.path === "secret/data/hot")).toHaveLength(1);
  });

  it("answers a held value without a slot; a miss with every slot taken is 429", async () => {
    const { call, limit } = setup(() => kv("v"));
    await call("GET", "secret/data/x", cached);
    for (let i = 0; i < limit.max; i++) expect(limit.tryEnter()).toBe(true);
    expect((await call("GET", "secret/data/x", cached)).status).toBe(200);
    expect((await call("GET", "secret/data/y", cached)).status).toBe(429);
  });
});

describe("the extension's own token (defect 12)", () => {
  const lookup = (req: VaultRequest) =>
    answer(200, { data: { id: req.token, accessor: "acc-1", policies: ["app"], ttl: 3000 }, auth: null, wrap_info: null, warnings: null });

  it("lookup-self (any spelling, any method, cached or not) answers without id and accessor", async () => {
    const { call } = setup(lookup);
    for (const [method, path, headers] of [
      ["GET", "auth/token/lookup-self", {}],
      ["POST", "auth/token/lookup-self", {}],
      ["GET", "Auth/Token/Lookup-Self", {}],
      ["GET", "auth/token/lookup%2Dself", {}],
      ["GET", "team1/auth/token/lookup-self", {}],
      ["GET", "auth/token/lookup-self", cached],
      ["GET", "auth/token/lookup-self", cached],
    ] as const) {
      const a = await call(method, path, headers);
      expect(a.status, `${method} ${path}`).toBe(200);
      expect(JSON.parse(a.text).data, `${method} ${path}`).toEqual({ policies: ["app"], ttl: 3000 });
    }
  });

  it("any other answer holding the token (auth/token/lookup of it) has that field removed, or is withheld", async () => {
    const { call } = setup((req) => (req.path.startsWith("auth/token/lookup") ? lookup(req) : answer(200, { data: { note: `token is ${req.token}!` } })));
    const a = await call("POST", "auth/token/lookup", {}, JSON.stringify({ token: "token-1" }));
    expect(JSON.parse(a.text).data).toEqual({ accessor: "acc-1", policies: ["app"], ttl: 3000 });
    const b = await call("GET", "secret/data/echo");
    expect(b.status).toBe(502);
    expect(b.text).not.toContain("token-1");
  });

  it("refuses auth/token/create* (any spelling) and a wrapped lookup-self, without asking Vault", async () => {
    const { vault, call } = setup(lookup);
    for (const path of ["auth/token/create", "auth/token/create-orphan", "auth/token/create/app", "AUTH/token/CREATE", "auth/token/%63reate", "ns1/auth/token/create"]) {
      const a = await call("POST", path, {}, "{}");
      expect(a.status, path).toBe(403);
      expect(JSON.parse(a.text).errors[0]).toMatch(/ is refused: a token made from the extension's token must not outlive this environment/);
    }
    expect((await call("GET", "auth/token/lookup-self", { "x-vault-wrap-ttl": "60s" })).status).toBe(403);
    expect(vault.calls).toEqual([]);
  });

  it("revoking or renewing any token the extension still holds (a replaced one too) is refused, by accessor or token, in the body, the query or the path", async () => {
    const { vault, tokens, call } = setup(() => answer(204));
    await tokens.login();
    await tokens.login();
    expect(tokens.live.map((t) => t.accessor)).toEqual(["accessor-1", "accessor-2"]);
    for (const [path, body] of [
      ["auth/token/revoke-accessor", { accessor: "accessor-1" }],
      ["auth/token/renew-accessor", { accessor: "accessor-2", increment: "1s" }],
      ["auth/token/revoke-accessor/accessor-1", undefined],
      ["auth/token/revoke?token=token-1", undefined],
      ["auth/token/revoke-orphan", { token: "token-2" }],
      ["auth/token/renew", { token: "token-1", increment: 1 }],
      ["auth/token/revoke-self", undefined],
    ] as const) {
      const a = await call("POST", path, {}, body && JSON.stringify(body));
      expect(a.status, path).toBe(403);
      expect(JSON.parse(a.text).errors[0]).toMatch(/ is refused: the extension (revokes|renews) its own token/);
    }
    expect(vault.calls).toEqual([]);
    // Another token (one the caller made or was given) is the caller's business.
    expect((await call("POST", "auth/token/revoke-accessor", {}, JSON.stringify({ accessor: "someone-else" }))).status).toBe(204);
  });

  it("tokenEndpoint recognises the token store's paths only", () => {
    expect(tokenEndpoint("auth/token/lookup-self?x=1")).toMatchObject({ kind: "lookup-self" });
    expect(tokenEndpoint("auth/token/renew-self")).toMatchObject({ kind: "self" });
    expect(tokenEndpoint("ns1/auth/token/Revoke%2Dself")).toMatchObject({ kind: "self" });
    for (const sub of ["revoke", "revoke-orphan", "revoke-accessor", "renew", "renew-accessor"]) expect(tokenEndpoint(`auth/token/${sub}`)).toMatchObject({ kind: "lifecycle" });
    expect(tokenEndpoint("auth/token/lookup-accessor")).toMatchObject({ kind: "other" });
    expect(tokenEndpoint("auth/aws/login")).toBeUndefined();
    expect(tokenEndpoint("secret/data/token/create")).toBeUndefined();
  });

  it("leaseRefusal refuses renewing or revoking a held lease, by id or by a prefix covering it, and nothing else", () => {
    const held = [{ leaseId: "database/creds/app/AbC123" }];
    const body = (v: unknown) => Buffer.from(JSON.stringify(v));
    const refused = [
      leaseRefusal("sys/leases/revoke", body({ lease_id: "database/creds/app/AbC123" }), held),
      leaseRefusal("sys/leases/renew", body({ lease_id: "database/creds/app/AbC123", increment: 1 }), held),
      leaseRefusal("sys/leases/revoke/database/creds/app/AbC123", undefined, held),
      leaseRefusal("sys/revoke/database/creds/app/AbC123", undefined, held),
      leaseRefusal("sys/renew?lease_id=database%2Fcreds%2Fapp%2FAbC123", undefined, held),
      leaseRefusal("ns1/sys/leases/revoke-prefix/database/creds", undefined, held),
      leaseRefusal("sys/leases/revoke-force/database", undefined, held),
      leaseRefusal("Sys/Leases/Revoke", body({ nested: { lease_id: "database/creds/app/AbC123" } }), held),
      leaseRefusal("sys/leases/revoke", body({ lease_id: " /database/creds/app/AbC123\n" }), held),
    ];
    for (const r of refused) expect(r).toMatch(/ is refused: it names a lease the extension holds/);
    const allowed = [
      leaseRefusal("sys/leases/revoke", body({ lease_id: "database/creds/app/other" }), held),
      leaseRefusal("sys/leases/revoke/database/creds/app/abc123", undefined, held),
      leaseRefusal("sys/leases/revoke-prefix/aws", undefined, held),
      leaseRefusal("sys/leases/lookup", body({ lease_id: "database/creds/app/AbC123" }), held),
      leaseRefusal("secret/data/app", body({ lease_id: "database/creds/app/AbC123" }), held),
      leaseRefusal("sys/leases/revoke", Buffer.from("not json"), held),
      leaseRefusal("sys/leases/revoke", body({ lease_id: "database/creds/app/AbC123" }), []),
    ];
    expect(allowed).toEqual(allowed.map(() => undefined));
  });
});

describe("repeating (defect 8)", () => {
  it("only GET, HEAD and LIST go to the client as repeatable; every request has the 6 MiB answer limit", async () => {
    const { vault, call } = setup(() => answer(204));
    for (const method of ["GET", "HEAD", "LIST", "POST", "PUT", "PATCH", "DELETE"]) await call(method, "secret/data/x");
    expect(vault.calls.map((c) => [c.method, c.repeatable])).toEqual([
      ["GET", true],
      ["HEAD", true],
      ["LIST", true],
      ["POST", false],
      ["PUT", false],
      ["PATCH", false],
      ["DELETE", false],
    ]);
    expect(new Set(vault.calls.map((c) => c.answerLimit?.bytes))).toEqual(new Set([6 * 1024 * 1024]));
  });
});
