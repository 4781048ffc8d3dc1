/**
 * The token manager against a fake Vault and a fake clock: login sharing, renewal at the refresh
 * point, capped renewals, failures, the 403 check, expiry past a freeze, revocation. No sleeps:
 * time moves when the test moves it.
 */
import { describe, expect, it } from "vitest";
import { TokenManager } from "../../src/vault/token.ts";
import { answer, FakeAuth, FakeClock, FakeVault, MINUTE, SECOND, T0, testLogger, unreachable } from "./fakes.ts";

const TTL_S = 3_600; // refresh point at 40 min (no jitter), grace from 60 min − 10 s
const GRACE = 10 * SECOND;

function setup(ttlS = TTL_S) {
  const clock = new FakeClock();
  const vault = new FakeVault();
  const auth = new FakeAuth(ttlS);
  const { log, lines } = testLogger();
  const tokens = new TokenManager({ client: vault, auth, graceMs: GRACE, log, clock: clock.now, random: () => 0 });
  vault.on("POST", "auth/token/renew-self", (req) => answer(200, { auth: { lease_duration: (req.body as { increment: number }).increment, renewable: true } }));
  return { clock, vault, auth, tokens, lines };
}

describe("login", () => {
  it("concurrent callers share one login", async () => {
    const { auth, tokens } = setup();
    const got = await Promise.all(Array.from({ length: 5 }, () => tokens.ensure()));
    expect(auth.logins).toBe(1);
    expect(new Set(got).size).toBe(1);
    expect(got[0]!.lease).toMatchObject({ obtainedAt: T0, expiresAt: T0 + TTL_S * SECOND, refreshAt: T0 + 40 * MINUTE });
  });

  it("tells who it replaced, and forgets tokens that expired on their own", async () => {
    const { clock, tokens } = setup(60);
    const seen: Array<[string | undefined, string]> = [];
    tokens.onReplaced = (previous, next) => seen.push([previous?.clientToken, next.clientToken]);
    await tokens.login();
    clock.advance(2 * MINUTE);
    await tokens.login();
    expect(seen).toEqual([
      [undefined, "token-1"],
      ["token-1", "token-2"],
    ]);
    expect(tokens.live.map((t) => t.clientToken)).toEqual(["token-2"]);
  });
});

