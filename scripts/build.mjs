// Builds the layer tree and the layer zips:
//   layer/extensions/vault-lambda-agent   executable launcher (scripts/launcher.sh; finds the bundle relative to itself)
//   layer/vault-lambda-agent/index.mjs    the extension bundle; @aws-sdk/client-sts in a lazy chunk
//   dist/vault-lambda-agent-layer.zip     the slim layer: the same tree, executable bit kept (Node.js runtimes)
//   dist/vault-lambda-agent-standalone-<arch>.zip
//                                         the standalone layers (x86_64, arm64): the same plus
//                                         vault-lambda-agent/bin/node, a stripped Node.js (scripts/standalone-node.mjs)
//   (the handler-side client, dist/client/, is scripts/build-client.mjs; `npm run build` runs both)
// Usage: node scripts/build.mjs [--out <layer dir>] [--no-zip]
//        node scripts/build.mjs --out <dir> --layer-only [--flavor standalone --arch x86_64|arm64]   (SAM's Makefile)
import { build } from "esbuild";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yazl from "yazl";
import { EXTENSION_BUILD_OPTIONS } from "./esbuild-options.mjs";
import { ARCHITECTURES, standaloneNode } from "./standalone-node.mjs";
import { writeZip } from "./zip.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const outIndex = args.indexOf("--out");
const layerDir = path.resolve(outIndex >= 0 ? args[outIndex + 1] : path.join(root, "layer"));
const layerOnly = args.includes("--layer-only");
const withZip = !args.includes("--no-zip") && !layerOnly;
const NAME = "vault-lambda-agent";
const option = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const flavor = option("--flavor") ?? "slim";
const treeArch = option("--arch");
if (!["slim", "standalone"].includes(flavor)) throw new Error(`--flavor ${flavor}: use slim or standalone`);
if (flavor === "standalone" && !ARCHITECTURES.includes(treeArch)) throw new Error(`--flavor standalone needs --arch ${ARCHITECTURES.join(" or ")}`);
// A plain build writes every zip; --flavor standalone writes the one tree SAM asks for.
if (flavor === "standalone" && !layerOnly) throw new Error("--flavor standalone writes a layer tree for SAM: use it with --out <dir> --layer-only (a plain build writes the standalone zips)");

// One launcher for both flavors: it runs the layer's own node when the layer has one (standalone),
// else the runtime's (slim).
const LAUNCHER = fs.readFileSync(path.join(root, "scripts", "launcher.sh"), "utf8");

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

// A standalone tree for SAM (one architecture per layer): the same plus the layer's own Node.js.
const standaloneReport = {};
if (flavor === "standalone") {
  const node = await standaloneNode(root, treeArch);
  const bin = path.join(layerDir, NAME, "bin");
  fs.mkdirSync(bin, { mode: 0o755 });
  fs.copyFileSync(node.node, path.join(bin, "node"), fs.constants.COPYFILE_FICLONE);
  fs.copyFileSync(node.license, path.join(bin, "LICENSE"));
  fs.chmodSync(bin, 0o755);
  fs.chmodSync(path.join(bin, "node"), 0o755);
  fs.chmodSync(path.join(bin, "LICENSE"), 0o644);
  standaloneReport[treeArch] = nodeReport(node);
}

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

// The standalone zips, one per architecture: the slim layer's files plus vault-lambda-agent/bin/node
// (deflated once per Node.js version and cached: see scripts/standalone-node.mjs) and Node's LICENSE.
if (withZip) {
  const layerFiles = [
    { name: `extensions/${NAME}`, mode: 0o755, data: fs.readFileSync(launcher) },
    ...fs
      .readdirSync(path.join(layerDir, NAME), { withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => e.name)
      .sort()
      .map((f) => ({ name: `${NAME}/${f}`, mode: 0o644, data: fs.readFileSync(path.join(layerDir, NAME, f)) })),
  ];
  const nodes = await Promise.all(ARCHITECTURES.map((arch) => standaloneNode(root, arch)));
  for (const node of nodes) {
    const zipPath = path.join(root, "dist", `${NAME}-standalone-${node.arch}.zip`);
    const nodeEntry = { raw: fs.readFileSync(node.deflated), crc32: node.crc32, size: node.size };
    sizes[path.relative(root, zipPath)] = writeZip(zipPath, [
      ...layerFiles,
      { name: `${NAME}/bin/LICENSE`, mode: 0o644, data: fs.readFileSync(node.license) },
      { name: `${NAME}/bin/node`, mode: 0o755, deflated: nodeEntry },
    ]);
    standaloneReport[node.arch] = nodeReport(node);
  }
}

/** What the build says about a standalone Node.js: where from, how big before and after stripping, whether cached. */
function nodeReport(node) {
  return { node: `v${node.version}`, unstripped: node.unstrippedSize, stripped: node.size, deflated: node.compressedSize, cached: node.cached, ms: node.ms };
}

if (!layerOnly) fs.mkdirSync(path.join(root, "dist"), { recursive: true });
if (!layerOnly) fs.writeFileSync(path.join(root, "dist", "build-info.json"), JSON.stringify({ sizes }, null, 2) + "\n");
if (!process.env.VITEST) console.log(JSON.stringify({ layer: path.relative(root, layerDir) || ".", sizes, ...(Object.keys(standaloneReport).length > 0 ? { standalone: standaloneReport } : {}) }));
