/**
 * A long-lived environment (Managed Instances lives for days) re-reads a short dynamic secret many
 * times: each read brings a new username and password, registered with the redactor. What the
 * redactor knows, and the leases held for revocation, must stay bounded by what could still appear
 * (values of leases alive, or expired only a little while ago), not grow with every refresh; the
 * cost of scrubbing a log line with it is measured against a baseline in the same run.
 */
import { describe, expect, it } from "vitest";
import { performance } from "node:perf_hooks";
import { SecretCache } from "../../src/cache/secret-cache.ts";
import { TokenManager } from "../../src/vault/token.ts";
import { answer, FakeAuth, FakeClock, FakeVault, MINUTE, SECOND, testLogger } from "../vault/fakes.ts";

const LEASE_S = 300; // a 5-minute database credential, not renewable: re-read at its refresh point

function environment() {
  const clock = new FakeClock();
  const vault = new FakeVault();
  // A token that lives for the whole run (renewed at every INVOKE).
  const auth = new FakeAuth(1_000 * 3_600);
  const { log, redactor } = testLogger();
  const tokens = new TokenManager({ client: vault, auth, graceMs: 10 * SECOND, log, clock: clock.now, random: () => 0 });
  const cache = new SecretCache({ client: vault, tokens, log, redactor, graceMs: 10 * SECOND, waitMs: 1_000, clock: clock.now, random: () => 0 });
  let users = 0;
  vault.on("GET", "database/creds/app", () => {
    users++;
    return answer(200, { lease_id: `database/creds/app/l-${users}`, lease_duration: LEASE_S, renewable: false, data: { username: `v-app-user-${users}`, password: `pw-${users}-${"x".repeat(20)}` } });
  });
  cache.define({ key: "db", label: "DB", path: "database/creds/app", kind: "declared", staticTtlMs: 0 });
  /** `n` refresh cycles, one every 4 minutes (past each lease's refresh point at ~3.3 min). */
  const cycles = async (n: number) => {
    for (let i = 0; i < n; i++) {
      clock.advance(4 * MINUTE);
      await cache.freshen(clock.t + 1_000);
    }
  };
  return { clock, cache, redactor, log, cycles, users: () => users };
}

function scrubCost(redactor: ReturnType<typeof testLogger>["redactor"]): number {
  const line = { message: "renewed lease", secret: "DB", leaseId: "database/creds/app/l-1", path: "database/creds/app", error: "Vault answered 500: internal error while talking to the database" };
  const runs = 300;
  for (let i = 0; i < 50; i++) redactor.scrubJson({ ...line, i }); // warm-up: the forms are built on first use
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) redactor.scrubJson({ ...line, i });
  return (performance.now() - t0) / runs;
}

describe("the redactor and the held leases over many refreshes of a dynamic secret", () => {
  it("stay bounded: values of leases expired long ago are forgotten, those still alive never are", async () => {
    const env = environment();
    await env.cache.get("db");
    await env.cycles(10);
    const baselineSize = env.redactor.size;
    const baselineLeases = env.cache.heldLeaseCount;
    const baselineCost = scrubCost(env.redactor);

    await env.cycles(2_000);
    expect(env.users()).toBeGreaterThan(2_000);
    const size = env.redactor.size;
    const cost = scrubCost(env.redactor);
    // Reported, not asserted as a time: the ratio of scrub costs after 2,010 vs 10 refreshes.
    console.log(`redactor: ${baselineSize} values after 10 refreshes, ${size} after 2010; scrub cost ratio ${(cost / baselineCost).toFixed(2)}`);
    expect(size).toBeLessThanOrEqual(baselineSize + 2);
    expect(env.cache.heldLeaseCount).toBeLessThanOrEqual(baselineLeases + 1);

    // Every value that could still appear is known: the current lease's, and the replaced ones
    // still alive in Vault (a pooled connection may use them).
    const current = env.users();
    for (const n of [current, current - 1]) {
      expect(env.redactor.scrub(`user v-app-user-${n} pw-${n}-${"x".repeat(20)}`)).toBe("user [redacted] [redacted]");
    }
    // One that expired long ago is not.
    expect(env.redactor.scrub("v-app-user-1")).toBe("v-app-user-1");
  });

  it("a value registered for good (an environment credential) stays, even when a lease held the same value", async () => {
    const env = environment();
    env.redactor.add("v-app-user-1");
    await env.cache.get("db");
    await env.cycles(20);
    expect(env.redactor.scrub("v-app-user-1")).toBe("[redacted]");
  });
});

describe("the redactor over many logins (a token's max TTL reached again and again)", () => {
  it("forgets the values of tokens expired long ago, never those of a token that may still be alive", async () => {
    const clock = new FakeClock();
    const vault = new FakeVault();
    const { log, redactor } = testLogger();
    // Logins as the Authenticator makes them: the token and its accessor held by the redactor.
    let logins = 0;
    const auth = {
      login: async () => {
        logins++;
        const grant = { clientToken: `hvs.token-value-${logins}-xxxxxxxx`, accessor: `accessor-value-${logins}-xxxx`, policies: ["app"], leaseDurationS: 600, renewable: false };
        return { ...grant, redaction: redactor.hold([grant.clientToken, grant.accessor]) };
      },
    };
    const tokens = new TokenManager({ client: vault, auth, graceMs: 10 * SECOND, log, clock: clock.now, random: () => 0 });
    await tokens.login();
    for (let i = 0; i < 500; i++) {
      clock.advance(7 * MINUTE); // past the 10-minute token's refresh point: not renewable, a new login
      await tokens.refresh(clock.t + 1_000);
    }
    expect(logins).toBeGreaterThan(500);
    expect(redactor.size).toBeLessThanOrEqual(2 * 4);
    expect(redactor.scrub(`hvs.token-value-${logins}-xxxxxxxx`)).toBe("[redacted]");
    expect(redactor.scrub(`hvs.token-value-${logins - 1}-xxxxxxxx`)).toBe("[redacted]");
    expect(redactor.scrub("hvs.token-value-1-xxxxxxxx")).toBe("hvs.token-value-1-xxxxxxxx");
  });
});
