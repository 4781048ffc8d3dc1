// esbuild options of the extension bundle, shared by scripts/build.mjs and the bundle benchmark so
// that the benchmark measures exactly what ships.
import { readFileSync } from "node:fs";

const { version } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));

export const EXTENSION_BUILD_OPTIONS = Object.freeze({
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  // Module-first resolution: the AWS packages' ESM builds tree-shake to a fraction of their CJS ones.
  mainFields: ["module", "main"],
  minify: true,
  legalComments: "none",
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  // `--version` prints it (src/self-check.ts).
  define: { __VAULT_LAMBDA_AGENT_VERSION__: JSON.stringify(version) },
  metafile: true,
  logLevel: "warning",
});
