// Builds the package's `dev` command into dist/dev/ so that it runs from an installed package,
// without tsx and without the test tree:
//   dist/dev/cli.mjs     the bin (scripts/dev-cli.mjs, plain JavaScript)
//   dist/dev/run.mjs     scripts/dev.ts bundled with the sandbox (Vault and STS test servers) and
//                        the Lambda emulator
//   dist/dev/<asset>     files those modules open next to themselves (`new URL("./x", import.meta.url)`,
//                        e.g. the emulator's runtime bootstrap), copied by name
// The layer it runs is the package's own layer/ (scripts/build.mjs).
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist/dev");
fs.rmSync(outdir, { recursive: true, force: true });
fs.mkdirSync(outdir, { recursive: true });

// Files a bundled module locates relative to itself must sit beside the bundle.
const siblingAssets = {
  name: "sibling-assets",
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      const text = fs.readFileSync(args.path, "utf8");
      for (const m of text.matchAll(/new URL\(\s*["']\.\/([\w.-]+)["']\s*,\s*import\.meta\.url\s*\)/g)) {
        fs.copyFileSync(path.join(path.dirname(args.path), m[1]), path.join(outdir, m[1]));
      }
      return undefined;
    });
  },
};

await build({
  entryPoints: [path.join(root, "scripts/dev.ts")],
  outfile: path.join(outdir, "run.mjs"),
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
  plugins: [siblingAssets],
  logLevel: "warning",
});
fs.copyFileSync(path.join(root, "scripts/dev-cli.mjs"), path.join(outdir, "cli.mjs"));
fs.chmodSync(path.join(outdir, "cli.mjs"), 0o755);
if (!process.env.VITEST) console.log(JSON.stringify({ dev: path.relative(root, outdir), files: fs.readdirSync(outdir).sort() }));
