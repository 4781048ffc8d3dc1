/**
 * Shared by the packaging tests: where the build puts things, reading and extracting the layer zip
 * the way Lambda does (Unix modes honoured), and running a command with a bounded wait.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import yauzl from "yauzl";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const LAYER_DIR = path.join(ROOT, "layer");
export const LAYER_ZIP = path.join(ROOT, "dist", "vault-lambda-agent-layer.zip");
export const CLIENT_DIR = path.join(ROOT, "dist", "client");
export const PACKAGING_FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures");
export const EXTENSION_NAME = "vault-lambda-agent";

/** The slim layer's files and their Unix modes (octal), as every layer tree and zip holds them. */
export const SLIM_LAYER_FILES: Record<string, string> = {
  [`extensions/${EXTENSION_NAME}`]: "755",
  [`${EXTENSION_NAME}/index.mjs`]: "644",
  [`${EXTENSION_NAME}/assume-role.mjs`]: "644",
  [`${EXTENSION_NAME}/LICENSE`]: "644",
  [`${EXTENSION_NAME}/NOTICE`]: "644",
};

/** The slim layer's files as a zip listing: "file <mode>". */
export const slimZipListing = (): Record<string, string> => Object.fromEntries(Object.entries(SLIM_LAYER_FILES).map(([f, m]) => [f, `file ${m}`]));

/** The slim layer's tree as `treeModes` shows it (directories with a trailing slash, modes "0755"). */
export const slimTreeModes = (): Record<string, string> => ({
  "extensions/": "0755",
  [`${EXTENSION_NAME}/`]: "0755",
  ...Object.fromEntries(Object.entries(SLIM_LAYER_FILES).map(([f, m]) => [f, `0${m}`])),
});

/** The tests read build output; `npm test` builds before vitest runs. Say so instead of ENOENT. */
export function requireBuilt(...files: string[]): void {
  const missing = files.filter((f) => !fs.existsSync(f));
  if (missing.length > 0) throw new Error(`not built: ${missing.map((f) => path.relative(ROOT, f)).join(", ")} (run \`npm run build\` first; \`npm test\` does)`);
}

export interface ZipEntryInfo {
  fileName: string;
  /** High 16 bits of the external attributes: file type and Unix permission bits. */
  unixMode: number;
  /** Upper byte of "version made by": 3 = Unix, the only host system whose modes unzip honours. */
  madeBy: number;
  data: Buffer;
}

/** Every entry of a zip with its content. */
export function readZip(zipPath: string): Promise<ZipEntryInfo[]> {
  return new Promise((resolve, reject) => {
    yauzl.open(zipPath, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) return reject(err ?? new Error("yauzl: no zip"));
      const entries: ZipEntryInfo[] = [];
      zip.on("error", reject);
      zip.on("end", () => resolve(entries));
      zip.on("entry", (entry: yauzl.Entry) => {
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) return reject(e ?? new Error("yauzl: no stream"));
          const chunks: Buffer[] = [];
          stream.on("data", (c: Buffer) => chunks.push(c));
          stream.on("error", reject);
          stream.on("end", () => {
            entries.push({ fileName: entry.fileName, unixMode: entry.externalFileAttributes >>> 16, madeBy: entry.versionMadeBy >> 8, data: Buffer.concat(chunks) });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

/** Extracts like Lambda does for `/opt`: files at their paths, permission bits from the zip. */
export async function extractZip(zipPath: string, dest: string): Promise<void> {
  for (const e of await readZip(zipPath)) {
    const target = path.resolve(dest, e.fileName);
    if (!target.startsWith(dest + path.sep)) throw new Error(`zip entry escapes the target directory: ${e.fileName}`);
    if (e.fileName.endsWith("/")) {
      fs.mkdirSync(target, { recursive: true });
      continue;
    }
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, e.data);
    fs.chmodSync(target, e.unixMode & 0o777);
  }
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion with a hard timeout (SIGKILL of its process group). */
export function run(command: string, args: string[], opts: { env: Record<string, string>; cwd?: string; timeoutMs?: number }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env, cwd: opts.cwd ?? ROOT, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c: string) => (stderr += c));
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, opts.timeoutMs ?? 10_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** `make <target> ARTIFACTS_DIR=<dir>` as `sam build` runs it, under a umask that would break careless modes. */
export function makeUnderUmask077(target: string, artifactsDir: string, timeoutMs = 60_000): Promise<RunResult> {
  return run("/bin/sh", ["-c", `umask 077 && exec make --no-print-directory ${target} ARTIFACTS_DIR="$1"`, "sh", artifactsDir], { env: cleanEnv(), cwd: ROOT, timeoutMs });
}

/** The host environment minus what would change how a child build or make behaves. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v === undefined || k === "ARTIFACTS_DIR" || k.startsWith("MAKE") || k === "MFLAGS" || k === "NODE_OPTIONS") continue;
    env[k] = v;
  }
  return { ...env, ...extra };
}

/** A file tree as `relative path → octal mode`, for exact comparisons. */
export function treeModes(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, entry.name);
      const rel = path.relative(dir, full).split(path.sep).join("/");
      const mode = (fs.lstatSync(full).mode & 0o777).toString(8).padStart(4, "0");
      if (entry.isDirectory()) {
        out[`${rel}/`] = mode;
        walk(full);
      } else out[rel] = entry.isFile() ? mode : `${mode} (not a regular file)`;
    }
  };
  walk(dir);
  return out;
}
