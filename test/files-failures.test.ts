/**
 * A secret file's write that fails half-way (a full disk, a rename refused) must leave no copy of
 * the secret behind: the temp file holds the secret too, and it is not a file the user asked for.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { SecretFiles } from "../src/files.ts";

const roots: string[] = [];
afterEach(() => {
  vi.restoreAllMocks();
  for (const r of roots.splice(0)) fs.rmSync(r, { recursive: true, force: true });
});

function dir(): string {
  const r = fs.mkdtempSync(path.join(os.tmpdir(), "vla-files-fail-"));
  roots.push(r);
  return path.join(r, "vault");
}

describe("a secret file's write that fails", () => {
  for (const [what, step] of [
    ["the write (ENOSPC)", "writeSync"],
    ["the fsync (EIO)", "fsyncSync"],
    ["the rename (EACCES)", "renameSync"],
  ] as const) {
    it(`${what}: throws, and no temp file with the secret is left`, () => {
      const d = dir();
      const file = path.join(d, "db.json");
      const files = new SecretFiles();
      files.write(file, '{"password":"old-secret-value"}\n');
      const real = fs[step] as (...args: unknown[]) => unknown;
      let failed = false;
      vi.spyOn(fs, step).mockImplementation(((...args: unknown[]) => {
        // Only the first call on the temp file fails (the directory's own fsync comes after the rename).
        if (!failed) {
          failed = true;
          throw Object.assign(new Error(`${step} failed`), { code: "EIO" });
        }
        return real(...args);
      }) as never);
      expect(() => files.write(file, '{"password":"new-secret-value"}\n')).toThrow(/failed/);
      vi.restoreAllMocks();
      expect(fs.readdirSync(d)).toEqual(["db.json"]);
      expect(fs.readFileSync(file, "utf8")).toContain("old-secret-value");
      files.removeAll();
      expect(fs.readdirSync(d)).toEqual([]);
    });
  }
});
