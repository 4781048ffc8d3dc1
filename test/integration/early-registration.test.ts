/**
 * Init with early registration (docs/architecture.md, "Init"), the built layer under the Lambda
 * emulator: the extension registers once its listener is bound, so the function's init runs while
 * the extension logs in and reads; a request from the function's init waits for the answer. A
 * secret written to a file keeps the late registration. Order is read from the emulator's timeline
 * and the Vault test server's request log, never from durations.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { World, useWorld } from "./harness.ts";
import { VaultGate, until } from "./vault-gate.ts";

const AGENT = "vault-lambda-agent";
const READ_PATHS = ["secret/data/app/config", "database/creds/app", "aws/creds/deploy"];
const THREE_SECRETS = {
  VAULT_SECRET_PATH_CONFIG: "secret/data/app/config",
  VAULT_SECRET_PATH_DB: "database/creds/app",
  VAULT_SECRET_PATH_DEPLOY: "aws/creds/deploy",
};

let world: World;

useWorld((w) => (world = w));

function initRead(invoke: { response?: unknown }): { status: number; json?: any; error?: string } {
  return (invoke.response as { initRead: { status: number; json?: any; error?: string } }).initRead;
}

describe("early registration", () => {
  it("the function's init starts before the login; its read of a secret waits for the extension and gets it (never a 503)", async () => {
    const gate = await VaultGate.start(world.vault.url);
    try {
      // Latency on each read makes "the reads overlap" a real observation, not a race.
      for (const p of READ_PATHS) world.vault.addFault({ path: p, latencyMs: 150 });
      // The login is held until the function's init has asked the extension for the secret.
      gate.hold("auth/aws/login");
      const fn = await world.lambda({ ...THREE_SECRETS, VAULT_ADDR: gate.url, PROBE_INIT_READ: "db" });
      const started = fn.start();
      await until(() => gate.holding("auth/aws/login") === 1, "the login to reach Vault");
      await until(() => fn.logs(AGENT).some((l) => l.includes("a request waits for the init to finish")), "the function's init request");
      const registeredAt = fn.timeline.find((e) => e.source === AGENT && e.what === "register")!.at;
      const runtimeStart = fn.timeline.find((e) => e.what === "runtime-init-start")!.at;
      gate.release("auth/aws/login");
      const init = await started;
      world.vault.clearFaults();
      expect(init.ok, JSON.stringify(init.error)).toBe(true);

      const log = world.vault.requestLog;
      const login = log.find((r) => r.path === "auth/aws/login" && r.status === 200)!;
      const reads = log.filter((r) => r.method === "GET" && READ_PATHS.includes(r.path));
      expect(reads).toHaveLength(3);
      // Order: register, then the runtime's init, and only then the login reached Vault.
      expect(runtimeStart).toBeGreaterThanOrEqual(registeredAt);
      expect(login.startedAt).toBeGreaterThan(runtimeStart);
      // Still two round trips: the login, then every read at once.
      for (const r of reads) expect(r.startedAt).toBeGreaterThanOrEqual(login.endedAt!);
      expect(Math.max(...reads.map((r) => r.startedAt))).toBeLessThan(Math.min(...reads.map((r) => r.endedAt!)));
      // The extension's first `next` (end of its init) comes after its reads.
      const firstNext = init.extensions.find((e) => e.name === AGENT)!.firstNextAt!;
      for (const r of reads) expect(firstNext).toBeGreaterThan(r.endedAt!);

      const first = await fn.invoke({ initRead: true });
      expect(initRead(first).status).toBe(200);
      expect(initRead(first).json.data.username).toMatch(/^v-/);
      await fn.shutdown();
    } finally {
      await gate.close();
    }
  });

  it("an init error after early registration is reported with its type, and the token and leases it obtained are revoked; exit 1", async () => {
    const fn = await world.lambda({ VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_SECRET_PATH_MISSING: "secret/data/not/there" });
    const init = await fn.start();
    expect(init.ok).toBe(false);
    expect(init.error?.type).toBe("Extension.SecretReadFailed");
    expect(init.error?.message).toContain('VAULT_SECRET_PATH_MISSING: reading "secret/data/not/there" failed');
    const registered = fn.timeline.find((e) => e.source === AGENT && e.what === "register")!.at;
    const reported = fn.timeline.find((e) => e.source === AGENT && e.what === "init/error")!.at;
    const runtimeStart = fn.timeline.find((e) => e.what === "runtime-init-start")!.at;
    expect(runtimeStart).toBeLessThan(reported);
    expect(registered).toBeLessThan(reported);
    const ext = init.extensions.find((e) => e.name === AGENT)!;
    expect(ext.exitCode).toBe(1);
    // What this init obtained: one login token and the database lease; both revoked before exiting.
    const token = world.vault.tokens().filter((t) => t.path === "auth/aws/login").at(-1)!;
    expect(token.revokedAt, "the login token").toBeDefined();
    const leases = world.vault.leases().filter((l) => l.tokenAccessor === token.accessor);
    expect(leases.map((l) => l.path)).toEqual(["database/creds/app"]);
    expect(leases[0]!.revokedAt).toBeDefined();
    expect(leases[0]!.revokeReason).toBe("explicit");
    await fn.kill();
  });
});

describe("late registration (a secret written to a file)", () => {
  it("registers after the file exists: the function's init opens it at once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-late-"));
    const file = path.join(dir, "db.json");
    const fn = await world.lambda({ ...THREE_SECRETS, VAULT_SECRET_FILE_DB: file, PROBE_INIT_FILE: file });
    const logBefore = world.vault.requestLog.length;
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const reads = world.vault.requestLog.slice(logBefore).filter((r) => r.method === "GET" && READ_PATHS.includes(r.path));
    expect(reads).toHaveLength(3);
    const registeredAt = init.extensions.find((e) => e.name === AGENT)!.registeredAt!;
    for (const r of reads) expect(registeredAt).toBeGreaterThan(r.endedAt!);
    expect(init.runtimeInitStartedAt).toBeGreaterThanOrEqual(registeredAt);

    const first = await fn.invoke({ initRead: true, requests: [{ path: "/secrets/db" }] });
    const atInit = initRead(first);
    expect(atInit.status, atInit.error).toBe(200);
    const served = (first.response as { results: Array<{ json: any }> }).results[0]!.json;
    expect(atInit.json.data).toEqual(served.data);
    await fn.shutdown();
    expect(fs.existsSync(file)).toBe(false);
  });
});
