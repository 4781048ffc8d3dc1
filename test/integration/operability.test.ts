/**
 * What an operator sees, from the built layer under the Lambda emulator against the Vault and STS
 * test servers: `/health` through ok → degraded (Vault sealed while the value is valid) → failing
 * (the value expired) → ok again, and the log lines of a whole life at `info`, one by one. Every
 * line and every `/health` body is checked against every value the peers issued.
 */
import fs from "node:fs";
import { describe, expect, it, type TestContext } from "vitest";
import { World, results, type ProbeResult } from "./harness.ts";

const { version } = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

async function world(opts: Parameters<typeof World.start>[0], ctx: TestContext): Promise<World> {
  const w = await World.start(opts);
  ctx.onTestFinished(async () => {
    w.leakScan();
    await w.close();
  });
  return w;
}

const HEALTH = { path: "/health", token: false } as const;

/** The extension's JSON lines (the emulator keeps each process's output apart). */
function agentLines(fn: Awaited<ReturnType<World["lambda"]>>): Array<Record<string, any>> {
  return fn
    .logs("vault-lambda-agent")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as Record<string, any>);
}

function expectSecretFree(w: World, ...answers: ProbeResult[]): void {
  for (const a of answers) for (const s of w.vault.issuedSecrets()) expect(a.text).not.toContain(s);
}

describe.concurrent("operability", () => {
  it("/health: ok, degraded while Vault is sealed and the value still valid, failing once it expired, ok again", async (ctx) => {
    // A 10 s lease: 9 s of it servable (1 s grace), room enough for the sealed step on a slow machine.
    const w = await world({ databaseRole: { default_ttl: "10s", max_ttl: "1m" } }, ctx);
    const fn = await w.lambda({ VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s", VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_MAX_RETRIES: "1", VAULT_CLIENT_TIMEOUT: "1s", VAULT_LOG_LEVEL: "info" });
    expect((await fn.start()).ok).toBe(true);

    const [ok] = results(await fn.invoke({ requests: [HEALTH] }));
    expect(ok!.status).toBe(200);
    expect(ok!.json).toMatchObject({ status: "ok", reasons: [], version, flavor: "slim", mode: "on-demand", leases: 1, vault: { consecutive_failures: 0, last_error: null } });
    expect(ok!.json.token).toMatchObject({ renewable: true, consecutive_failures: 0, last_error: null });
    expect(ok!.json.token.ttl_seconds).toBeGreaterThan(3500);
    expect(ok!.json.secrets.DB).toMatchObject({ path: "database/creds/app", stale: false, consecutive_failures: 0, last_error: null });
    expect(ok!.json.secrets.DB.ttl_seconds).toBeLessThanOrEqual(9);
    expect(Date.parse(ok!.json.secrets.DB.last_refresh)).toBeLessThanOrEqual(Date.now());
    const issuedAt = Date.parse(ok!.json.secrets.DB.last_refresh);

    w.vault.seal();
    const [stale, degraded] = results(await fn.invoke({ requests: [{ path: "/secrets/db?refresh=true" }, HEALTH] }));
    expect(stale!.xCache).toBe("STALE");
    expect(degraded!.json.status).toBe("degraded");
    expect(degraded!.json.reasons).toEqual([expect.stringMatching(/^refreshing secret DB \(database\/creds\/app\) failed .*sealed.*; its value is still valid for \d+ s and is served STALE$/)]);
    expect(degraded!.json.secrets.DB).toMatchObject({ stale: true, last_error: { message: expect.stringMatching(/sealed/) } });
    expect(degraded!.json.vault.consecutive_failures).toBeGreaterThan(0);

    // Frozen past the lease's end: at the next INVOKE the re-read fails, and so does the handler's.
    await fn.idle(Math.max(0, issuedAt + 10_500 - Date.now()));
    const [gone, failing] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }, HEALTH] }));
    expect(gone!.status).toBe(502);
    expect(failing!.status).toBe(200);
    expect(failing!.json.status).toBe("failing");
    expect(failing!.json.reasons).toEqual([expect.stringMatching(/^secret DB \(database\/creds\/app\) has expired and reading it again failed: .*sealed/)]);
    expect(failing!.json.secrets.DB.ttl_seconds).toBe(0);

    w.vault.unseal();
    const [back, healthy] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }, HEALTH] }));
    expect(back!.status).toBe(200);
    expect(healthy!.json).toMatchObject({ status: "ok", reasons: [], vault: { consecutive_failures: 0 } });
    // The outage stays on record.
    expect(healthy!.json.secrets.DB).toMatchObject({ stale: false, consecutive_failures: 0, last_error: { message: expect.stringMatching(/sealed/) } });
    expectSecretFree(w, ok!, degraded!, failing!, healthy!);
    await fn.shutdown();
  });
});
