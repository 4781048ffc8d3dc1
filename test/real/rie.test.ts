/**
 * The built layer under AWS's Runtime Interface Emulator, against OpenBao and PostgreSQL: the RIE
 * launches /opt/extensions/* (the layer, bind-mounted on /opt in a mount namespace of its own) and a
 * Node handler that reads /secrets/db and runs SELECT 1 with it.
 */
import { afterEach, describe, expect, it } from "vitest";
import fs from "node:fs";
import path from "node:path";
import { BaoWorld, FIXTURES, FUNCTION_NAME, IAM_SERVER_ID, LAYER_DIR, LOGIN_MODE } from "./bao-world.ts";
import { freePort } from "../integration/harness.ts";
import { Rie } from "./rie.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  const failures: unknown[] = [];
  for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => failures.push(e));
  if (failures.length) throw failures[0];
});

async function setup(extraEnv: Record<string, string> = {}) {
  const w = await BaoWorld.start();
  const optDir = Rie.optDir(LAYER_DIR, { observer: path.join(FIXTURES, "observer-extension.mjs") });
  // The observer may run as another user (Managed Instances mode): a directory anyone can write.
  const observerDir = fs.mkdtempSync(path.join(w.logDir, "observer-"));
  fs.chmodSync(w.logDir, 0o755);
  fs.chmodSync(observerDir, 0o777);
  const observerOut = path.join(observerDir, "observer.jsonl");
  cleanups.push(async () => {
    try {
      w.leakScan();
    } finally {
      await w.close();
      fs.rmSync(optDir, { recursive: true, force: true });
    }
  });
  const env = {
    AWS_ACCESS_KEY_ID: w.identity.accessKeyId,
    AWS_SECRET_ACCESS_KEY: w.identity.secretAccessKey,
    AWS_SESSION_TOKEN: w.identity.sessionToken ?? "",
    AWS_REGION: "eu-west-1",
    AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
    VAULT_ADDR: w.front.url,
    VAULT_AUTH_ROLE: "fn-role",
    VAULT_IAM_SERVER_ID: IAM_SERVER_ID,
    VAULT_AGENT_PORT: String(await freePort()),
    VAULT_LOG_LEVEL: "debug",
    VAULT_SECRET_PATH_DB: "database/creds/app",
    PG_PORT: String(w.pg.port),
    OBSERVER_OUT: observerOut,
    ...extraEnv,
  };
  const rie = await Rie.start({ optDir, taskRoot: FIXTURES, handler: "pg-probe.handler", env, logFile: path.join(w.logDir, "rie.log"), mayExit: "AWS_LAMBDA_MAX_CONCURRENCY" in extraEnv });
  cleanups.push(async () => rie.kill());
  const observed = () =>
    fs.existsSync(observerOut)
      ? fs
          .readFileSync(observerOut, "utf8")
          .split("\n")
          .filter(Boolean)
          .map((l) => JSON.parse(l))
      : [];
  return { w, rie, observed };
}

