/**
 * The function's runtime under `vault-lambda-agent dev`: which one runs the handler (`--runtime`, or
 * else the file the handler's module is), and, for Python, a layer the extension can start in.
 *
 * On Lambda the slim layer's launcher runs the extension on the function runtime's `node`; a Python
 * function has none, so there the standalone layer carries its own (`vault-lambda-agent/bin/node`) and
 * the launcher prefers it. The package ships the slim tree only (not a 100 MB Node.js per
 * architecture), so for a Python handler the dev command copies that tree to a temporary directory and
 * links `bin/node` to the node running the command: the launcher then takes the standalone layer's
 * path, on a function whose PATH holds no node (the emulator's python runtime), as on Lambda.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { runtimeSpec } from "../test/peers/lambda/runtimes.ts";

/** A wrong argument or a missing prerequisite: said in plain words, exit 2. */
export class UsageError extends Error {}

export type DevRuntime = "nodejs" | "python";

const NODE_EXTENSIONS = [".js", ".mjs", ".cjs"];

/**
 * The runtime for `<module>` (the handler setting without its export) in `functionDir`: the one
 * `flag` names (nodejs…, python…), else the one whose file is there, Node.js first.
 */
export function chooseRuntime(flag: string | undefined, functionDir: string, module: string): DevRuntime {
  const nodeBase = path.join(functionDir, module);
  const hasNode = NODE_EXTENSIONS.some((ext) => fs.existsSync(nodeBase + ext));
  // Python imports "pkg/mod" and "pkg.mod" alike: a mod.py, or a package's __init__.py.
  const pythonBase = path.join(functionDir, ...module.split(/[./]/));
  const hasPython = fs.existsSync(`${pythonBase}.py`) || fs.existsSync(path.join(pythonBase, "__init__.py"));
  const noNode = `found no ${module}.js, ${module}.mjs or ${module}.cjs in ${functionDir}`;
  const noPython = `found no ${module.replace(/\./g, "/")}.py in ${functionDir}`;
  if (flag === undefined) {
    if (hasNode) return "nodejs";
    if (hasPython) return "python";
    throw new UsageError(`${noNode}, nor ${module.replace(/\./g, "/")}.py`);
  }
  const name = flag.toLowerCase();
  if (name.startsWith("node")) {
    if (!hasNode) throw new UsageError(noNode);
    return "nodejs";
  }
  if (name.startsWith("python")) {
    if (!hasPython) throw new UsageError(noPython);
    return "python";
  }
  throw new UsageError(`--runtime ${flag}: use nodejs or python (a version suffix such as nodejs22.x or python3.12 is accepted)`);
}

/** The version ("3.12") of the host's python3, which the emulator runs a Python handler with. */
export function hostPythonVersion(): string {
  try {
    return runtimeSpec("python").executionEnv.replace(/^AWS_Lambda_python/, "");
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    const problem = /ENOENT/.test(reason) ? "there is no python3 on PATH" : `the python3 on PATH did not run (${/\((.*)\)$/s.exec(reason)?.[1] ?? reason})`;
    throw new UsageError(`a Python handler runs on this machine's python3, as Lambda's python runtime would run it, and ${problem}: install Python 3 (e.g. \`apt-get install python3\`, \`brew install python\`) or put it on PATH`);
  }
}

export interface RunnableLayer {
  dir: string;
  /** True when `dir` is a temporary copy that `remove()` deletes. */
  temporary: boolean;
  remove(): void;
}

/**
 * The layer to run beside the handler: `layerDir` itself for a Node.js handler, or when it carries
 * its own Node.js (an extracted standalone zip given with --layer); for a Python handler otherwise,
 * a temporary copy of it with `bin/node` linked to this process's node.
 */
export function runnableLayer(layerDir: string, runtime: DevRuntime): RunnableLayer {
  if (runtime === "nodejs" || fs.existsSync(path.join(layerDir, "vault-lambda-agent", "bin", "node"))) return { dir: layerDir, temporary: false, remove: () => undefined };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-dev-layer-"));
  const rm = (): void => fs.rmSync(dir, { recursive: true, force: true });
  // Also when this process dies of something the caller does not see (an uncaught error, such as
  // EPIPE on a stdout piped into `head`): 'exit' still runs synchronous code.
  process.once("exit", rm);
  const remove = (): void => {
    process.off("exit", rm);
    rm();
  };
  try {
    fs.cpSync(layerDir, dir, { recursive: true });
    fs.mkdirSync(path.join(dir, "vault-lambda-agent", "bin"), { recursive: true });
    fs.symlinkSync(process.execPath, path.join(dir, "vault-lambda-agent", "bin", "node"));
  } catch (err) {
    remove();
    throw err;
  }
  return { dir, temporary: true, remove };
}
