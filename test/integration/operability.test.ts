/**
 * What an operator sees, from the built layer under the Lambda emulator against the Vault and STS
 * test servers: `/health` through ok → degraded (Vault sealed while the value is valid) → failing
 * (the value expired) → ok again, and the log lines of a whole life at `info`, one by one. Every
 * line and every `/health` body is checked against every value the peers issued.
 */
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { World, results, FUNCTION_NAME, type ProbeResult, worldForTest } from "./harness.ts";
import { expectValidEmf } from "../metrics/emf-schema.ts";

const { version } = JSON.parse(fs.readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };

const world = worldForTest;

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

  it("the log lines of a whole life at info (Lambda's AWS_LAMBDA_LOG_LEVEL): init, renewal, re-read, outage, recovery, shutdown", async (ctx) => {
    const w = await world({ databaseRole: { default_ttl: "9s", max_ttl: "1m" } }, ctx);
    const fn = await w.lambda({
      VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s",
      VAULT_SECRET_PATH_DB: "database/creds/app",
      VAULT_SECRET_PATH_CONFIG: "secret/data/app/config",
      VAULT_MAX_RETRIES: "0",
      VAULT_CLIENT_TIMEOUT: "1s",
      // Unset: Lambda's own level applies.
      VAULT_LOG_LEVEL: "",
      AWS_LAMBDA_LOG_LEVEL: "INFO",
    });
    await fetch(`${w.vault.url}/v1/secret/data/app/config`, { method: "POST", headers: { "x-vault-token": w.vault.rootToken }, body: JSON.stringify({ data: { api_key: "kv-config-key-4b1e8d" } }) });
    let seen = 0;
    /** The lines written since the last call: [level, message, secret], sorted (concurrent work logs in any order). */
    const next = () => {
      const all = agentLines(fn);
      const fresh = all.slice(seen);
      seen = all.length;
      return fresh;
    };
    const summary = (lines: Array<Record<string, any>>) => lines.map((l) => [l.level, l.message, l.secret ?? null]).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

    // Init.
    expect((await fn.start()).ok).toBe(true);
    const init = next();
    expect(init[0]).toMatchObject({ level: "INFO", message: "vault-lambda-agent starting", version, flavor: "slim", mode: "on-demand" });
    expect(summary(init)).toEqual([
      ["INFO", "logged in to Vault", null],
      ["INFO", "read secret", "CONFIG"],
      ["INFO", "read secret", "DB"],
      ["INFO", "ready", null],
      ["INFO", "vault-lambda-agent starting", null],
    ]);
    const [first] = results(await fn.invoke({ requests: [{ path: "/secrets/db" }] }));
    expect(next()).toEqual([]);

    // Frozen past the DB lease's refresh point: renewed at the INVOKE; CONFIG read again on request.
    await fn.idle(Math.max(0, Date.parse(first!.json.expires_at) - 9_000 + 6_250 - Date.now()));
    const renewal = await fn.invoke({ requests: [{ path: "/secrets/config?refresh=true" }, { path: "/secrets/nope" }, { path: "/secrets/nope" }] });
    const [reread, missing] = results(renewal);
    expect([reread!.status, missing!.status]).toEqual([200, 404]);
    const renewLines = next();
    expect(summary(renewLines)).toEqual([
      ["INFO", "read secret", "CONFIG"],
      ["INFO", "renewed lease", "DB"],
      ["WARN", "answered the handler with an error", null],
    ]);
    for (const l of renewLines) expect(l.requestId).toBe(renewal.requestId);
    expect(renewLines.find((l) => l.level === "WARN")).toMatchObject({ status: 404, method: "GET", path: "/secrets/nope", reason: expect.stringMatching(/no secret named "nope"/) });

    // Outage: each failed refresh is a warning with Vault's reason; STALE once.
    w.vault.seal();
    const outage = await fn.invoke({ requests: [{ path: "/secrets/db?refresh=true" }, { path: "/secrets/db?refresh=true" }] });
    expect(results(outage).map((r) => r.xCache)).toEqual(["STALE", "STALE"]);
    const outageLines = next();
    expect(summary(outageLines)).toEqual([
      ["WARN", "refreshing a secret failed", "DB"],
      ["WARN", "refreshing a secret failed", "DB"],
      ["WARN", "serving a still-valid value as STALE while its refresh fails", "DB"],
    ]);
    expect(outageLines.filter((l) => l.message === "refreshing a secret failed").map((l) => [l.failures, /sealed/.test(l.error)])).toEqual([
      [1, true],
      [2, true],
    ]);
    for (const l of outageLines) expect(l.requestId).toBe(outage.requestId);

    // Recovery.
    w.vault.unseal();
    const recovery = await fn.invoke({ requests: [{ path: "/secrets/db?refresh=true" }] });
    expect(results(recovery)[0]!.xCache).toBe("MISS");
    const recoveryLines = next();
    // A forced refresh is a new read.
    expect(summary(recoveryLines)).toEqual([
      ["INFO", "read secret", "DB"],
      ["INFO", "refreshed again after an outage; no longer serving STALE", "DB"],
    ]);
    for (const l of recoveryLines) expect(l).toMatchObject({ level: "INFO", requestId: recovery.requestId });

    // Shutdown: every revocation, and counts of what Vault confirmed.
    await fn.shutdown();
    const end = next();
    const revokedInVault = w.vault.leases().filter((l) => l.revokeReason === "explicit").length;
    expect(summary(end)).toEqual([
      ...Array.from({ length: revokedInVault }, () => ["INFO", "revoked lease", null]),
      ["INFO", "revoked the token", null],
      ["INFO", "shut down", null],
    ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))));
    expect(end.find((l) => l.message === "shut down")).toMatchObject({ leasesRevoked: revokedInVault, leasesFailed: 0, tokensRevoked: 1, tokensFailed: 0 });
    for (const l of end) expect(l.requestId).toBeUndefined();

    // Every line: Lambda's JSON log format.
    const raw = fn.logs("vault-lambda-agent");
    for (const line of raw) {
      const record = JSON.parse(line) as Record<string, unknown>;
      expect(["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]).toContain(record.level);
      expect(new Date(record.timestamp as string).toISOString()).toBe(record.timestamp);
      expect(typeof record.message).toBe("string");
    }
  });

  it("VAULT_METRICS=emf: valid EMF lines on stdout, one at init, at most one per invocation, one at shutdown; secret-free", async (ctx) => {
    const w = await world({}, ctx);
    const fn = await w.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_METRICS: "emf", VAULT_LOG_LEVEL: "info" });
    expect((await fn.start()).ok).toBe(true);
    const invocations = 3;
    for (let i = 0; i < invocations; i++) await fn.invoke({ requests: [{ path: "/secrets/db" }, { path: "/secrets/db" }] });
    await fn.shutdown();
    const raw = fn.logs("vault-lambda-agent").filter((l) => l.includes('"_aws"'));
    const docs = raw.map(expectValidEmf);
    expect(docs.length).toBeGreaterThanOrEqual(2);
    expect(docs.length).toBeLessThanOrEqual(invocations + 2);
    for (const d of docs) expect(d).toMatchObject({ FunctionName: FUNCTION_NAME, _aws: { CloudWatchMetrics: [{ Namespace: "VaultLambdaAgent", Dimensions: [["FunctionName"]] }] } });
    const [init] = docs;
    expect(init).toMatchObject({ Logins: 1, Reads: 1, RefreshFailures: 0, CacheHits: 0 });
    expect(init!.InitDuration).toBeGreaterThan(0);
    expect(init!.VaultRequests).toBeGreaterThanOrEqual(2);
    expect(docs.slice(1).every((d) => d.InitDuration === undefined)).toBe(true);
    const sum = (name: string) => docs.reduce((n, d) => n + (d[name] ?? 0), 0);
    // Every handler request was a hit on the value read at init; the revocations went to Vault.
    expect(sum("CacheHits")).toBe(invocations * 2);
    expect(sum("CacheMisses")).toBe(0);
    expect(sum("Logins")).toBe(1);
    expect(docs.at(-1)!.VaultRequests).toBeGreaterThanOrEqual(2);
    for (const line of raw) for (const s of w.vault.issuedSecrets()) expect(line).not.toContain(s);
  });
});
