/**
 * The standalone layers as they ship: one zip per architecture with the slim layer's files plus a
 * stripped, pinned Node.js; the x86_64 one run from where it was extracted with no node on PATH
 * (`--version`, the bundle's own self-check); the launcher's glibc guard, with a getconf/ldd this test
 * controls; the ELF stripper the build uses. (arm64 runs under qemu in test/real/standalone-arm64.test.ts;
 * a whole Lambda life beside a Python handler in test/integration/standalone-python.test.ts.)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stripElf } from "../../scripts/elf-strip.mjs";
import { parseCfnYaml } from "../../scripts/validate-sam.mjs";
import { NODE_VERSION } from "../../scripts/standalone-node.mjs";
import type { Template } from "./cfn.ts";
import { EXTENSION_NAME, LAYER_ZIP, ROOT, extractZip, makeUnderUmask077, readZip, requireBuilt, run, treeModes, slimTreeModes, slimZipListing, type ZipEntryInfo } from "./helpers.ts";

const ZIPS = { x86_64: standaloneZip("x86_64"), arm64: standaloneZip("arm64") };
const ELF_MACHINE = { x86_64: 62, arm64: 183 } as const;
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

function standaloneZip(arch: "x86_64" | "arm64"): string {
  return path.join(ROOT, "dist", `${EXTENSION_NAME}-standalone-${arch}.zip`);
}

/** Section names of a 64-bit little-endian ELF file. */
function sectionNames(elf: Buffer): string[] {
  const shoff = Number(elf.readBigUInt64LE(40));
  const shnum = elf.readUInt16LE(60);
  const names = shoff + elf.readUInt16LE(62) * 64;
  const namesAt = Number(elf.readBigUInt64LE(names + 24));
  return Array.from({ length: shnum }, (_, i) => {
    const start = namesAt + elf.readUInt32LE(shoff + i * 64);
    return elf.toString("latin1", start, elf.indexOf(0, start));
  });
}

const tmpDirs: string[] = [];
function tmpDir(prefix: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  tmpDirs.push(d);
  return d;
}

