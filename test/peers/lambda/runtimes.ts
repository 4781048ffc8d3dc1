/**
 * The runtimes the emulator runs a handler with: how the runtime process starts and the environment
 * that only a runtime of that language has.
 *
 * - `nodejs`: this process's node on `runtime-bootstrap.mjs`. PATH starts with the directory of that
 *   node, as `/var/lang/bin` is first on Lambda's Node.js runtimes, so that `#!/usr/bin/env node` and a
 *   launcher's `exec node` find the same node.
 * - `python`: the host's `python3` on `runtime-bootstrap.py` (the Runtime API loop, standard library
 *   only). PATH holds a directory with `python3` alone (Lambda's `/var/lang/bin`) and the layer's
 *   `bin`: not the host's system directories, which on a developer's machine hold a `node`. A Python
 *   function on Lambda has no node at all, and the standalone layer must prove it needs none.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

export type RuntimeName = "nodejs" | "python";

export interface RuntimeSpec {
  command: string;
  args: string[];
  /** LAMBDA_RUNTIME_DIR. */
  runtimeDir: string;
  /** AWS_EXECUTION_ENV. */
  executionEnv: string;
  /** The first entries of PATH (the runtime's own bin directory, then the system's). */
  pathDirs: string[];
  /** Variables only the runtime gets, besides Lambda's (the module search path). */
  moduleEnv(layerDir: string, functionDir: string, userEnv: Record<string, string>): Record<string, string>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));
// Located with `new URL("./…", import.meta.url)`, the form the `dev` command's build (scripts/build-dev.mjs)
// recognises and copies beside its bundle: the bootstraps must be found from an installed package too.
const NODE_BOOTSTRAP = fileURLToPath(new URL("./runtime-bootstrap.mjs", import.meta.url));
const PYTHON_BOOTSTRAP = fileURLToPath(new URL("./runtime-bootstrap.py", import.meta.url));

export function runtimeSpec(name: RuntimeName): RuntimeSpec {
  return name === "python" ? pythonRuntime() : nodeRuntime();
}

function nodeRuntime(): RuntimeSpec {
  const major = process.versions.node.split(".")[0] ?? "20";
  return {
    command: process.execPath,
    args: [NODE_BOOTSTRAP],
    runtimeDir: HERE,
    executionEnv: `AWS_Lambda_nodejs${major}.x`,
    pathDirs: [path.dirname(process.execPath), "/usr/local/bin", "/usr/bin", "/bin"],
    // The Node runtime's module path (the layer's nodejs/ folders first); the function may override
    // it, and then, like any variable of the function, extensions see it too.
    moduleEnv: (layerDir, functionDir, userEnv) => ({
      NODE_PATH:
        userEnv.NODE_PATH ??
        [path.join(layerDir, "nodejs", `node${major}`, "node_modules"), path.join(layerDir, "nodejs", "node_modules"), path.join(HERE, "node_modules"), HERE, functionDir].join(":"),
    }),
  };
}

let python: { executable: string; version: string; binDir: string } | undefined;

function pythonRuntime(): RuntimeSpec {
  python ??= findPython();
  return {
    command: python.executable,
    args: [PYTHON_BOOTSTRAP],
    runtimeDir: HERE,
    executionEnv: `AWS_Lambda_python${python.version}`,
    pathDirs: [python.binDir],
    moduleEnv: (layerDir, _functionDir, userEnv) => ({
      PYTHONPATH: userEnv.PYTHONPATH ?? [path.join(layerDir, "python"), HERE].join(":"),
    }),
  };
}

/** The host's python3 (the real interpreter behind any shim), in a bin directory of its own. */
function findPython(): { executable: string; version: string; binDir: string } {
  let out: string;
  try {
    out = execFileSync("python3", ["-c", "import sys; print(sys.executable); print('%d.%d' % sys.version_info[:2])"], { encoding: "utf8", timeout: 10_000 });
  } catch (err) {
    throw new Error(`LambdaEmulator: the python runtime needs python3 on the host's PATH (${err instanceof Error ? err.message : String(err)})`);
  }
  const [executable, version] = out.trim().split("\n");
  const binDir = mkdtempSync(path.join(os.tmpdir(), "vla-python-runtime-"));
  symlinkSync(executable!, path.join(binDir, "python3"));
  process.once("exit", () => rmSync(binDir, { recursive: true, force: true }));
  return { executable: executable!, version: version!, binDir };
}
