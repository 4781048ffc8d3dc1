// Builds the handler-side client that the npm package ships (package subpaths ./client and
// ./client/powertools), in every shape a function's toolchain may ask for:
//   dist/client/index.js, powertools.js      ESM (the package is "type": "module")
//   dist/client/index.cjs, powertools.cjs    CommonJS, for require() and CommonJS TypeScript
//   dist/client/*.d.ts / *.d.cts             types for each, so that `import` and `require`
//                                            resolutions (node16/nodenext, bundler) and node10
//                                            (typesVersions in package.json) all find them
// The client has no runtime dependency (node:http only); the Powertools provider is a separate
// entry so that its optional peer dependency is loaded only by those who import it.
// Usage: node scripts/build-client.mjs            (run by `npm run build` and by `prepack`)
import { build } from "esbuild";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const outdir = path.join(root, "dist/client");
const ENTRIES = ["index", "powertools"];

fs.rmSync(outdir, { recursive: true, force: true });

for (const [format, ext] of [
  ["esm", ".js"],
  ["cjs", ".cjs"],
]) {
  await build({
    entryPoints: ENTRIES.map((e) => path.join(root, `src/client/${e}.ts`)),
    outdir,
    outExtension: { ".js": ext },
    bundle: true,
    format,
    platform: "node",
    target: "node20",
    external: ["@aws-lambda-powertools/*"],
    // powertools.ts imports ./index.ts: keep it a separate module (one VaultAgentError class, one
    // copy of the client), pointing at the sibling file of the same format.
    plugins: [
      {
        name: "client-sibling-imports",
        setup: (b) => b.onResolve({ filter: /^\.\/index\.ts$/ }, () => ({ path: `./index${ext}`, external: true })),
      },
    ],
    logLevel: "warning",
  });
}

// Declarations: tsc writes .d.ts (ESM, for the "import" condition); the .d.cts twins describe the
// CommonJS files for the "require" condition. Both name their siblings with the right extension.
execFileSync(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", path.join(root, "tsconfig.client.json")], { stdio: "inherit" });
const localImport = /(from ["']\.\/[\w-]+)\.ts(["'])/g;
// Every declaration file tsc wrote, the type-only modules (wire.d.ts) included: a .d.cts that names
// ./wire.cjs needs a wire.d.cts beside it.
for (const e of fs.readdirSync(outdir).filter((f) => f.endsWith(".d.ts")).map((f) => f.slice(0, -".d.ts".length))) {
  const dts = path.join(outdir, `${e}.d.ts`);
  const text = fs.readFileSync(dts, "utf8");
  fs.writeFileSync(dts, text.replace(localImport, "$1.js$2"));
  fs.writeFileSync(path.join(outdir, `${e}.d.cts`), text.replace(localImport, "$1.cjs$2"));
}

if (!process.env.VITEST) console.log(JSON.stringify({ client: path.relative(root, outdir), files: fs.readdirSync(outdir).sort() }));
