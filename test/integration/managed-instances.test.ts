/**
 * Lambda Managed Instances (README, "Execution modes"): no INVOKE ever reaches the extension and
 * nothing freezes, so the extension's own timer keeps the token and the leases alive while 20
 * callers read at once; SHUTDOWN revokes everything within Lambda's 2 s.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { World, freePort } from "./harness.ts";

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
  it("keeps the token and leases fresh on its own timer for 20 concurrent callers, one read per refresh, and revokes at SHUTDOWN within 2 s", async () => {
    const port = await freePort();
    const fn = await world.lambda(
      { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s", VAULT_AGENT_PORT: String(port) },
      { mode: "lambda-managed-instances" },
    );
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    expect(init.extensions.find((e) => e.name === "vault-lambda-agent")!.events).toEqual(["SHUTDOWN"]);
    const accessor = world.vault.tokens().filter((t) => t.path === "auth/aws/login" && !t.revokedAt).at(-1)!.accessor;

    // 20 runtime workers reading as they please; no INVOKE is ever sent.
    const answers: Answer[] = [];
    const end = Date.now() + RUN_MS;
    const caller = async (): Promise<void> => {
      while (Date.now() < end) {
        const askedAt = Date.now();
        const res = await fetch(`http://127.0.0.1:${port}/secrets/db`, { headers: { "x-vault-token": world.sessionToken } });
        const body = (await res.json()) as { lease_id?: string; expires_at?: string };
        answers.push({ askedAt, receivedAt: Date.now(), status: res.status, leaseId: body.lease_id, expiresAt: body.expires_at ? Date.parse(body.expires_at) : undefined });
        await new Promise((r) => setTimeout(r, 20 + Math.random() * 80));
      }
    };
    await Promise.all(Array.from({ length: CALLERS }, caller));
    expect(fn.timeline.filter((t) => t.what === "invoke")).toEqual([]);
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
