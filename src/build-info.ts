/**
 * What this build is: the package's version (baked in by esbuild, scripts/esbuild-options.mjs) and
 * the layer's flavor. Named in the first log line, in `/health` and in `--version`.
 */
import { existsSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

declare const __VAULT_LAMBDA_AGENT_VERSION__: string | undefined;

/** The package's version; "unbundled" when run from the sources (tests, `tsx`). */
export const VERSION: string = typeof __VAULT_LAMBDA_AGENT_VERSION__ === "string" ? __VAULT_LAMBDA_AGENT_VERSION__ : "unbundled";

export type Flavor = "slim" | "standalone";

/**
 * "standalone" when the process runs on the Node.js the layer carries (bin/node beside the bundle,
 * which the launcher starts), "slim" when it runs on the runtime's own node.
 */
export function flavor(bundleUrl: string = import.meta.url, execPath: string = process.execPath): Flavor {
  try {
    const ownNode = fileURLToPath(new URL("./bin/node", bundleUrl));
    return existsSync(ownNode) && realpathSync(ownNode) === realpathSync(execPath) ? "standalone" : "slim";
  } catch {
    return "slim";
  }
}
