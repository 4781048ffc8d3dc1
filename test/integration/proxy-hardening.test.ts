/**
 * The `/v1/*` proxy of the built layer under the Lambda emulator, against the Vault and STS test
 * servers, with a front (test/peers/vault/front.ts) between the extension and Vault: a gateway
 * path prefix, and answers a broken or hostile upstream gives. Defects 1, 3, 7, 8, 9 and 12 of the
 * hardening issue: nothing escapes `<VAULT_ADDR path>/v1/`, the cache never mixes callers, nothing
 * oversized or redirected is relayed, a write is not sent twice, the extension's token never leaves.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { seedVault } from "../peers/vault/seed.ts";
import { VaultFront, endlessAnswer, redirectTo, resetMidAnswer } from "../peers/vault/front.ts";
import { World, results, useWorld } from "./harness.ts";

let world: World;
let front: VaultFront;
let fn: Awaited<ReturnType<World["lambda"]>>;

useWorld((w) => (world = w));

beforeAll(async () => {
  // A second namespace with a value of its own under the same path (defect 3).
  await seedVault(world.vault.url, world.vault.rootToken, { namespace: "team1", kv: [{ mount: "secret", version: 2, secrets: { "app/config": { api_key: "team1-api-key-51c0de" } } }] });
  front = await VaultFront.start(world.vault.url, "/vault");
  fn = await world.lambda({ VAULT_ADDR: front.url, VAULT_SECRET_PATH_CONFIG: "secret/data/app/config", VAULT_DEFAULT_CACHE_TTL: "5m" });
  const init = await fn.start();
  expect(init.ok, JSON.stringify(init.error)).toBe(true);
});

afterAll(async () => {
  await fn?.shutdown();
  await front?.close();
});

const cached = { "x-vault-cache-control": "cache" };

describe("paths (defect 1)", () => {
  it("a query never becomes a path: nothing leaves <VAULT_ADDR path>/v1/, and /v1 alone is 404", async () => {
    const targets = [
      "/v1?../../sys/health",
      "/v1?..%2f..%2fsys%2fhealth",
      "/v1?%2e%2e/%2e%2e/sys/health",
      "/v1?..\\..\\sys\\health",
      "/v1/?../../sys/health",
      "/v1/..%5C..%5Csys/health",
      "/v1/secret?x=../../sys/health",
      "/v1",
    ];
    const answers = results(await fn.invoke({ requests: targets.map((path) => ({ path })) }));
    answers.forEach((a, i) => {
      expect(a.status, targets[i]).toBeGreaterThanOrEqual(400);
      expect(a.status, targets[i]).toBeLessThan(500);
      expect(a.text, targets[i]).not.toContain("escaped");
    });
    expect(answers.at(-1)!.status).toBe(404);
    expect(front.escapes()).toEqual([]);
    // The prefix is kept for what may go through.
    const [ok] = results(await fn.invoke({ requests: [{ path: "/v1/secret/data/app/config" }] }));
    expect(ok!.status).toBe(200);
    expect(front.seen.at(-1)!.target).toBe("/vault/v1/secret/data/app/config");
  });
});

describe("cache (defect 3)", () => {
  it("keys on the namespace and sends it: each namespace gets its own answer, cached for itself", async () => {
    const ns = { ...cached, "x-vault-namespace": "team1" };
    const [root, team1, rootAgain, team1Again] = results(
      await fn.invoke({
        requests: [
          { path: "/v1/secret/data/app/config", headers: cached },
          { path: "/v1/secret/data/app/config", headers: ns },
          { path: "/v1/secret/data/app/config", headers: cached },
          { path: "/v1/secret/data/app/config", headers: ns },
        ],
      }),
    );
    expect(root!.json.data.data.api_key).toBe("kv-api-key-7f3a9c");
    expect(team1!.json.data.data.api_key).toBe("team1-api-key-51c0de");
    expect(rootAgain!.json.data.data.api_key).toBe("kv-api-key-7f3a9c");
    expect(team1Again!.json.data.data.api_key).toBe("team1-api-key-51c0de");
    expect([rootAgain!.xCache, team1Again!.xCache]).toEqual(["HIT", "HIT"]);
  });

  it("a wrapped request gets Vault's wrapping answer, never a cached plaintext", async () => {
    const [plain, wrapped] = results(
      await fn.invoke({
        requests: [
          { path: "/v1/secret/data/app/config", headers: cached },
          { path: "/v1/secret/data/app/config", headers: { ...cached, "x-vault-wrap-ttl": "60s" } },
        ],
      }),
    );
    expect(plain!.status).toBe(200);
    // The test server refuses wrapping (README): what matters is that Vault was asked to wrap.
    expect(wrapped!.status).toBe(400);
    expect(wrapped!.json.errors).toEqual(["wrapping not supported by the test server"]);
    expect(wrapped!.text).not.toContain("kv-api-key-7f3a9c");
  });
});

describe("answers Vault should not have given (defects 7, 8, 9)", () => {
  it("an answer over 6 MiB is 502 in plain words, abandoned, not buffered; the extension keeps serving", async () => {
    const huge = endlessAnswer(256 * 1024 * 1024);
    const remove = front.answer(/^secret\/data\/huge$/, huge.answer);
    const [big, after] = results(await fn.invoke({ requests: [{ path: "/v1/secret/data/huge" }, { path: "/secrets/config" }] }));
    remove();
    expect(big!.status).toBe(502);
    expect(big!.json.errors[0]).toBe("Vault error reading /v1/secret/data/huge: Vault's answer is larger than 6 MiB (Lambda's response limit); it was not read");
    expect(huge.stats.closed).toBe(true);
    expect(huge.stats.written).toBeLessThan(64 * 1024 * 1024);
    expect(after!.status).toBe(200);
  });

  it("a proxied POST reset mid-answer reaches Vault once", async () => {
    const remove = front.answer(/^transit\/encrypt\/orders$/, resetMidAnswer, "POST");
    const before = front.count("POST", /^transit\/encrypt\/orders$/);
    const [post] = results(await fn.invoke({ requests: [{ path: "/v1/transit/encrypt/orders", method: "POST", body: JSON.stringify({ plaintext: "aGVsbG8=" }) }] }));
    remove();
    expect(post!.status).toBe(502);
    expect(front.count("POST", /^transit\/encrypt\/orders$/) - before).toBe(1);
  });

  it("a 307 is never relayed nor followed: 502 naming where, without the query", async () => {
    let elsewhere = 0;
    const other = http.createServer((_req, res) => {
      elsewhere++;
      res.end("{}");
    });
    await new Promise<void>((r) => other.listen(0, "127.0.0.1", r));
    const otherUrl = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;
    const remove = front.answer(/^secret\/data\/moved$/, redirectTo(`${otherUrl}/v1/secret/data/moved?token=sneaky`));
    try {
      const [get, post] = results(
        await fn.invoke({ requests: [{ path: "/v1/secret/data/moved" }, { path: "/v1/secret/data/moved", method: "POST", body: "{}" }] }),
      );
      for (const r of [get!, post!]) {
        expect(r.status).toBe(502);
        expect(r.json.errors[0]).toContain(`Vault redirected to ${otherUrl}/v1/secret/data/moved;`);
        expect(r.text).not.toContain("sneaky");
      }
      expect(elsewhere).toBe(0);
    } finally {
      remove();
      other.closeAllConnections();
      await new Promise((r) => other.close(r));
    }
  });
});

describe("the extension's own token (defect 12)", () => {
  it("lookup-self answers without the token, in every spelling; token creation is refused with the reason", async () => {
    const lookups = [
      { path: "/v1/auth/token/lookup-self" },
      { path: "/v1/auth/token/lookup-self", method: "POST", body: "{}" },
      { path: "/v1/auth/token/lookup%2Dself" },
      { path: "/v1/auth/token/lookup-self", headers: cached },
      { path: "/v1/auth/token/lookup-self", headers: cached },
    ];
    const creates = ["/v1/auth/token/create", "/v1/auth/token/create-orphan", "/v1/auth/token/create/app", "/v1/Auth/Token/Create", "/v1/auth/token/%63reate"];
    const tokensBefore = world.vault.tokens().length;
    const answers = results(
      await fn.invoke({ requests: [...lookups, ...creates.map((path) => ({ path, method: "POST", body: JSON.stringify({ ttl: "768h" }) }))] }),
    );
    const issued = world.vault.issuedSecrets();
    for (const a of answers.slice(0, lookups.length)) {
      expect(a.status).toBe(200);
      expect(a.json.data.policies).toContain("app");
      expect(a.json.data).not.toHaveProperty("id");
      expect(a.json.data).not.toHaveProperty("accessor");
      for (const s of issued) expect(a.text).not.toContain(s);
    }
    for (const a of answers.slice(lookups.length)) {
      expect(a.status).toBe(403);
      expect(a.json.errors[0]).toMatch(/auth\/token\/create.* refused: .*must not outlive/);
    }
    expect(world.vault.tokens().length).toBe(tokensBefore);
    expect(front.count("POST", /create/i)).toBe(0);
  });
});

describe("the extension's own reads (defects 7 and 9)", () => {
  async function initOver(path: string, answer: Parameters<VaultFront["answer"]>[1]) {
    const remove = front.answer(new RegExp(`^${path}$`), answer);
    try {
      const other = await world.lambda({ VAULT_ADDR: front.url, VAULT_SECRET_PATH_ODD: path });
      const init = await other.start();
      await other.kill();
      return init;
    } finally {
      remove();
    }
  }

  it("a declared secret answered with 256 MiB fails the init with a clear error, after 4 MiB at most", async () => {
    const huge = endlessAnswer(256 * 1024 * 1024);
    const init = await initOver("secret/data/enormous", huge.answer);
    expect(init.ok).toBe(false);
    expect(init.error?.type).toBe("Extension.SecretReadFailed");
    expect(init.error?.message).toContain("Vault's answer is larger than 4 MiB (the limit for the extension's own reads from Vault); it was not read");
    expect(huge.stats.closed).toBe(true);
    expect(huge.stats.written).toBeLessThan(64 * 1024 * 1024);
  });

  it("a declared secret redirected elsewhere fails the init naming where, and nothing follows it", async () => {
    const before = front.seen.length;
    const init = await initOver("secret/data/moved-away", redirectTo("http://127.0.0.1:9/v1/secret/data/moved-away?token=sneaky"));
    expect(init.ok).toBe(false);
    expect(init.error?.message).toContain("Vault redirected to http://127.0.0.1:9/v1/secret/data/moved-away;");
    expect(init.error?.message).not.toContain("sneaky");
    // One read of it, not one per retry: a redirect is an answer, not a failure worth another try.
    expect(front.seen.slice(before).filter((s) => s.target.endsWith("secret/data/moved-away"))).toHaveLength(1);
  });
});
