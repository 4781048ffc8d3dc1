import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { describe, expect, it } from "vitest";
import { flavor, VERSION } from "../src/build-info.ts";

describe("build info", () => {
  it("standalone when the process runs on the bin/node beside the bundle, slim otherwise", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-flavor-"));
    try {
      const bundle = pathToFileURL(path.join(dir, "index.mjs")).href;
      expect(flavor(bundle, process.execPath)).toBe("slim");
      fs.mkdirSync(path.join(dir, "bin"));
      fs.symlinkSync(process.execPath, path.join(dir, "bin", "node"));
      expect(flavor(bundle, process.execPath)).toBe("standalone");
      // A node of the runtime's, not the layer's.
      expect(flavor(bundle, path.join(dir, "elsewhere", "node"))).toBe("slim");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("the version is the bundle's; unbundled sources say so", () => {
    expect(VERSION).toBe("unbundled");
  });
});
