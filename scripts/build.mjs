// Builds the layer tree and its zip:
//   layer/extensions/vault-lambda-agent   executable launcher (finds the bundle relative to itself)
//   layer/vault-lambda-agent/index.mjs    the extension bundle; @aws-sdk/client-sts in a lazy chunk
//   dist/vault-lambda-agent-layer.zip     the same tree, executable bit kept
//   (the handler-side client, dist/client/, is scripts/build-client.mjs; `npm run build` runs both)
// Usage: node scripts/build.mjs [--out <layer dir>] [--no-zip]
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yazl from "yazl";
import { EXTENSION_BUILD_OPTIONS } from "./esbuild-options.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const outIndex = args.indexOf("--out");
const layerDir = path.resolve(outIndex >= 0 ? args[outIndex + 1] : path.join(root, "layer"));
const layerOnly = args.includes("--layer-only");
const withZip = !args.includes("--no-zip") && !layerOnly;
const NAME = "vault-lambda-agent";

const LAUNCHER = `#!/bin/sh
# ${NAME}: Lambda starts every file in /opt/extensions; this one runs the bundle that sits next to
# it in the layer, with the function runtime's node.
set -eu
# Shell built-ins only until node is found: on a runtime that is not Node.js, the one line below must
# be what the user sees, not a missing helper (the image of a custom runtime may lack coreutils).
case "$0" in */*) here=\${0%/*} ;; *) here=. ;; esac
bundle="$here/../${NAME}/index.mjs"
if ! command -v node >/dev/null 2>&1; then
  echo '{"level":"ERROR","message":"${NAME} needs a Node.js runtime (nodejs20.x, nodejs22.x or nodejs24.x): there is no node on PATH. Attach the layer to a Node.js function."}' >&2
  exit 127
fi
# The function's NODE_OPTIONS are meant for the function, not for this process.
unset NODE_OPTIONS
# No V8 flags here: a heap flag such as --max-semi-space-size keeps node from using its startup
# snapshot as is and costs ~20 ms of every cold start (measured), for ~2 MB of RSS under load.
exec node "$bundle" "$@"
`;

// Only what this build writes is removed: the output may be a directory SAM made (ARTIFACTS_DIR).
for (const p of [path.join("extensions", NAME), NAME]) fs.rmSync(path.join(layerDir, p), { recursive: true, force: true });
fs.mkdirSync(path.join(layerDir, "extensions"), { recursive: true });

const common = EXTENSION_BUILD_OPTIONS;

// The AssumeRole module (and with it @aws-sdk/client-sts) is a separate bundle that the extension
// imports only when VAULT_ASSUMED_ROLE_ARN is set. Not esbuild's code splitting: shared chunks would
// make every cold start load the parts of @smithy/core that only the STS client needs.
const lazyAssumeRole = {
  name: "lazy-assume-role",
  setup(b) {
    b.onResolve({ filter: /\/assume-role\.ts$/ }, (a) => (a.kind === "dynamic-import" ? { path: "./assume-role.mjs", external: true } : undefined));
  },
};

const outputs = {};
for (const [entry, out, plugins] of [
  ["src/main.ts", "index.mjs", [lazyAssumeRole]],
  ["src/aws/assume-role.ts", "assume-role.mjs", []],
]) {
  const r = await build({ ...common, entryPoints: [path.join(root, entry)], outfile: path.join(layerDir, NAME, out), plugins });
  Object.assign(outputs, r.metafile.outputs);
}

// Licences travel with the code: the bundle drops its packages' licence comments (NOTICE, from scripts/notice.mjs).
for (const f of ["LICENSE", "NOTICE"]) fs.copyFileSync(path.join(root, f), path.join(layerDir, NAME, f));
const launcher = path.join(layerDir, "extensions", NAME);
fs.writeFileSync(launcher, LAUNCHER, { mode: 0o755 });
// Modes set explicitly, not left to the umask: Lambda runs the function as a user that does not own
// /opt, and needs 755 for directories and executables and 644 for other files ("Lambda requires ...
// permissions"). A build under umask 077 (SAM on a hardened host) would otherwise ship an unreadable bundle.
fs.chmodSync(launcher, 0o755);
for (const dir of [path.join(layerDir, "extensions"), path.join(layerDir, NAME)]) fs.chmodSync(dir, 0o755);
for (const f of fs.readdirSync(path.join(layerDir, NAME))) fs.chmodSync(path.join(layerDir, NAME, f), 0o644);

const sizes = {};
for (const [file, info] of Object.entries(outputs)) {
  if (file.endsWith(".mjs")) sizes[path.relative(layerDir, path.resolve(root, file))] = info.bytes;
}

if (withZip) {
  fs.mkdirSync(path.join(root, "dist"), { recursive: true });
  const zipPath = path.join(root, "dist", `${NAME}-layer.zip`);
  const zip = new yazl.ZipFile();
  // Only the layer's own files, whatever else lies in the output directory (build-info.json, or
  // anything left there): a layer ships no build metadata. Unix modes as Lambda needs them: 0755
  // for the launcher, 0644 for the bundle (zip entries "made by" Unix, so the modes are honoured).
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const full = path.join(dir, entry.name);
      const rel = path.relative(layerDir, full).split(path.sep).join("/");
      if (entry.isDirectory()) walk(full);
      else zip.addFile(full, rel, { mode: 0o100644, mtime: new Date(0) });
    }
  };
  zip.addFile(launcher, `extensions/${NAME}`, { mode: 0o100755, mtime: new Date(0) });
  walk(path.join(layerDir, NAME));
  zip.end();
  await new Promise((resolve, reject) => zip.outputStream.pipe(fs.createWriteStream(zipPath)).on("close", resolve).on("error", reject));
  sizes[`dist/${NAME}-layer.zip`] = fs.statSync(zipPath).size;
}

if (!layerOnly) fs.mkdirSync(path.join(root, "dist"), { recursive: true });
if (!layerOnly) fs.writeFileSync(path.join(root, "dist", "build-info.json"), JSON.stringify({ sizes }, null, 2) + "\n");
if (!process.env.VITEST) console.log(JSON.stringify({ layer: path.relative(root, layerDir) || ".", sizes }));