/** A directory for PATH holding only the given shell scripts (fake getconf, ldd). */
function fakeBin(scripts: Record<string, string>): string {
  const dir = tmpDir("vla-fake-bin-");
  for (const [name, body] of Object.entries(scripts)) fs.writeFileSync(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return dir;
}

let opt: string;
let launcher: string;

beforeAll(async () => {
  requireBuilt(LAYER_ZIP, ZIPS.x86_64, ZIPS.arm64);
  opt = tmpDir("vla-opt-standalone-");
  await extractZip(ZIPS.x86_64, opt);
  launcher = path.join(opt, "extensions", EXTENSION_NAME);
});

afterAll(() => {
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

describe.each(["x86_64", "arm64"] as const)("the standalone %s zip", (arch) => {
  let entries: ZipEntryInfo[];
  beforeAll(async () => {
    entries = await readZip(ZIPS[arch]);
  });

  it("holds the slim layer's files byte for byte, plus bin/node (0755) and Node's LICENSE (0644), made by Unix", async () => {
    const listing = Object.fromEntries(entries.map((e) => [e.fileName, `${(e.unixMode & S_IFMT) === S_IFREG ? "file" : "not a file"} ${(e.unixMode & 0o7777).toString(8)}`]));
    expect(listing).toEqual({
      ...slimZipListing(),
      [`${EXTENSION_NAME}/bin/node`]: "file 755",
      [`${EXTENSION_NAME}/bin/LICENSE`]: "file 644",
    });
    expect(entries.every((e) => e.madeBy === 3)).toBe(true);
    for (const slim of await readZip(LAYER_ZIP)) {
      expect(entries.find((e) => e.fileName === slim.fileName)!.data.equals(slim.data), slim.fileName).toBe(true);
    }
    expect(entries.find((e) => e.fileName.endsWith("bin/LICENSE"))!.data.toString("utf8")).toMatch(/^Node\.js is licensed/);
  });

  it(`carries Node.js ${NODE_VERSION} for ${arch}, stripped, and stays well under Lambda's 50 MB upload limit`, () => {
    const node = entries.find((e) => e.fileName === `${EXTENSION_NAME}/bin/node`)!.data;
    expect(node.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
    expect(node.readUInt16LE(18)).toBe(ELF_MACHINE[arch]);
    const sections = sectionNames(node);
    expect(sections).toContain(".text");
    expect(sections).toContain(".dynsym");
    expect(sections.filter((s) => s === ".symtab" || s === ".strtab" || s.startsWith(".debug"))).toEqual([]);
    expect(node.includes(Buffer.from(`v${NODE_VERSION}`))).toBe(true);
    expect(fs.statSync(ZIPS[arch]).size).toBeLessThan(45 * 1024 * 1024);
  });
});

describe("the x86_64 standalone layer, extracted as Lambda extracts /opt", () => {
  it("--version runs the bundle on the layer's own Node.js, with nothing at all on PATH", async () => {
    const r = await run(launcher, ["--version"], { env: { PATH: tmpDir("vla-empty-path-") }, cwd: "/", timeoutMs: 15_000 });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };
    expect(JSON.parse(r.stdout)).toEqual({ name: EXTENSION_NAME, version: pkg.version, flavor: "standalone", node: `v${NODE_VERSION}`, arch: "x64" });
  });

  it("prefers its own Node.js to a node the runtime has (a Node.js function given the standalone layer)", async () => {
    const bin = tmpDir("vla-runtime-node-");
    fs.symlinkSync(process.execPath, path.join(bin, "node"));
    const r = await run(launcher, ["--version"], { env: { PATH: bin }, cwd: "/", timeoutMs: 15_000 });
    expect(r.code, r.stderr).toBe(0);
    // "standalone": the process runs on the layer's bin/node (src/self-check.ts compares the paths)
    expect(JSON.parse(r.stdout)).toMatchObject({ flavor: "standalone", node: `v${NODE_VERSION}` });
  });

  it("without --version it is the extension: outside Lambda it says what it needs", async () => {
    const r = await run(launcher, [], { env: { PATH: tmpDir("vla-empty-path-") }, cwd: "/", timeoutMs: 15_000 });
    expect(r.code).toBe(1);
    expect(r.stderr + r.stdout).toContain("AWS_LAMBDA_RUNTIME_API is not set");
  });
});

describe("the glibc guard (the official Node.js binary needs glibc 2.28; Amazon Linux 2 has 2.26)", () => {
  async function launch(bin: string) {
    return run(launcher, ["--version"], { env: { PATH: bin }, cwd: "/", timeoutMs: 15_000 });
  }

  function expectRefusal(r: Awaited<ReturnType<typeof launch>>, glibc: string): void {
    expect(r.signal).toBeNull();
    expect(r.code).toBe(126);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as { level: string; message: string; glibc: string };
    expect(line.level).toBe("ERROR");
    expect(line.glibc).toBe(glibc);
    expect(line.message).toContain(`needs glibc 2.28 or newer and this runtime has glibc ${glibc}`);
    for (const runtime of ["python3.12", "java21", "dotnet10", "ruby3.4", "nodejs24.x", "provided.al2023"]) expect(line.message).toContain(runtime);
    expect(r.stderr).not.toMatch(/GLIBC_|not found|error while loading/);
  }

  it("refuses, in one JSON line naming the runtimes that work, when getconf reports glibc 2.26", async () => {
    expectRefusal(await launch(fakeBin({ getconf: 'echo "glibc 2.26"', ldd: 'echo "ldd (GNU libc) 2.36"' })), "2.26");
  });

  it("asks ldd when there is no getconf (its first line: 'ldd (GNU libc) 2.26')", async () => {
    expectRefusal(await launch(fakeBin({ ldd: 'echo "ldd (GNU libc) 2.26"; echo "Copyright (C) 2017 Free Software Foundation, Inc."' })), "2.26");
  });

  it("starts on glibc 2.28 and later", async () => {
    for (const version of ["2.28", "2.34", "2.41"]) {
      const r = await launch(fakeBin({ getconf: `echo "glibc ${version}"` }));
      expect(r.code, version).toBe(0);
      expect(JSON.parse(r.stdout).flavor).toBe("standalone");
    }
  });

  it("starts when the version cannot be told (no getconf, no ldd, no versioned libc file), as on a stripped custom image", async () => {
    const r = await launch(fakeBin({ getconf: "exit 1", ldd: "echo 'musl libc (x86_64)'; exit 1" }));
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).node).toBe(`v${NODE_VERSION}`);
  });
});

describe("the ELF stripper", () => {
  it("is idempotent: the shipped binary has nothing left to strip", () => {
    const node = fs.readFileSync(path.join(opt, EXTENSION_NAME, "bin", "node"));
    const { output, removed } = stripElf(node);
    expect(removed).toEqual([]);
    expect(output).toBe(node);
  });

  it("refuses what it does not handle instead of writing a broken binary", () => {
    expect(() => stripElf(Buffer.from("#!/bin/sh\necho not an ELF file\n".padEnd(64, " ")))).toThrow(/not an ELF file/);
    const elf32 = Buffer.alloc(64);
    elf32.write("\x7fELF", 0, "latin1");
    elf32[4] = 1;
    elf32[5] = 1;
    expect(() => stripElf(elf32)).toThrow(/64-bit little-endian/);
  });
});

describe("SAM: the standalone layers in template.yaml, built by the Makefile", () => {
  const template = parseCfnYaml(fs.readFileSync(path.join(ROOT, "template.yaml"), "utf8")) as Template;
  const AL2_RUNTIMES = ["python3.10", "python3.11", "java8.al2", "java11", "java17", "provided.al2", "nodejs18.x"];
  const LAYERS = { x86_64: "VaultLambdaAgentStandaloneX86Layer", arm64: "VaultLambdaAgentStandaloneArm64Layer" } as const;

  it.each(Object.entries(LAYERS))("%s: %s, one architecture, Amazon Linux 2023 runtimes only (at most 15, Lambda's limit)", (arch, id) => {
    const layer = template.Resources[id]!;
    expect(layer.Type).toBe("AWS::Serverless::LayerVersion");
    expect(layer.Metadata?.BuildMethod).toBe("makefile");
    const props = layer.Properties!;
    expect(props.CompatibleArchitectures).toEqual([arch]);
    const runtimes = props.CompatibleRuntimes as string[];
    expect(runtimes.length).toBeLessThanOrEqual(15);
    for (const r of ["python3.12", "java21", "dotnet10", "ruby3.4", "provided.al2023", "nodejs24.x"]) expect(runtimes).toContain(r);
    expect(runtimes.filter((r) => AL2_RUNTIMES.includes(r))).toEqual([]);
    expect(fs.readFileSync(path.join(ROOT, "Makefile"), "utf8")).toMatch(new RegExp(`^build-${id}:`, "m"));
  });

  it("make build-VaultLambdaAgentStandaloneArm64Layer: the layer tree with the arm64 node, modes as Lambda needs them even under umask 077", async () => {
    const artifacts = tmpDir("vla-sam-standalone-");
    const r = await makeUnderUmask077("build-VaultLambdaAgentStandaloneArm64Layer", artifacts, 120_000);
    expect(r.code, r.stderr).toBe(0);
    expect(treeModes(artifacts)).toEqual({
      ...slimTreeModes(),
      [`${EXTENSION_NAME}/bin/`]: "0755",
      [`${EXTENSION_NAME}/bin/node`]: "0755",
      [`${EXTENSION_NAME}/bin/LICENSE`]: "0644",
    });
    const node = (await readZip(ZIPS.arm64)).find((e) => e.fileName === `${EXTENSION_NAME}/bin/node`)!.data;
    expect(fs.readFileSync(path.join(artifacts, EXTENSION_NAME, "bin", "node")).equals(node)).toBe(true);
  });
});
