/**
 * `npx vault-lambda-agent dev <function-dir> <module.export>`: runs a user's handler on this
 * machine the way Lambda would with the vault-lambda-agent layer attached — the layer shipped in
 * this package, the Lambda emulator (real processes, a real SIGSTOP freeze between invocations),
 * and either the sandbox (the Vault and STS test servers, seeded) or a Vault the user names — and
 * prints the timeline `npm start` prints: each phase, its milliseconds, the Vault calls it cost, and
 * what the handler answered. Exit 0 when the init, every invocation and the shutdown went well.
 *
 * Built into dist/dev/run.mjs by scripts/build-dev.mjs; dist/dev/cli.mjs is the package's bin.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LambdaEmulator, type InvokeResult } from "../test/peers/lambda/emulator.ts";
import { startSandbox, type Sandbox, type SandboxSeed } from "./sandbox.ts";
import defaultSeed from "../sandbox/seed.json" with { type: "json" };
import { TimelinePrinter } from "./dev-timeline.ts";
import { UsageError, chooseRuntime, hostPythonVersion, runnableLayer, type DevRuntime, type RunnableLayer } from "./dev-runtime.ts";

const USAGE = `usage: vault-lambda-agent dev <function-dir> <module.export> [options]

Runs your handler under a local Lambda emulator with the vault-lambda-agent layer, against the
sandbox Vault and STS test servers (default) or your own Vault (--vault-addr), and prints a timeline.

  <function-dir>          the directory Lambda would unpack your function into (LAMBDA_TASK_ROOT)
  <module.export>         the handler setting, e.g. index.handler (index.js, .mjs or .cjs) or
                          app.handler (app.py)

options:
  --secret NAME=PATH      declare a secret (VAULT_SECRET_PATH_NAME=PATH); repeatable.
                          Sandbox default: db=database/creds/example, config=secret/data/example/config
  --env KEY=VALUE         another environment variable of the function; repeatable
  --event FILE            JSON event for each invocation (default {})
  --invokes N             number of invocations (default 2)
  --freeze SECONDS        time frozen (SIGSTOP) before each invocation after the first (default 1)
  --port PORT             VAULT_AGENT_PORT (default 8200 when free, else a free port)
  --runtime RUNTIME       nodejs or python (default: the language of the handler's file). A
                          Python handler runs on this machine's python3; the extension on this
                          node, linked into a temporary copy of the layer as bin/node, the way
                          the standalone layer runs on its own Node.js
  --vault-addr URL        use this Vault instead of the sandbox; signs the login with your AWS
                          credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN)
  --role ROLE             VAULT_AUTH_ROLE (sandbox default: example-fn-role)
  --seed FILE             sandbox seed (default: the package's sandbox/seed.json)
  --layer DIR             layer tree to run (default: the package's own layer/); one with its own
                          vault-lambda-agent/bin/node (an unzipped standalone layer) runs as it is
  --verbose               also print the extension's log lines
  -h, --help              this text`;

const here = path.dirname(fileURLToPath(import.meta.url));

/** Where the package's layer tree is: `<package>/layer` from dist/dev/ (built) or scripts/ (tsx). */
function packageLayerDir(): string {
  for (const candidate of [path.resolve(here, "../../layer"), path.resolve(here, "../layer")]) {
    if (fs.existsSync(path.join(candidate, "extensions", "vault-lambda-agent"))) return candidate;
  }
  return path.resolve(here, "../../layer");
}

interface DevOptions {
  functionDir: string;
  handler: string;
  runtime: DevRuntime;
  /** `--runtime` as given, when given ("python3.12"). */
  runtimeFlag?: string;
  secrets: Record<string, string>;
  env: Record<string, string>;
  event: unknown;
  invokes: number;
  freezeMs: number;
  port?: number;
  vaultAddr?: string;
  role?: string;
  seed: SandboxSeed;
  layerDir: string;
  verbose: boolean;
}

