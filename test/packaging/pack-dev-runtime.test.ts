/**
 * scripts/dev-runtime.ts, the `dev` command's choice of runtime and of the layer a Python handler
 * runs beside: on files in a scratch directory, without the emulator (pack-dev.test.ts runs them).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { UsageError, chooseRuntime, runnableLayer } from "../../scripts/dev-runtime.ts";

const dirs: string[] = [];
function scratch(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-dev-runtime-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe("chooseRuntime", () => {
  it("without --runtime: the language of the module's file, Node.js first when both are there", () => {
    expect(chooseRuntime(undefined, scratch({ "index.mjs": "" }), "index")).toBe("nodejs");
    expect(chooseRuntime(undefined, scratch({ "app.py": "" }), "app")).toBe("python");
    expect(chooseRuntime(undefined, scratch({ "app.py": "", "app.cjs": "" }), "app")).toBe("nodejs");
    // Python's module forms: a file in a folder ("pkg/mod" or "pkg.mod"), or a package.
    expect(chooseRuntime(undefined, scratch({ "pkg/mod.py": "" }), "pkg/mod")).toBe("python");
    expect(chooseRuntime(undefined, scratch({ "pkg/mod.py": "" }), "pkg.mod")).toBe("python");
    expect(chooseRuntime(undefined, scratch({ "pkg/__init__.py": "" }), "pkg")).toBe("python");
  });

  it("--runtime picks the language (version suffixes accepted) and needs that language's file", () => {
    const both = scratch({ "app.py": "", "app.js": "" });
    expect(chooseRuntime("python3.12", both, "app")).toBe("python");
    expect(chooseRuntime("PYTHON", both, "app")).toBe("python");
    expect(chooseRuntime("nodejs22.x", both, "app")).toBe("nodejs");
    expect(() => chooseRuntime("python", scratch({ "app.js": "" }), "app")).toThrow(/found no app\.py in/);
    expect(() => chooseRuntime("nodejs", scratch({ "app.py": "" }), "app")).toThrow(/found no app\.js, app\.mjs or app\.cjs in/);
    expect(() => chooseRuntime("java21", both, "app")).toThrow(UsageError);
    expect(() => chooseRuntime("java21", both, "app")).toThrow("--runtime java21: use nodejs or python");
    expect(() => chooseRuntime(undefined, scratch({}), "main")).toThrow(/found no main\.js, main\.mjs or main\.cjs in .*, nor main\.py$/);
  });
});

describe("runnableLayer", () => {
  const slim = { "extensions/vault-lambda-agent": "#!/bin/sh\n", "vault-lambda-agent/index.mjs": "// bundle\n" };

  it("a Node.js handler runs the layer as it is", () => {
    const layerDir = scratch(slim);
    const layer = runnableLayer(layerDir, "nodejs");
    expect(layer).toMatchObject({ dir: layerDir, temporary: false });
    layer.remove();
    expect(fs.existsSync(layerDir)).toBe(true);
  });

  it("a Python handler: a temporary copy whose bin/node is this node, modes kept, deleted by remove()", () => {
    const layerDir = scratch(slim);
    fs.chmodSync(path.join(layerDir, "extensions/vault-lambda-agent"), 0o755);
    const layer = runnableLayer(layerDir, "python");
    expect(layer.temporary).toBe(true);
    expect(layer.dir).not.toBe(layerDir);
    expect(fs.realpathSync(path.join(layer.dir, "vault-lambda-agent/bin/node"))).toBe(fs.realpathSync(process.execPath));
    expect(fs.readFileSync(path.join(layer.dir, "vault-lambda-agent/index.mjs"), "utf8")).toBe("// bundle\n");
    expect(fs.statSync(path.join(layer.dir, "extensions/vault-lambda-agent")).mode & 0o777).toBe(0o755);
    expect(fs.existsSync(path.join(layerDir, "vault-lambda-agent/bin"))).toBe(false); // the package's tree untouched
    layer.remove();
    expect(fs.existsSync(layer.dir)).toBe(false);
  });

  it("a Python handler beside a layer that carries its own Node.js (an extracted standalone zip) runs it as it is", () => {
    const layerDir = scratch({ ...slim, "vault-lambda-agent/bin/node": "" });
    expect(runnableLayer(layerDir, "python")).toMatchObject({ dir: layerDir, temporary: false });
  });
});
