/**
 * `vault-lambda-agent --version`: the layer's own check that it starts here (its Node.js loads, the
 * bundle parses) without touching Lambda or Vault. One JSON line: version, flavor, Node.js version.
 * "standalone" means it runs on the Node.js the layer carries (bin/node beside the bundle).
 */
import { existsSync, realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

declare const __VAULT_LAMBDA_AGENT_VERSION__: string | undefined;

export function versionLine(): string {
  const version = typeof __VAULT_LAMBDA_AGENT_VERSION__ === "string" ? __VAULT_LAMBDA_AGENT_VERSION__ : "unbundled";
  const ownNode = fileURLToPath(new URL("./bin/node", import.meta.url));
  const flavor = existsSync(ownNode) && realpathSync(ownNode) === process.execPath ? "standalone" : "slim";
  return JSON.stringify({ name: "vault-lambda-agent", version, flavor, node: process.version, arch: process.arch });
}
