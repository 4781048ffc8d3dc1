// `npm run release` (after the build): checksums and a manifest for every layer zip in dist/.
//   dist/SHA256SUMS      one "<sha256>  <file>" line per zip, sorted (`sha256sum -c SHA256SUMS`)
//   dist/release.json    version, and per zip its flavor, layer name, compatible runtimes and
//                        architectures: what scripts/publish-layer.sh publishes
// The zips are whatever dist/*.zip the builds wrote: the slim layer (scripts/build.mjs) and the
// standalone layers, one per architecture. An expected zip that is missing is named in a warning
// (`--require-all` makes it an error); a zip this script does not know is refused, because nothing
// would say which runtimes and architectures it is for.
// Usage: node scripts/release.mjs [--dist <dir>] [--require-all]
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

const NODE_RUNTIMES = ["nodejs20.x", "nodejs22.x", "nodejs24.x"];
// Every supported Amazon Linux 2023 runtime, at most 15 (Lambda's limit on CompatibleRuntimes, which
// only filters the console's layer list: a layer can be attached to a function of any runtime).
// Left out: nodejs20.x and dotnet8, deprecated. The standalone layer refuses Amazon Linux 2.
const AL2023_RUNTIMES = [
  "nodejs22.x",
  "nodejs24.x",
  "python3.12",
  "python3.13",
  "python3.14",
  "java8.al2023",
  "java11.al2023",
  "java17.al2023",
  "java21",
  "java25",
  "dotnet10",
  "ruby3.3",
  "ruby3.4",
  "ruby4.0",
  "provided.al2023",
];

/** The zips a release has, and what each is for. */
const ARTIFACTS = {
  "vault-lambda-agent-layer.zip": { flavor: "slim", layerName: "vault-lambda-agent", runtimes: NODE_RUNTIMES, architectures: ["x86_64", "arm64"] },
  "vault-lambda-agent-standalone-x86_64.zip": { flavor: "standalone", layerName: "vault-lambda-agent-standalone-x86_64", runtimes: AL2023_RUNTIMES, architectures: ["x86_64"] },
  "vault-lambda-agent-standalone-arm64.zip": { flavor: "standalone", layerName: "vault-lambda-agent-standalone-arm64", runtimes: AL2023_RUNTIMES, architectures: ["arm64"] },
};

function sha256(file) {
  return createHash("sha256").update(fs.readFileSync(file)).digest("hex");
}

function release(distDir, { requireAll = false } = {}) {
  const version = JSON.parse(fs.readFileSync(path.join(root, "package.json"), "utf8")).version;
  const zips = fs.existsSync(distDir) ? fs.readdirSync(distDir).filter((f) => f.endsWith(".zip")).sort() : [];
  const unknown = zips.filter((z) => !(z in ARTIFACTS));
  if (unknown.length > 0) {
    throw new Error(`${unknown.join(", ")}: not a layer this release knows (expected ${Object.keys(ARTIFACTS).join(", ")}); remove it from ${distDir} or add it to ARTIFACTS in scripts/release.mjs`);
  }
  const missing = Object.keys(ARTIFACTS).filter((z) => !zips.includes(z));
  if (zips.length === 0 || (requireAll && missing.length > 0)) {
    throw new Error(`missing in ${distDir}: ${(zips.length === 0 ? Object.keys(ARTIFACTS) : missing).join(", ")} (run \`npm run build\`; the standalone zips come from the standalone build)`);
  }
  const artifacts = zips.map((file) => ({ file, ...ARTIFACTS[file], sha256: sha256(path.join(distDir, file)), bytes: fs.statSync(path.join(distDir, file)).size }));
  fs.writeFileSync(path.join(distDir, "SHA256SUMS"), artifacts.map((a) => `${a.sha256}  ${a.file}\n`).join(""));
  fs.writeFileSync(path.join(distDir, "release.json"), JSON.stringify({ name: "vault-lambda-agent", version, license: "MPL-2.0", artifacts }, null, 2) + "\n");
  return { version, artifacts, missing };
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  const i = args.indexOf("--dist");
  const distDir = path.resolve(i >= 0 ? args[i + 1] : path.join(root, "dist"));
  try {
    const { version, artifacts, missing } = release(distDir, { requireAll: args.includes("--require-all") });
    for (const m of missing) console.error(`warning: ${m} is not in ${distDir}: this release will not have it`);
    for (const a of artifacts) console.log(`${a.file}  ${a.bytes} bytes  ${a.flavor} ${a.architectures.join("+")}  sha256 ${a.sha256}`);
    console.log(`vault-lambda-agent ${version}: ${path.relative(process.cwd(), path.join(distDir, "SHA256SUMS")) || "SHA256SUMS"} and release.json written; publish with scripts/publish-layer.sh`);
  } catch (err) {
    console.error(`release: ${err.message}`);
    process.exit(1);
  }
}
