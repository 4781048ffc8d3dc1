/**
 * The standalone layer for the host's architecture, extracted from its zip into a temporary /opt as
 * Lambda extracts it, for the cold-start benchmark: its launcher and its own Node.js.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { extractZip } from "../test/packaging/helpers.ts";
import { ROOT } from "./world.ts";

export interface StandaloneLayer {
  launcher: string;
  node: string;
  nodeVersion: string;
  cleanup(): void;
}

export async function extractStandaloneLayer(): Promise<StandaloneLayer> {
  const arch = process.arch === "arm64" ? "arm64" : "x86_64";
  const zip = path.join(ROOT, "dist", `vault-lambda-agent-standalone-${arch}.zip`);
  if (!fs.existsSync(zip)) throw new Error(`${path.relative(ROOT, zip)} is not built (npm run build)`);
  const opt = fs.mkdtempSync(path.join(os.tmpdir(), "vla-bench-standalone-"));
  await extractZip(zip, opt);
  const { NODE_VERSION } = await import("../scripts/standalone-node.mjs");
  return {
    launcher: path.join(opt, "extensions", "vault-lambda-agent"),
    node: path.join(opt, "vault-lambda-agent", "bin", "node"),
    nodeVersion: `v${NODE_VERSION}`,
    cleanup: () => fs.rmSync(opt, { recursive: true, force: true }),
  };
}