describe("refresh (at INVOKE)", () => {
  it("does nothing before the refresh point, renews past it with the login's TTL as increment", async () => {
    const { clock, vault, tokens } = setup();
    const t = await tokens.ensure();
    clock.advance(40 * MINUTE - 1);
    await tokens.refresh();
    expect(vault.calls).toHaveLength(0);
    clock.advance(1);
    await tokens.refresh();
    expect(vault.calls.map((c) => [c.path, c.body, c.token])).toEqual([["auth/token/renew-self", { increment: TTL_S }, "token-1"]]);
    expect(tokens.current).toBe(t);
    expect(t.lease.expiresAt).toBe(clock.t + TTL_S * SECOND);
  });

  it("concurrent refreshes share one renewal", async () => {
    const { clock, vault, tokens } = setup();
    await tokens.ensure();
    clock.advance(45 * MINUTE);
    await Promise.all([tokens.refresh(), tokens.refresh(), tokens.refresh()]);
    expect(vault.count("POST", "auth/token/renew-self")).toBe(1);
  });

  it("a renewal capped by the max TTL is final: the next refresh logs in", async () => {
    const { clock, vault, auth, tokens, lines } = setup();
    vault.on("POST", "auth/token/renew-self", () => answer(200, { auth: { lease_duration: 900, renewable: true } }));
    await tokens.ensure();
    clock.advance(40 * MINUTE);
    await tokens.refresh();
    expect(tokens.current!.lease.renewable).toBe(false);
    expect(lines.some((l) => l.message === "the token is near its max TTL; the next refresh logs in again")).toBe(true);
    clock.advance(10 * MINUTE); // the capped lease's refresh point: 2/3 of 15 min
    await tokens.refresh();
    expect(auth.logins).toBe(2);
    expect(vault.count("POST", "auth/token/renew-self")).toBe(1);
  });

  it("a transient renewal failure keeps the token; it is tried again after a backoff by the wall clock, not at every INVOKE", async () => {
    const { clock, vault, auth, tokens } = setup();
    vault.on("POST", "auth/token/renew-self", unreachable);
    const t = await tokens.ensure();
    clock.advance(41 * MINUTE);
    await tokens.refresh();
    expect(tokens.current).toBe(t);
    expect(t.dead).toBe(false);
    // INVOKEs every 100 ms for 2.9 s: asked again at +1 s and +3 s only.
    for (let i = 0; i < 29; i++) {
      clock.advance(100);
      await tokens.refresh();
    }
    expect(vault.count("POST", "auth/token/renew-self")).toBe(2);
    expect(tokens.retry).toMatchObject({ failures: 2, retryAt: clock.t + 100 });
    clock.advance(100);
    await tokens.refresh();
    expect(vault.count("POST", "auth/token/renew-self")).toBe(3);
    expect(auth.logins).toBe(1);
    // A renewal that works ends the backoff.
    vault.on("POST", "auth/token/renew-self", () => answer(200, { auth: { lease_duration: TTL_S, renewable: true } }));
    clock.advance(4 * SECOND);
    await tokens.refresh();
    expect(tokens.retry).toBeUndefined();
  });

  it("a renewal refused for good logs in again; after a 403 (dead, or a policy without renew-self) the old token stays on record, revoked at shutdown", async () => {
    const { clock, vault, auth, tokens } = setup();
    vault.on("POST", "auth/token/renew-self", () => answer(400, { errors: ["past max TTL"] }));
    const first = await tokens.ensure();
    clock.advance(41 * MINUTE);
    await tokens.refresh();
    expect(auth.logins).toBe(2);
    expect(first.dead).toBe(false);
    vault.on("POST", "auth/token/renew-self", () => answer(403, { errors: ["permission denied"] }));
    const second = tokens.current!;
    clock.advance(41 * MINUTE);
    await tokens.refresh();
    expect(auth.logins).toBe(3);
    expect(second.dead).toBe(false);
    // token-1 has expired on its own by now; token-2 may be alive.
    expect(tokens.live.map((t) => t.clientToken)).toEqual(["token-2", "token-3"]);
  });

  it("past the token's expiry (a long freeze): a new login, not a renewal", async () => {
    const { clock, vault, auth, tokens } = setup();
    await tokens.ensure();
    clock.advance(5 * 60 * MINUTE);
    await tokens.refresh();
    expect(vault.calls).toHaveLength(0);
    expect(auth.logins).toBe(2);
  });

  it("a token without a TTL is never renewed", async () => {
    const { clock, vault, tokens } = setup(0);
    await tokens.ensure();
    clock.advance(1_000 * 60 * MINUTE);
    await tokens.refresh();
    expect(vault.calls).toHaveLength(0);
  });
});

describe("ensure", () => {
  it("logs in again once the token is inside its grace period", async () => {
    const { clock, auth, tokens } = setup();
    await tokens.ensure();
    clock.advance(60 * MINUTE - GRACE - 1);
    expect((await tokens.ensure()).clientToken).toBe("token-1");
    clock.advance(1);
    expect((await tokens.ensure()).clientToken).toBe("token-2");
    expect(auth.logins).toBe(2);
  });
});

describe("withToken and a 403", () => {

  async function run(lookup: number, lookupErrors = ["permission denied"]) {
    const s = setup();
    s.vault.on("GET", "secret/x", (req) => answer(req.token === "token-1" ? 403 : 200, req.token === "token-1" ? { errors: ["permission denied"] } : { data: {} }));
    s.vault.on("GET", "auth/token/lookup-self", () => answer(lookup, lookup === 200 ? { data: {} } : { errors: lookupErrors }));
    const result = await s.tokens.withToken((t) => s.vault.request({ method: "GET", path: "secret/x", token: t.clientToken })).then(
      (r) => r.status,
      (e: { status?: number }) => `error ${e.status}`,
    );
    return { ...s, result };
  }

  it("a live token: the denial is the policy's, passed through without a login", async () => {
    const { auth, result } = await run(200);
    expect(result).toBe("error 403");
    expect(auth.logins).toBe(1);
  });

  it("a dead token (Vault says invalid token): one new login and one retry, which succeeds", async () => {
    const { auth, vault, tokens, result } = await run(403, ["permission denied", "invalid token"]);
    expect(result).toBe(200);
    expect(auth.logins).toBe(2);
    expect(vault.calls.map((c) => `${c.path} ${c.token}`)).toEqual(["secret/x token-1", "auth/token/lookup-self token-1", "secret/x token-2"]);
    expect(tokens.live.map((t) => t.clientToken)).toEqual(["token-2"]);
  });

  it.each([
    ["denied (a token revoked from outside answers so)", 403],
    ["failing", 500],
  ])("a token lookup-self cannot vouch for (%s): suspected, one new login and one retry; the old token stays on record", async (_, status) => {
    const { auth, vault, tokens, result } = await run(status);
    expect(result).toBe(200);
    expect(auth.logins).toBe(2);
    expect(vault.calls.map((c) => `${c.path} ${c.token}`)).toEqual(["secret/x token-1", "auth/token/lookup-self token-1", "secret/x token-2"]);
    expect(tokens.live.map((t) => t.clientToken)).toEqual(["token-1", "token-2"]);
  });
});

