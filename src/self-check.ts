/**
 * `vault-lambda-agent --version`: the layer's own check that it starts here (its Node.js loads, the
 * bundle parses) without touching Lambda or Vault. One JSON line: version, flavor, Node.js version.
 */
import { flavor, VERSION } from "./build-info.ts";

export function versionLine(): string {
  return JSON.stringify({ name: "vault-lambda-agent", version: VERSION, flavor: flavor(), node: process.version, arch: process.arch });
}
