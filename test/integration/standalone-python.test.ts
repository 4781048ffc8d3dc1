/**
 * The standalone layer on a Python function: the x86_64 zip extracted as Lambda extracts /opt, the
 * emulator's python runtime (no node anywhere on PATH), a handler that reads /secrets/db with urllib.
 * Cold start, a freeze past the lease, new credentials, shutdown with revocation, and the leak scan.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extractZip, requireBuilt } from "../packaging/helpers.ts";
import { FIXTURES, ROOT, World } from "./harness.ts";

const ZIP = path.join(ROOT, "dist", "vault-lambda-agent-standalone-x86_64.zip");
const PYTHON_FUNCTION = path.join(FIXTURES, "standalone-python");

interface SecretAnswer {
  status: number;
  json?: { data: { username: string; password: string }; lease_id: string; expires_at: string };
  text?: string;
}
interface PythonResult {
  atInit: SecretAnswer;
  db: SecretAnswer;
  node: string | null;
}

let opt: string;
let world: World;

beforeAll(async () => {
  requireBuilt(ZIP);
  opt = fs.mkdtempSync(path.join(os.tmpdir(), "vla-opt-python-"));
  await extractZip(ZIP, opt);
  world = await World.start({ databaseRole: { default_ttl: "3s", max_ttl: "1m" } });
});

afterAll(async () => {
  world?.leakScan();
  await world?.close();
  fs.rmSync(opt, { recursive: true, force: true });
});

describe("the standalone layer beside a Python handler", () => {
  it("cold start, a freeze past the lease, new credentials, and revocation at shutdown, with no node on PATH", async () => {
    const fn = await world.lambda(
      { VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s" },
      { layerDir: opt, functionDir: PYTHON_FUNCTION, handler: "app.handler", runtime: "python" },
    );
    const init = await fn.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);

    // The extension runs on the layer's own Node.js: there is no other on this function's PATH.
    const ext = init.extensions.find((e) => e.name === "vault-lambda-agent")!;
    expect(ext.registeredAt).toBeDefined();
    expect(fs.realpathSync(`/proc/${ext.pid}/exe`)).toBe(fs.realpathSync(path.join(opt, "vault-lambda-agent", "bin", "node")));

    const first = await fn.invoke({});
    expect(first.ok, JSON.stringify(first.error)).toBe(true);
    const r1 = first.response as PythonResult;
    expect(r1.node).toBeNull();
    // The function's init code read the secret, and so did the invocation: the same lease.
    expect(r1.atInit.status, r1.atInit.text).toBe(200);
    expect(r1.db.status, r1.db.text).toBe(200);
    expect(r1.db.json!.lease_id).toBe(r1.atInit.json!.lease_id);
    expect(r1.db.json!.data.username).toBeTruthy();

    // Frozen longer than the 3 s lease: the next invocation gets new, live credentials.
    await fn.idle(3_500);
    const second = await fn.invoke({});
    expect(second.ok, JSON.stringify(second.error)).toBe(true);
    const r2 = second.response as PythonResult;
    expect(r2.db.status, r2.db.text).toBe(200);
    expect(r2.db.json!.data.username).not.toBe(r1.db.json!.data.username);
    const live = world.vault.leases().find((l) => l.leaseId === r2.db.json!.lease_id)!;
    expect(live.expiresAt).toBeGreaterThan(Date.now());
    expect(Date.parse(r2.db.json!.expires_at)).toBeGreaterThan(Date.now());

    // Shutdown: the extension revokes its token and its leases, and exits 0 by itself.
    const accessor = world.vault.tokens().filter((t) => t.path === "auth/aws/login" && !t.revokedAt).at(-1)!.accessor;
    const sd = await fn.shutdown();
    expect(sd.exitCodes["vault-lambda-agent"]).toBe(0);
    expect(sd.killed).toEqual([]);
    expect(world.vault.tokens().find((t) => t.accessor === accessor)!.revokedAt).toBeDefined();
    const current = world.vault.leases().find((l) => l.leaseId === r2.db.json!.lease_id)!;
    expect(current.revokedAt).toBeDefined();
    expect(world.vault.leases().filter((l) => l.tokenAccessor === accessor && !l.revokedAt && l.expiresAt > Date.now())).toEqual([]);
  });
});
