/**
 * `npm start`: the whole story on a laptop, in about fifteen seconds. Starts the sandbox (STS and
 * Vault test servers), runs the example function with the built layer under the Lambda emulator
 * (cold start, invocations, a freeze longer than the database lease, a renewal, shutdown with
 * revocations) and prints what happened: phase, milliseconds, the Vault calls, the lease, and what
 * the handler saw, with secret values masked. Exits 0 by itself, non-zero if anything is off.
 */
import os from "node:os";
import path from "node:path";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { startSandbox, loadSeed } from "./sandbox.ts";
import { LambdaEmulator } from "../test/peers/lambda/emulator.ts";
import { TimelinePrinter } from "./dev-timeline.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
// A renewal happens between the refresh point (2/3 of the lease, less up to 5 % jitter) and the grace
// period before expiry (1 s here): with 6 s that window is 3.8–5 s, wide enough to aim a freeze into
// on a loaded machine (a 4 s lease left 0.33 s, and a slow run re-read instead of renewing).
const DB_LEASE_SECONDS = 6;

const seed = loadSeed(path.join(root, "sandbox/seed.json"));
// Short lifetimes, so that renewals and expiry happen while you watch.
seed.vault.database = { roles: { example: { default_ttl: `${DB_LEASE_SECONDS}s`, max_ttl: "1m" } } };

const sandbox = await startSandbox(seed);
const identity = sandbox.identities[0]!;
const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-demo-"));
const fn = new LambdaEmulator({
  layerDir: path.join(root, "layer"),
  functionDir: path.join(root, "examples/orders-function"),
  handler: "index.handler",
  functionName: "example-fn",
  credentials: { accessKeyId: identity.accessKeyId, secretAccessKey: identity.secretAccessKey, sessionToken: identity.sessionToken },
  env: {
    VAULT_ADDR: sandbox.vault.url,
    VAULT_AUTH_ROLE: "example-fn-role",
    VAULT_SECRET_PATH_DB: "database/creds/example",
    VAULT_SECRET_PATH_CONFIG: "secret/data/example/config",
    VAULT_TOKEN_EXPIRY_GRACE_PERIOD: "1s",
    VAULT_AGENT_PORT: String(18200 + Math.floor(Math.random() * 500)),
  },
  logDir,
});

let failed = false;
const timeline = new TimelinePrinter((line) => console.log(line), () => sandbox.vault.requestLog.map((r) => r.path));
const row = (phase: string, ms: number, saw: string): void => timeline.row(phase, ms, saw);

function mask(s: unknown): string {
  const v = String(s ?? "");
  return v.length <= 8 ? "••••" : `${v.slice(0, 6)}…${v.slice(-2)}`;
}

function expect(ok: boolean, what: string): void {
  if (!ok) {
    failed = true;
    console.log(`  ✗ ${what}`);
  }
}

console.log(`vault-lambda-agent demo — Vault test server ${sandbox.vault.url}, STS test server ${sandbox.sts.url}\n`);
try {
  timeline.skipSoFar(); // the seeding is not the extension's doing
  const init = await fn.start();
  if (!init.ok) throw new Error(`init failed: ${init.error?.type}: ${init.error?.message}`);
  row("cold start (login + 2 reads, then register)", init.durationMs, "—");

  const seen: Array<{ dbUser: string; dbLeaseSecondsLeft: number; dbExpiresAt: string }> = [];
  async function invoke(phase: string): Promise<void> {
    const r = await fn.invoke({});
    if (!r.ok) throw new Error(`${phase}: ${r.error?.errorType}: ${r.error?.errorMessage}`);
    const out = r.response as (typeof seen)[number] & { configKeys: string[] };
    seen.push(out);
    row(phase, r.durationMs + r.extensionOverheadMs, `db user ${mask(out.dbUser)}, ${out.dbLeaseSecondsLeft}s left; config keys ${out.configKeys.join(",")}`);
  }

  await invoke("invoke 1");
  await invoke("invoke 2 (cached)");
  expect(seen[1]!.dbUser === seen[0]!.dbUser, "invoke 2 should see the cached credentials");

  await fn.idle(DB_LEASE_SECONDS * 1000 + 1_000);
  row(`frozen ${DB_LEASE_SECONDS + 1}s (SIGSTOP; lease expires)`, DB_LEASE_SECONDS * 1000 + 1_000, "—");
  await invoke("invoke 3 (after the freeze)");
  expect(seen[2]!.dbUser !== seen[1]!.dbUser, "after a freeze longer than the lease, new credentials");

  await fn.idle(DB_LEASE_SECONDS * 720);
  row(`frozen ${(DB_LEASE_SECONDS * 0.72).toFixed(1)}s (past the refresh point)`, DB_LEASE_SECONDS * 720, "—");
  await invoke("invoke 4 (lease renewed)");
  await invoke("invoke 5");
  expect(seen[4]!.dbUser === seen[2]!.dbUser, "a renewal keeps the same credentials");
  expect(new Date(seen[4]!.dbExpiresAt) > new Date(seen[2]!.dbExpiresAt), "a renewal moves the expiry later");

  const shutdown = await fn.shutdown();
  const revoked = sandbox.vault.leases().filter((l) => l.revokeReason === "explicit").length;
  const tokensRevoked = sandbox.vault.tokens().filter((t) => t.revokedAt !== undefined).length;
  row("shutdown (revoke in parallel)", shutdown.durationMs, `— exit ${shutdown.exitCodes["vault-lambda-agent"]}; revoked: ${revoked} lease(s), ${tokensRevoked} token(s)`);
  expect(shutdown.exitCodes["vault-lambda-agent"] === 0, "the extension exits 0");
  expect(tokensRevoked >= 1, "the token is revoked at shutdown");

  const live = sandbox.vault.leases().filter((l) => !l.revokedAt && l.expiresAt > Date.now());
  expect(live.length === 0, `no lease left alive in Vault (found ${live.length})`);
  console.log(`\n${failed ? "✗ something did not go as expected" : "✓ every lease and token the extension held is revoked"}; extension logs: ${logDir}`);
} catch (err) {
  failed = true;
  console.error(`demo failed: ${err instanceof Error ? err.message : String(err)}`);
  console.error(fn.logs().slice(-20).join("\n"));
} finally {
  await fn.kill();
  await sandbox.close();
}
process.exit(failed ? 1 : 0);