describe(`under AWS's RIE ${LOGIN_MODE}`, () => {
  it("classic mode: init on the first invoke, several invokes served, SHUTDOWN on SIGTERM revokes everything", async () => {
    const { w, rie, observed } = await setup();
    const users = new Set<string>();
    let leaseId = "";
    for (let i = 0; i < 3; i++) {
      const r = await rie.invoke({ selectOne: true });
      expect(r.status, r.text).toBe(200);
      expect(r.json.db.status, r.json.db.text).toBe(200);
      expect(r.json.select).toEqual({ one: 1, who: r.json.db.json.data.username });
      users.add(r.json.db.json.data.username);
      leaseId = r.json.db.json.lease_id;
    }
    expect(users.size).toBe(1);
    expect(w.logins.filter((l) => l.ok)).toHaveLength(1);
    const login = w.logins.find((l) => l.ok)!;
    expect(await w.leaseTtl(leaseId)).toBeGreaterThan(0);
    expect(await rie.terminate()).toBe(0);
    const events = observed().filter((o) => o.what === "event");
    expect(events.map((e) => e.body.eventType)).toEqual(["INVOKE", "INVOKE", "INVOKE", "SHUTDOWN"]);
    const shutdownLine = rie.lines.find((l) => l.includes('"message":"shut down"'));
    const shutdown = JSON.parse(shutdownLine!);
    expect(shutdown).toMatchObject({ leasesFailed: 0, tokensRevoked: 1, tokensFailed: 0 });
    // The lease and the token are revoked in parallel: when revoke-self lands first, OpenBao has
    // already taken the lease with the token, and its own revocation finds it gone. Either way, once.
    expect(shutdown.leasesRevoked + shutdown.leasesAlreadyGone).toBe(1);
    expect(await w.tokenAlive(login.accessor!)).toBe(false);
    // OpenBao revokes a revoked token's leases in the background (they look up as ttl 0 for a moment).
    await w.eventually("the lease revoked", async () => (await w.leaseTtl(leaseId)) === undefined, 30_000);
    await w.eventually("every database user dropped", async () => (await w.pg.dynamicRoles()).length === 0, 30_000);
  });

  // The RIE's Managed Instances mode launches the runtime as another user, which it cannot do on this
  // machine (Runtime.InvalidEntrypoint, "runtime process spawn failed"): invocations cannot be run here.
  // What can be seen is what the execution-modes work changed: the registration is accepted, the
  // extension logs in and reads, and the failure SHUTDOWN that follows leaves nothing alive.
  it("Managed Instances mode (AWS_LAMBDA_MAX_CONCURRENCY): the SHUTDOWN-only registration is accepted, and when the RIE stops the environment everything is revoked", async () => {
    // The observing extension registers as Managed Instances allow too (INVOKE would be refused).
    const { w, rie } = await setup({ AWS_LAMBDA_MAX_CONCURRENCY: "2", OBSERVER_EVENTS: "SHUTDOWN" });
    await w.eventually("the RIE stopped", async () => rie.exitCode !== null, 30_000);
    const starting = rie.lines.find((l) => l.includes('"message":"vault-lambda-agent starting"'));
    expect(JSON.parse(starting!.slice(starting!.indexOf("{")))).toMatchObject({ mode: "lambda-managed-instances" });
    expect(rie.lines.some((l) => l.includes("Extension.InvalidEventType"))).toBe(false);
    const login = w.logins.find((l) => l.ok);
    expect(login, "the extension logged in").toBeDefined();
    expect(w.front.records.some((r) => r.path === "database/creds/app" && r.status === 200)).toBe(true);
    await w.eventually("the token revoked", async () => !(await w.tokenAlive(login!.accessor!)), 30_000);
    await w.eventually("every database user dropped", async () => (await w.pg.dynamicRoles()).length === 0, 30_000);
  });
});

describe(`under AWS's RIE, late registration ${LOGIN_MODE}`, () => {
  // Once pinned with `it.fails` (a refused late registration orphaned the token and the lease); the
  // RIE now accepts the SHUTDOWN-only registration, and every exit path cleans up (README,
  // "Shutdown"), so the late-registration case is an ordinary one.
  it("Managed Instances mode with a secret file: the login and the read come before register, and when the RIE stops the environment the token, the lease and the file are gone", async () => {
    // A directory the extension creates itself (0700, its own), whichever user the RIE runs it as.
    const dir = path.join("/tmp", `vla-rie-${process.pid}-${Date.now()}`);
    const file = path.join(dir, "db.json");
    cleanups.push(async () => fs.rmSync(dir, { recursive: true, force: true }));
    const { w, rie } = await setup({ AWS_LAMBDA_MAX_CONCURRENCY: "2", OBSERVER_EVENTS: "SHUTDOWN", VAULT_SECRET_FILE_DB: file });
    await w.eventually("the RIE stopped", async () => rie.exitCode !== null, 30_000);
    const login = w.logins.find((l) => l.ok);
    expect(login, "the extension logged in").toBeDefined();
    expect(w.front.records.some((r) => r.path === "database/creds/app" && r.status === 200)).toBe(true);
    await w.eventually("the token revoked", async () => !(await w.tokenAlive(login!.accessor!)), 30_000);
    await w.eventually("every database user dropped", async () => (await w.pg.dynamicRoles()).length === 0, 30_000);
    // Written before register, deleted when the environment stopped.
    expect(rie.lines.some((l) => l.includes('"message":"shut down"') && l.includes('"filesDeleted":1'))).toBe(true);
    expect(fs.existsSync(file)).toBe(false);
  });
});
