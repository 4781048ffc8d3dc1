/**
 * Bundle (issue item 4): bytes of the extension bundle every cold start loads (target ≤ 150 KB
 * minified) and of the STS chunk loaded only with VAULT_ASSUMED_ROLE_ARN. Baseline: the peer
 * handler's dependencies (vault-auth-aws + node-vault, bench/fixtures/peer) bundled by esbuild with
 * the same options — the best case for what a user ships instead.
 * Notes name the largest inputs of the extension bundle (the import graph, from esbuild's metafile).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { build, type Metafile } from "esbuild";
import { makeResult } from "./stats.ts";
import type { BenchOptions, BenchResult } from "./types.ts";
import { BUNDLE, FIXTURES, LAYER_DIR, ROOT } from "./world.ts";
import { EXTENSION_BUILD_OPTIONS } from "../scripts/esbuild-options.mjs";

const GROUP = "bundle";
const KB = 1024;
const TARGET_BYTES = 150 * KB;
const STS_CHUNK = path.join(LAYER_DIR, "vault-lambda-agent", "assume-role.mjs");
const LAYER_ZIP = path.join(ROOT, "dist", "vault-lambda-agent-layer.zip");

/** Exactly the options of the shipped bundle, without writing it. */
const BUILD_OPTIONS = { ...EXTENSION_BUILD_OPTIONS, logLevel: "silent", write: false } as const;

interface Built {
  bytes: number;
  metafile: Metafile;
}

async function bundleOf(entry: string, external: (p: string) => boolean = () => false): Promise<Built> {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-bundle-"));
  try {
    const r = await build({
      ...BUILD_OPTIONS,
      entryPoints: [entry],
      outdir,
      plugins: [{ name: "lazy-external", setup: (b) => b.onResolve({ filter: /.*/ }, (a) => (a.kind === "dynamic-import" && external(a.path) ? { path: a.path, external: true } : undefined)) }],
    });
    const out = Object.values(r.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
    return { bytes: out, metafile: r.metafile };
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

/** The largest inputs by bytes they contribute to the output, grouped by package. */
function largestInputs(metafile: Metafile, n: number): string {
  const byPackage = new Map<string, number>();
  for (const output of Object.values(metafile.outputs)) {
    for (const [file, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
      const key = m ? m[1]! : file.replace(/^.*?(src\/)/, "$1");
      byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
    }
  }
  return [...byPackage]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${(v / KB).toFixed(1)} KB`)
    .join(", ");
}

function gzipBytes(file: string): number {
  return zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
}

export async function bundle(_opts: BenchOptions): Promise<BenchResult[]> {
  const bundleBytes = fs.statSync(BUNDLE).size;
  const stsBytes = fs.existsSync(STS_CHUNK) ? fs.statSync(STS_CHUNK).size : Number.NaN;
  const source = fs.readFileSync(BUNDLE, "utf8");
  // The chunk must be reachable only through import(): a static import would load it at every cold start.
  const dynamicOnly = /import\(\s*["']\.\/assume-role\.mjs["']\s*\)/.test(source) && !/from\s*["']\.\/assume-role\.mjs["']/.test(source);

  const ours = await bundleOf(path.join(ROOT, "src", "main.ts"), (p) => /\/assume-role\.ts$/.test(p));
  let peer: Built | undefined;
  let peerProblem = "";
  try {
    peer = await bundleOf(path.join(FIXTURES, "peer", "index.mjs"));
  } catch (err) {
    peerProblem = `the peer handler could not be bundled (${err instanceof Error ? err.message.split("\n")[0] : String(err)}); `;
  }
  // The rebuilt bundle lacks only the createRequire banner of scripts/build.mjs: sizes within 1 KB.
  const rebuildNote = Math.abs(ours.bytes - bundleBytes) <= KB ? "" : ` (a rebuild with the options here gives ${ours.bytes} bytes: this module's BUILD_OPTIONS drifted from scripts/build.mjs)`;

  const results: BenchResult[] = [
    makeResult({
      group: GROUP,
      name: "extension-bundle",
      value: bundleBytes,
      unit: "bytes",
      baseline: peer?.bytes ?? null,
      target: `≤ ${TARGET_BYTES.toLocaleString("en-US")} bytes (150 KB minified)`,
      met: bundleBytes <= TARGET_BYTES,
      notes: `layer/vault-lambda-agent/index.mjs, esbuild minified ESM, ${(gzipBytes(BUNDLE) / KB).toFixed(1)} KB gzipped${rebuildNote}. Largest inputs: ${largestInputs(ours.metafile, 6)}. Baseline: ${peer ? `the peer handler (vault-auth-aws + node-vault) bundled by esbuild with the same options, ${(peer.bytes / KB).toFixed(1)} KB; its largest inputs: ${largestInputs(peer.metafile, 5)} — unbundled, as such handlers usually ship, its node_modules are larger still` : peerProblem}.`,
      digits: 0,
    }),
    makeResult({
      group: GROUP,
      name: "sts-chunk-lazy",
      value: stsBytes,
      unit: "bytes",
      target: "loaded only with VAULT_ASSUMED_ROLE_ARN",
      met: dynamicOnly,
      notes: `layer/vault-lambda-agent/assume-role.mjs (@aws-sdk/client-sts for sts:AssumeRole), ${Number.isFinite(stsBytes) ? `${(gzipBytes(STS_CHUNK) / KB).toFixed(1)} KB gzipped` : "missing"}; index.mjs reaches it ${dynamicOnly ? "only through import(), so a cold start without VAULT_ASSUMED_ROLE_ARN never reads it" : "through a STATIC import: every cold start loads it"}.`,
      digits: 0,
    }),
  ];
  if (fs.existsSync(LAYER_ZIP)) {
    results.push(
      makeResult({
        group: GROUP,
        name: "layer-zip",
        value: fs.statSync(LAYER_ZIP).size,
        unit: "bytes",
        target: "informational",
        met: true,
        notes: "dist/vault-lambda-agent-layer.zip: launcher, bundle and the lazy STS chunk, as uploaded.",
        digits: 0,
      }),
    );
  }
  return results;
}
