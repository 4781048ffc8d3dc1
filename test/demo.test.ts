/**
 * `npm start` must keep working: run the demo as a user would (after the build `npm test` does) and
 * check it tells the story and exits 0 on its own.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

it("runs the one-command demo: cold start, freeze past the lease, renewal, revocation, exit 0", async () => {
  const { code, stdout } = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
    execFile(process.execPath, ["--import", "tsx", path.join(root, "scripts/demo.ts")], { cwd: root, timeout: 60_000 }, (err, stdout) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
  expect(stdout).toContain("cold start");
  expect(stdout).toMatch(/invoke 3 \(after the freeze\).*\n.*handler saw: db user/);
  expect(stdout).toContain("sys/leases/renew");
  expect(stdout).toContain("auth/token/revoke-self");
  expect(stdout).toContain("✓ every lease and token the extension held is revoked");
  expect(code).toBe(0);
}, 70_000);