describe("a Vault that denies everything, lookup-self included (a role with token_no_default_policy)", () => {
  function denyAll() {
    const s = setup();
    s.vault.on("GET", "secret/x", () => answer(403, { errors: ["permission denied"] }));
    s.vault.on("GET", "auth/token/lookup-self", () => answer(403, { errors: ["permission denied"] }));
    s.vault.on("POST", "auth/token/revoke-self", () => answer(204));
    const read = () => s.tokens.withToken((t) => s.vault.request({ method: "GET", path: "secret/x", token: t.clientToken })).then(
      () => "ok",
      (e: { status?: number }) => `error ${e.status}`,
    );
    return { ...s, read };
  }

  it("five denied reads: one login for the first suspicion, none for the next four; every token revoked at shutdown", async () => {
    const { auth, clock, tokens, read, vault } = denyAll();
    for (let i = 0; i < 5; i++) {
      expect(await read()).toBe("error 403");
      clock.advance(SECOND);
    }
    expect(auth.logins).toBe(2);
    expect(await tokens.revokeAll(clock.t + 1_000)).toEqual({ revoked: 2, alreadyGone: 0, failed: 0 });
    expect(vault.calls.filter((c) => c.path === "auth/token/revoke-self").map((c) => c.token).sort()).toEqual(["token-1", "token-2"]);
  });

  it("concurrent denials share one check and one login", async () => {
    const { auth, read, vault } = denyAll();
    await read(); // the first login (and the first suspicion's)
    const logins = auth.logins;
    expect(await Promise.all(Array.from({ length: 5 }, read))).toEqual(Array(5).fill("error 403"));
    expect(auth.logins).toBe(logins);
    expect(vault.count("GET", "auth/token/lookup-self")).toBe(2);
  });

  it("at most one suspicion-driven login a minute, by the wall clock", async () => {
    const { auth, clock, read } = denyAll();
    for (let i = 0; i < 180; i++) {
      await read();
      clock.advance(SECOND);
    }
    // The first login, then one at 0 s, 60 s and 120 s.
    expect(auth.logins).toBe(4);
  });
});

describe("a denial of a token replaced meanwhile", () => {
  it("is retried once with the current token: no login, and no suspicion spent", async () => {
    const s = setup();
    s.vault.on("GET", "auth/token/lookup-self", () => answer(403, { errors: ["permission denied"] }));
    s.vault.on("GET", "secret/x", (req) => answer(req.token === "token-1" ? 403 : 200, req.token === "token-1" ? { errors: ["permission denied"] } : { data: {} }));
    const ok = await s.tokens.withToken(async (t) => {
      // A renewal elsewhere replaced the token while this request was on its way.
      if (t.clientToken === "token-1") await s.tokens.login();
      return s.vault.request({ method: "GET", path: "secret/x", token: t.clientToken });
    });
    expect(ok.status).toBe(200);
    expect(s.auth.logins).toBe(2);
    // The next suspicion may still log in.
    s.vault.on("GET", "secret/x", (req) => answer(req.token === "token-2" ? 403 : 200, req.token === "token-2" ? { errors: ["permission denied"] } : { data: {} }));
    await s.tokens.withToken((t) => s.vault.request({ method: "GET", path: "secret/x", token: t.clientToken }));
    expect(s.auth.logins).toBe(3);
  });
});

describe("a suspected token whose new login fails", () => {
  it("passes the denial through (the request's answer is Vault's 403, not the login's failure)", async () => {
    const s = setup();
    s.vault.on("GET", "secret/x", () => answer(403, { errors: ["permission denied"] }));
    s.vault.on("GET", "auth/token/lookup-self", () => answer(403, { errors: ["permission denied"] }));
    await s.tokens.ensure();
    s.auth.fail = new Error("Vault is sealed");
    const err = (await s.tokens.withToken((t) => s.vault.request({ method: "GET", path: "secret/x", token: t.clientToken })).catch((e: unknown) => e)) as { status?: number };
    expect(err.status).toBe(403);
    expect(s.lines.some((l) => l.message === "logging in again on suspicion failed; passing the denial through")).toBe(true);
  });
});

