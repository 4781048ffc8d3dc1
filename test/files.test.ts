/**
 * Secret files on a real file system (docs/architecture.md, "Secret files"): 0600 files, written
 * atomically, in a directory that is this user's, not a link, and 0700 — created so, tightened to
 * it, or refused with the reason.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FileRefused, SecretFiles } from "../src/files.ts";

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

function root(): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), "vla-files-"));
  roots.push(r);
  return r;
}

const mode = (p: string) => fs.lstatSync(p).mode & 0o777;

describe("SecretFiles", () => {
  it("creates a missing directory 0700 and writes the file 0600, leaving no temp file", () => {
    const dir = path.join(root(), "vault", "nested");
    const file = path.join(dir, "db.json");
    new SecretFiles().write(file, '{"a":1}\n');
    expect(mode(dir)).toBe(0o700);
    expect(mode(file)).toBe(0o600);
    expect(fs.readFileSync(file, "utf8")).toBe('{"a":1}\n');
    expect(fs.readdirSync(dir)).toEqual(["db.json"]);
  });

  it("tightens an existing 0777 directory of this user's to 0700", () => {
    const dir = path.join(root(), "open");
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o777);
    new SecretFiles().write(path.join(dir, "db.json"), "x");
    expect(mode(dir)).toBe(0o700);
  });

  it("refuses a symlinked directory, and writes nothing through it", () => {
    const r = root();
    const target = path.join(r, "elsewhere");
    fs.mkdirSync(target, { mode: 0o700 });
    const link = path.join(r, "link");
    fs.symlinkSync(target, link);
    const files = new SecretFiles();
    expect(() => files.write(path.join(link, "db.json"), "x")).toThrow(FileRefused);
    expect(() => files.prepare(path.join(link, "db.json"))).toThrow(`${link} is a symlink`);
    expect(fs.readdirSync(target)).toEqual([]);
  });

  it("refuses a symlink at the file's own path, and leaves its target alone", () => {
    const dir = root();
    const target = path.join(dir, "target.txt");
    fs.writeFileSync(target, "keep");
    const file = path.join(dir, "db.json");
    fs.symlinkSync(target, file);
    expect(() => new SecretFiles().write(file, "secret")).toThrow(`${file} is a symlink`);
    expect(fs.readFileSync(target, "utf8")).toBe("keep");
    expect(fs.lstatSync(file).isSymbolicLink()).toBe(true);
  });

  it("refuses a directory that is not this user's, even one left 0777, and does not tighten it", () => {
    const uid = process.getuid!();
    // As root: a directory given to nobody (65534); otherwise root's own /.
    let dir = "/";
    if (uid === 0) {
      dir = path.join(root(), "nobodys");
      fs.mkdirSync(dir);
      fs.chmodSync(dir, 0o777);
      fs.chownSync(dir, 65534, 65534);
    }
    const owner = fs.statSync(dir).uid;
    expect(() => new SecretFiles().prepare(path.join(dir, "db.json"))).toThrow(`${dir} belongs to uid ${owner}, not to this process (uid ${uid})`);
    if (uid === 0) expect(mode(dir)).toBe(0o777);
  });

  it("rewrites only on change, and removeAll deletes what it wrote", () => {
    const dir = root();
    const files = new SecretFiles();
    const file = path.join(dir, "db.json");
    files.write(file, "one");
    const before = fs.statSync(file).ino;
    files.write(file, "one");
    expect(fs.statSync(file).ino).toBe(before);
    files.write(file, "two");
    expect(fs.readFileSync(file, "utf8")).toBe("two");
    expect(files.removeAll()).toBe(1);
    expect(fs.readdirSync(dir)).toEqual([]);
  });
});
