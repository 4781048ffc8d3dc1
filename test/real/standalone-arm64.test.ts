/**
 * The arm64 standalone layer, on this x86_64 host: its Node.js, taken from the zip as Lambda extracts
 * it, run under qemu-user with Debian's arm64 C/C++ libraries (`qemu-aarch64 -L /usr/aarch64-linux-gnu`)
 * on the bundle's own self-check (`--version`), and as the extension outside Lambda. Needs
 * scripts/real-peers/install-qemu.sh (run by `npm run test:real`); without it the tests fail, saying so.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NODE_VERSION } from "../../scripts/standalone-node.mjs";
import { EXTENSION_NAME, ROOT, extractZip, requireBuilt, run } from "../packaging/helpers.ts";

const ZIP = path.join(ROOT, "dist", `${EXTENSION_NAME}-standalone-arm64.zip`);
const SYSROOT = "/usr/aarch64-linux-gnu";

function findQemu(): string | undefined {
  try {
    const qemu = execFileSync("sh", ["-c", "command -v qemu-aarch64"], { encoding: "utf8" }).trim();
    return qemu && fs.existsSync(path.join(SYSROOT, "lib", "ld-linux-aarch64.so.1")) && fs.existsSync(path.join(SYSROOT, "lib", "libstdc++.so.6")) ? qemu : undefined;
  } catch {
    return undefined;
  }
}

const qemu = findQemu();

function requireQemu(): string {
  if (!qemu) throw new Error(`qemu-aarch64 or the arm64 libraries in ${SYSROOT} are not installed: run scripts/real-peers/install-qemu.sh (npm run test:real does)`);
  return qemu;
}

let opt: string;

beforeAll(async () => {
  requireQemu();
  requireBuilt(ZIP);
  opt = fs.mkdtempSync(path.join(os.tmpdir(), "vla-opt-arm64-"));
  await extractZip(ZIP, opt);
});

afterAll(() => {
  if (opt) fs.rmSync(opt, { recursive: true, force: true });
});

/** The layer's arm64 node under qemu, with nothing of the host's environment but PATH. */
function underQemu(args: string[]) {
  const node = path.join(opt, EXTENSION_NAME, "bin", "node");
  return run(requireQemu(), ["-L", SYSROOT, node, ...args], { env: { PATH: "/usr/bin:/bin" }, cwd: "/", timeoutMs: 60_000 });
}

describe("the arm64 standalone layer under qemu-user", () => {
  it(`--version: the bundle starts on the layer's own Node.js ${NODE_VERSION} for arm64`, async () => {
    const r = await underQemu([path.join(opt, EXTENSION_NAME, "index.mjs"), "--version"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(JSON.parse(r.stdout)).toEqual({ name: EXTENSION_NAME, version: pkg.version, flavor: "standalone", node: `v${NODE_VERSION}`, arch: "arm64" });
  });

  it(`as the extension outside Lambda: it parses its configuration and says what it needs`, async () => {
    const r = await underQemu([path.join(opt, EXTENSION_NAME, "index.mjs")]);
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toContain("AWS_LAMBDA_RUNTIME_API is not set");
  });
});