describe("waitingToLogIn", () => {
  it("is true only while there is no usable token and the failed login backs off", async () => {
    const { auth, clock, tokens } = setup(60);
    expect(tokens.waitingToLogIn).toBe(false);
    await tokens.ensure();
    clock.advance(2 * MINUTE);
    auth.fail = new Error("connect ECONNREFUSED");
    await tokens.refresh().catch(() => undefined);
    expect(tokens.waitingToLogIn).toBe(true);
    clock.advance(SECOND);
    expect(tokens.waitingToLogIn).toBe(false);
  });
});

describe("logins that Vault refuses", () => {
  it("are not repeated at every request: the refusal is answered at once until the backoff has passed", async () => {
    const { auth, clock, tokens } = setup();
    const { AgentError } = await import("../../src/errors.ts");
    auth.fail = new AgentError("auth", "login to auth/aws failed (Vault answered 400: entry for role fn-role not found)");
    let attempts = 0;
    const login = auth.login.bind(auth);
    auth.login = () => {
      attempts++;
      return login();
    };
    for (let i = 0; i < 5; i++) await expect(tokens.ensure()).rejects.toThrow(/entry for role/);
    expect(attempts).toBe(1);
    clock.advance(SECOND);
    await expect(tokens.ensure()).rejects.toThrow(/entry for role/);
    expect(attempts).toBe(2);
    auth.fail = undefined;
    clock.advance(2 * SECOND);
    expect((await tokens.ensure()).clientToken).toBe("token-1");
  });
});

describe("revokeAll", () => {
  it("revokes every live token; one already dead in Vault (403) is not counted as revoked", async () => {
    const { clock, vault, tokens } = setup();
    await tokens.login();
    clock.advance(MINUTE);
    await tokens.login();
    vault.on("POST", "auth/token/revoke-self", (req) => answer(req.token === "token-1" ? 403 : 204));
    expect(await tokens.revokeAll(clock.t + 1_000)).toEqual({ revoked: 1, alreadyGone: 1, failed: 0 });
    expect(vault.calls.map((c) => c.token).sort()).toEqual(["token-1", "token-2"]);
    expect(tokens.live).toEqual([]);
  });

  it("counts the tokens Vault could not be asked about as failed", async () => {
    const { clock, vault, tokens } = setup();
    await tokens.login();
    vault.on("POST", "auth/token/revoke-self", unreachable);
    expect(await tokens.revokeAll(clock.t + 1_000)).toEqual({ revoked: 0, alreadyGone: 0, failed: 1 });
  });
});

describe("outcomes and log lines, for /health and the operator", () => {
  it("records logins and renewals: the last success, the last failure, failures in a row; a renewal is an info line", async () => {
    const { clock, vault, auth, tokens, lines } = setup();
    auth.fail = new Error("Vault is sealed");
    await expect(tokens.login()).rejects.toThrow();
    expect(tokens.outcomes).toMatchObject({ lastSuccessAt: undefined, consecutiveFailures: 1, lastError: { at: T0, message: expect.stringContaining("Vault is sealed") } });
    auth.fail = undefined;
    await tokens.login();
    expect(tokens.outcomes).toMatchObject({ lastSuccessAt: T0, consecutiveFailures: 0 });

    clock.advance(41 * MINUTE);
    vault.on("POST", "auth/token/renew-self", unreachable);
    await tokens.refresh();
    clock.advance(SECOND);
    await tokens.refresh();
    expect(tokens.outcomes.consecutiveFailures).toBe(2);
    expect(lines.filter((l) => l.message === "token renewal failed; will retry")).toHaveLength(2);

    vault.on("POST", "auth/token/renew-self", () => answer(200, { auth: { lease_duration: TTL_S, renewable: true } }));
    // Backing off for 2 s after the second failure.
    clock.advance(2 * SECOND);
    await tokens.refresh();
    expect(tokens.outcomes).toMatchObject({ lastSuccessAt: T0 + 41 * MINUTE + 3 * SECOND, consecutiveFailures: 0 });
    expect(lines.filter((l) => l.message === "renewed the token")).toMatchObject([{ level: "INFO", token: 1, ttlSeconds: TTL_S }]);
  });
});