function parseDevArgs(argv: string[]): DevOptions | "help" {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      secret: { type: "string", multiple: true },
      env: { type: "string", multiple: true },
      event: { type: "string" },
      invokes: { type: "string" },
      freeze: { type: "string" },
      port: { type: "string" },
      runtime: { type: "string" },
      "vault-addr": { type: "string" },
      role: { type: "string" },
      seed: { type: "string" },
      layer: { type: "string" },
      verbose: { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return "help";
  if (positionals.length !== 2) throw new UsageError("give the function directory and the handler, e.g. `vault-lambda-agent dev ./my-function index.handler`");
  const [dir, handler] = positionals as [string, string];
  const functionDir = path.resolve(dir);
  if (!fs.statSync(functionDir, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${dir}: not a directory (give the directory that holds your handler's module)`);
  const m = /^(.+)\.([^./]+)$/.exec(handler);
  if (!m) throw new UsageError(`${handler}: a handler is <module>.<export>, e.g. index.handler`);
  const runtime = chooseRuntime(values.runtime, functionDir, m[1]!);

  const pairs = (list: string[] | undefined, flag: string): Array<[string, string]> =>
    (list ?? []).map((item) => {
      const i = item.indexOf("=");
      if (i <= 0) throw new UsageError(`${flag} ${item}: expected KEY=VALUE`);
      return [item.slice(0, i), item.slice(i + 1)];
    });
  const secrets: Record<string, string> = {};
  for (const [name, vaultPath] of pairs(values.secret, "--secret")) {
    if (!/^[A-Za-z0-9_]+$/.test(name)) throw new UsageError(`--secret ${name}=…: a secret name may only contain letters, digits and "_"`);
    secrets[name.toUpperCase()] = vaultPath;
  }
  const int = (v: string | undefined, flag: string, dflt: number, min: number): number => {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isFinite(n) || n < min) throw new UsageError(`${flag} ${v}: expected a number ≥ ${min}`);
    return n;
  };
  let event: unknown = {};
  if (values.event !== undefined) {
    try {
      event = JSON.parse(fs.readFileSync(values.event, "utf8"));
    } catch (err) {
      throw new UsageError(`--event ${values.event}: ${(err as Error).message}`);
    }
  }
  let seed = defaultSeed as SandboxSeed;
  if (values.seed !== undefined) seed = JSON.parse(fs.readFileSync(values.seed, "utf8")) as SandboxSeed;
  if (values["vault-addr"] !== undefined && !/^https?:\/\/.+/.test(values["vault-addr"])) throw new UsageError(`--vault-addr ${values["vault-addr"]}: expected http(s)://host[:port]`);
  const opts: DevOptions = {
    functionDir,
    handler,
    runtime,
    secrets,
    env: Object.fromEntries(pairs(values.env, "--env")),
    event,
    invokes: int(values.invokes, "--invokes", 2, 1),
    freezeMs: int(values.freeze, "--freeze", 1, 0) * 1000,
    seed,
    layerDir: path.resolve(values.layer ?? packageLayerDir()),
    verbose: values.verbose ?? false,
  };
  if (values.port !== undefined) opts.port = int(values.port, "--port", 0, 1);
  if (values["vault-addr"] !== undefined) opts.vaultAddr = values["vault-addr"];
  if (values.role !== undefined) opts.role = values.role;
  if (values.runtime !== undefined) opts.runtimeFlag = values.runtime;
  if (!fs.existsSync(path.join(opts.layerDir, "extensions", "vault-lambda-agent"))) {
    throw new UsageError(`${opts.layerDir}: no extensions/vault-lambda-agent in it (build the layer with \`npm run build\`, or point --layer at a layer tree)`);
  }
  return opts;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

async function choosePort(): Promise<number> {
  if (await portIsFree(8200)) return 8200;
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The credentials the login is signed with: the sandbox's identity, or the user's own. */
function credentialsFor(opts: DevOptions, sandbox: Sandbox | undefined): { accessKeyId: string; secretAccessKey: string; sessionToken?: string } {
  if (sandbox) {
    const id = sandbox.identities[0];
    if (!id) throw new UsageError("the sandbox seed declares no identity");
    return { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, ...(id.sessionToken ? { sessionToken: id.sessionToken } : {}) };
  }
  const { AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN } = process.env;
  if (!AWS_ACCESS_KEY_ID || !AWS_SECRET_ACCESS_KEY) {
    throw new UsageError(
      '--vault-addr: the login is signed with your AWS credentials; export AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), e.g. eval "$(aws configure export-credentials --format env)"',
    );
  }
  return { accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY, ...(AWS_SESSION_TOKEN ? { sessionToken: AWS_SESSION_TOKEN } : {}) };
}

/** The function name the sandbox's identity is a session of (…:assumed-role/<role>/<session>). */
function sessionName(arn: string | undefined): string | undefined {
  return arn?.match(/:assumed-role\/[^/]+\/([^/]+)$/)?.[1];
}

export async function runDev(argv: string[], out: (line: string) => void = (l) => console.log(l)): Promise<number> {
  let opts: DevOptions | "help";
  try {
    opts = parseDevArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError || err instanceof TypeError)) throw err;
    out(`vault-lambda-agent dev: ${err.message}\n\n${USAGE}`);
    return 2;
  }
  if (opts === "help") {
    out(USAGE);
    return 0;
  }

  let pythonVersion: string | undefined;
  if (opts.runtime === "python") {
    try {
      pythonVersion = hostPythonVersion(); // before anything starts: without python3 there is nothing to run
    } catch (err) {
      if (!(err instanceof UsageError)) throw err;
      out(`vault-lambda-agent dev: ${err.message}`);
      return 2;
    }
  }

  const sandbox = opts.vaultAddr ? undefined : await startSandbox(opts.seed);
  const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-dev-"));
  let fn: LambdaEmulator | undefined;
  let layer: RunnableLayer | undefined;
  // Ctrl-C: the emulated environment's processes run in their own process groups, possibly
  // frozen; end them (and the sandbox) before leaving, or they would outlive this command; and
  // delete the temporary layer a Python handler runs with.
  const interrupted = (signal: NodeJS.Signals) => {
    out(`\n${signal}: stopping the emulated environment`);
    void Promise.allSettled([fn?.kill(), sandbox?.close()]).then(() => {
      layer?.remove();
      process.exit(130);
    });
  };
  process.once("SIGINT", interrupted).once("SIGTERM", interrupted);
  try {
    layer = runnableLayer(opts.layerDir, opts.runtime);
    const credentials = credentialsFor(opts, sandbox);
    const port = opts.port ?? (await choosePort());
    // Unset against the user's Vault: Vault then uses the role named after the IAM role.
    const authRole = opts.role ?? (sandbox ? "example-fn-role" : undefined);
    const secrets = Object.keys(opts.secrets).length > 0 || opts.vaultAddr ? opts.secrets : { DB: "database/creds/example", CONFIG: "secret/data/example/config" };
    const env: Record<string, string> = {
      VAULT_ADDR: opts.vaultAddr ?? sandbox!.vault.url,
      VAULT_AGENT_PORT: String(port),
      ...(authRole !== undefined ? { VAULT_AUTH_ROLE: authRole } : {}),
      ...Object.fromEntries(Object.entries(secrets).map(([name, p]) => [`VAULT_SECRET_PATH_${name}`, p])),
      ...opts.env,
    };
    const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
    fn = new LambdaEmulator({
      layerDir: layer.dir,
      functionDir: opts.functionDir,
      handler: opts.handler,
      runtime: opts.runtime,
      functionName: (sandbox && sessionName(sandbox.identities[0]?.arn)) || "dev-function",
      credentials,
      region,
      env,
      timeoutMs: 30_000,
      logDir,
    });
    fn.on("log", (source: string, line: string) => {
      if (source === "runtime") out(`  │ ${line}`);
      else if (opts.verbose) out(`  │ [${source}] ${line}`);
    });

    const timeline = new TimelinePrinter(out, sandbox ? () => sandbox.vault.requestLog.map((r) => r.path) : undefined);
    out(
      `vault-lambda-agent dev — ${opts.handler} in ${opts.functionDir}\n  Vault: ${sandbox ? `sandbox ${sandbox.vault.url} (STS test server ${sandbox.sts.url})` : opts.vaultAddr}; localhost API on 127.0.0.1:${port}; secrets: ${Object.keys(secrets).map((s) => s.toLowerCase()).join(", ") || "none"}${pythonVersion !== undefined ? `\n${pythonLine(opts, pythonVersion, layer)}` : ""}\n`,
    );
    timeline.skipSoFar(); // the seeding is not the extension's doing

    let ok = true;
    const init = await fn.start();
    timeline.row("cold start (init)", init.durationMs, init.ok ? "—" : `init failed: ${init.error?.type}: ${init.error?.message}`);
    if (!init.ok) {
      ok = false;
      out(`\n✗ the init failed (${init.error?.source}): ${init.error?.type}: ${init.error?.message}`);
    } else {
      for (let i = 1; i <= opts.invokes; i++) {
        if (i > 1 && opts.freezeMs > 0) {
          await fn.idle(opts.freezeMs);
          timeline.row(`frozen ${opts.freezeMs / 1000}s (SIGSTOP)`, opts.freezeMs, "—");
        }
        const r: InvokeResult = await fn.invoke(opts.event);
        timeline.row(`invoke ${i}`, r.durationMs + r.extensionOverheadMs, r.ok ? describe(r.response) : `${r.error?.errorType}: ${r.error?.errorMessage}`);
        if (!r.ok) ok = false;
      }
    }

    if (init.ok) {
      const sd = await fn.shutdown();
      const code = sd.exitCodes["vault-lambda-agent"];
      const revoked = sandbox
        ? `; revoked: ${sandbox.vault.leases().filter((l) => l.revokeReason === "explicit").length} lease(s), ${sandbox.vault.tokens().filter((t) => t.revokedAt !== undefined).length} token(s)`
        : "";
      timeline.row("shutdown", sd.durationMs, `— extension exit ${code}${revoked}`);
      if (code !== 0) ok = false;
      if (sandbox) {
        const live = sandbox.vault.leases().filter((l) => !l.revokedAt && l.expiresAt > Date.now()).length;
        if (live > 0 && env.VAULT_REVOKE_ON_SHUTDOWN !== "false") {
          ok = false;
          out(`  ✗ ${live} lease(s) left alive in Vault after the shutdown`);
        }
      }
    }
    if (!ok && !opts.verbose) {
      out("\nlast lines of the extension's log:");
      for (const line of fn.logs("vault-lambda-agent").slice(-15)) out(`  ${line}`);
    }
    out(`\n${ok ? "✓ init, every invocation and the shutdown went well" : "✗ something failed (see above)"}; logs: ${logDir}`);
    return ok ? 0 : 1;
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    out(`vault-lambda-agent dev: ${err.message}`);
    return 2;
  } finally {
    process.off("SIGINT", interrupted).off("SIGTERM", interrupted);
    await fn?.kill();
    await sandbox?.close();
    layer?.remove();
  }
}

/** How a Python handler runs here: on which python3, and the extension on which node (and where). */
function pythonLine(opts: DevOptions, version: string, layer: RunnableLayer): string {
  const flag = opts.runtimeFlag?.toLowerCase();
  const named = flag && flag !== "python" && flag !== `python${version}` ? `, not the ${opts.runtimeFlag} you named` : "";
  const extension = layer.temporary
    ? `the extension on this node (${process.version}), linked as bin/node into a temporary copy of the layer (${layer.dir}, removed at exit) as the standalone layer runs on its own Node.js`
    : `the extension on the layer's own Node.js (${path.join(layer.dir, "vault-lambda-agent", "bin", "node")})`;
  return `  Runtime: python ${version} (this machine's python3${named}); ${extension}`;
}

/** A handler's answer on one line, cut to a readable length. */
function describe(response: unknown): string {
  const s = typeof response === "string" ? response : JSON.stringify(response);
  if (s === undefined) return "(no response)";
  return s.length > 160 ? `${s.slice(0, 157)}…` : s;
}
