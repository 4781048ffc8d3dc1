/**
 * Lambda Managed Instances (README, "Execution modes"): no INVOKE ever reaches the extension and
 * nothing freezes, so the extension's own timer keeps the token and the leases alive while 20
 * invocations run at once on 20 runtime workers; SHUTDOWN revokes everything within Lambda's 2 s.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, results } from "./harness.ts";

const RUN_MS = 15_000;
const CALLERS = 20;

let world: World;

beforeAll(async () => {
  // Leases of a few seconds, so that a 15 s run holds several of each: the token renews every
  // ~4 s; a database lease renews every ~3 s until its 10 s max TTL, then is read again.
  world = await World.start({ role: { token_ttl: "6s", token_max_ttl: "1h" }, databaseRole: { default_ttl: "4s", max_ttl: "10s" } });
});

afterAll(async () => {
  world.leakScan();
  await world.close();
});

interface Answer {
  /** Asked at (the extension answered at or after it, so it must have been valid then). */
  askedAt: number;
  receivedAt: number;
  status: number;
  leaseId?: string;
  expiresAt?: number;
}

describe("lambda-managed-instances", () => {
  it("keeps the token and leases fresh on its own timer while 20 invocations read at once, one read per refresh, and revokes at SHUTDOWN within 2 s", async () => {
    const fn = await world.lambda(
      { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" },
      { mode: "lambda-managed-instances", maxConcurrency: CALLERS, timeoutMs: 30_000 },
    );
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    expect(init.extensions.find((e) => e.name === "vault-lambda-agent")!.events).toEqual(["SHUTDOWN"]);
    const accessor = world.vault.tokens().filter((t) => t.path === "auth/aws/login" && !t.revokedAt).at(-1)!.accessor;

    // 20 invocations at once, on 20 runtime workers, each reading the secret a few times; the
    // extension gets no INVOKE for any of them.
    const answers: Answer[] = [];
    const end = Date.now() + RUN_MS;
    const caller = async (): Promise<void> => {
      while (Date.now() < end) {
        const invoked = await fn.invoke({ requests: Array.from({ length: 3 }, () => ({ path: "/secrets/db" })) });
        expect(invoked.ok, JSON.stringify(invoked.error)).toBe(true);
        for (const r of results(invoked)) {
          answers.push({ askedAt: r.at!, receivedAt: r.at! + r.ms!, status: r.status, leaseId: r.json?.lease_id, expiresAt: r.json?.expires_at ? Date.parse(r.json.expires_at) : undefined });
        }
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
      }
    };
    await Promise.all(Array.from({ length: CALLERS }, caller));
    const invokes = fn.timeline.filter((t) => t.what === "invoke").length;
    expect(invokes).toBeGreaterThan(CALLERS);
    // None of them reached the extension.
    expect(fn.timeline.filter((t) => t.source === "vault-lambda-agent" && t.what === "event")).toEqual([]);
    expect(fn.timeline.some((t) => t.what === "freeze")).toBe(false);

    // Every answer valid: 200, a lease Vault issued under the extension's token and had not revoked at that moment.
    const leases = world.vault.leases().filter((l) => l.path === "database/creds/app" && l.tokenAccessor === accessor);
    const byId = new Map(leases.map((l) => [l.leaseId, l]));
    expect(answers.length).toBeGreaterThan(CALLERS * 10);
    for (const a of answers) {
      expect(a.status).toBe(200);
      const lease = byId.get(a.leaseId ?? "");
      expect(lease, a.leaseId).toBeDefined();
      expect(lease!.issuedAt).toBeLessThanOrEqual(a.receivedAt);
      if (lease!.revokedAt !== undefined) expect(lease!.revokedAt).toBeGreaterThan(a.askedAt);
      expect(a.expiresAt).toBeGreaterThan(a.askedAt);
    }

    // Renewals happened on their own, of the token and of the leases; reads only when the max TTL
    // forced them: one read per refresh (never two leases issued for the same refresh).
    const token = world.vault.tokens().find((t) => t.accessor === accessor)!;
    expect(token.renewals).toBeGreaterThanOrEqual(2);
    expect(leases.reduce((n, l) => n + l.renewals, 0)).toBeGreaterThanOrEqual(2);
    expect(leases.length).toBeGreaterThanOrEqual(2);
    expect(leases.length).toBeLessThanOrEqual(Math.ceil(RUN_MS / 5_000) + 1);
    const issued = leases.map((l) => l.issuedAt).sort((a, b) => a - b);
    for (let i = 1; i < issued.length; i++) expect(issued[i]! - issued[i - 1]!).toBeGreaterThan(1_000);
    // Every answer served one of those leases: the callers shared each read.
    expect(new Set(answers.map((a) => a.leaseId)).size).toBeLessThanOrEqual(leases.length);

    const result = await fn.shutdown();
    expect(result.exitCodes["vault-lambda-agent"]).toBe(0);
    expect(result.killed).toEqual([]);
    expect(result.extensionsMs).toBeLessThan(2_000);
    expect(world.vault.tokens().find((t) => t.accessor === accessor)!.revokedAt).toBeDefined();
    for (const l of world.vault.leases().filter((l) => l.tokenAccessor === accessor)) expect(l.revokedAt ?? 0, l.leaseId).toBeGreaterThan(0);
  }, 60_000);
});
