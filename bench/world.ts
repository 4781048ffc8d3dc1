/**
 * The benchmarks' world: the STS and Vault test servers on loopback (scripts/sandbox.ts), seeded as
 * a deployment would be — an aws auth mount whose role binds the function's IAM role, KV v2
 * secrets, a database role — plus the environment Lambda gives an extension, and the emulator.
 * (test/integration/harness.ts has the same world but imports vitest, so it cannot run here.)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startSandbox, type Sandbox } from "../scripts/sandbox.ts";
import type { StsIdentity } from "../test/peers/sts/server.ts";
import { LambdaEmulator, type EmulatorOptions } from "../test/peers/lambda/emulator.ts";
import { lambdaEnvironments } from "../test/peers/lambda/env.ts";
import { freePort } from "../test/integration/harness.ts";
export { freePort };

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, "..");
export const LAYER_DIR = path.join(ROOT, "layer");
export const LAUNCHER = path.join(LAYER_DIR, "extensions", "vault-lambda-agent");
export const BUNDLE = path.join(LAYER_DIR, "vault-lambda-agent", "index.mjs");
export const FIXTURES = path.join(here, "fixtures");

export const ACCOUNT = "123456789012";
export const FUNCTION_NAME = "bench-fn";
export const ROLE = "bench-role";
const FUNCTION_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/${ROLE}`;
const FUNCTION_SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/${ROLE}/${FUNCTION_NAME}`;

/** The dynamic secret every benchmark reads (a database role, leased and renewable). */
export const DB_PATH = "database/creds/app";
/** A second database role, never declared: a cold key for the proxy's request coalescing. */
export const COLD_DB_PATH = "database/creds/cold";
/** KV v2 secrets `secret/data/app/s<i>`, for the "10 declared secrets" runs. */
export const kvPath = (i: number): string => `secret/data/app/s${i}`;
export const CONFIG_PATH = "secret/data/app/config";

export interface WorldOptions {
  /** Go durations, e.g. "6s". Defaults: token 1h / 4h, database lease 1h / 24h. */
  tokenTtl?: string;
  tokenMaxTtl?: string;
  dbTtl?: string;
  dbMaxTtl?: string;
  /** How many KV secrets `secret/app/s<i>` to write (default 10). */
  kvSecrets?: number;
}

export class BenchWorld {
  private readonly emulators: LambdaEmulator[] = [];
  readonly logDir: string;

  private constructor(
    private readonly sandbox: Sandbox,
    readonly identity: StsIdentity,
  ) {
    this.logDir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-bench-"));
  }

  static async start(opts: WorldOptions = {}): Promise<BenchWorld> {
    const kv: Record<string, Record<string, unknown>> = { "app/config": { api_key: "bench-api-key-5d1e", region: "eu-west-1" } };
    for (let i = 0; i < (opts.kvSecrets ?? 10); i++) kv[`app/s${i}`] = { value: `bench-value-${i}`, index: String(i) };
    const sandbox = await startSandbox({
      identities: [{ arn: FUNCTION_SESSION_ARN, account: ACCOUNT }],
      vault: {
        authMounts: [
          {
            path: "aws",
            roles: {
              [ROLE]: {
                auth_type: "iam",
                bound_iam_principal_arn: [FUNCTION_ROLE_ARN],
                token_policies: ["app"],
                token_ttl: opts.tokenTtl ?? "1h",
                token_max_ttl: opts.tokenMaxTtl ?? "4h",
              },
            },
          },
        ],
        kv: [{ mount: "secret", version: 2, secrets: kv }],
        database: {
          roles: {
            app: { default_ttl: opts.dbTtl ?? "1h", max_ttl: opts.dbMaxTtl ?? "24h" },
            cold: { default_ttl: opts.dbTtl ?? "1h", max_ttl: opts.dbMaxTtl ?? "24h" },
          },
        },
      },
    });
    return new BenchWorld(sandbox, sandbox.identities[0]!);
  }

  get vault(): Sandbox["vault"] {
    return this.sandbox.vault;
  }

  get sessionToken(): string {
    return this.identity.sessionToken ?? "";
  }

  private get credentials(): EmulatorOptions["credentials"] {
    return { accessKeyId: this.identity.accessKeyId, secretAccessKey: this.identity.secretAccessKey, sessionToken: this.sessionToken };
  }

  /** The extension's configuration against this world's Vault (the function's own variables). */
  agentEnv(port: number, secrets: Record<string, string>, extra: Record<string, string> = {}): Record<string, string> {
    const env: Record<string, string> = { VAULT_ADDR: this.vault.url, VAULT_AUTH_ROLE: ROLE, VAULT_AGENT_PORT: String(port), ...extra };
    for (const [name, p] of Object.entries(secrets)) env[`VAULT_SECRET_PATH_${name.toUpperCase()}`] = p;
    return env;
  }

  /**
   * The environment Lambda gives an external extension (the emulator's own rules: Lambda's
   * variables, PATH with this node first, nothing of the host's environment — so no
   * NODE_EXTRA_CA_CERTS), with the function's variables `userEnv`.
   */
  extensionEnv(runtimeApi: string, userEnv: Record<string, string>): Record<string, string> {
    return lambdaEnvironments({
      userEnv,
      runtimeApi,
      credentials: this.credentials,
      region: "eu-west-1",
      functionName: FUNCTION_NAME,
      functionVersion: "$LATEST",
      memoryMb: 512,
      handler: "index.handler",
      layerDir: LAYER_DIR,
      functionDir: FIXTURES,
      runtimeDir: FIXTURES,
    }).extension;
  }

  /** The Lambda emulator with this world's credentials; killed by close(). */
  emulator(opts: Pick<EmulatorOptions, "layerDir" | "functionDir" | "handler" | "env"> & Partial<EmulatorOptions>): LambdaEmulator {
    const emulator = new LambdaEmulator({
      functionName: FUNCTION_NAME,
      credentials: this.credentials,
      region: "eu-west-1",
      memoryMb: 512,
      timeoutMs: 10_000,
      logDir: this.logDir,
      ...opts,
    });
    this.emulators.push(emulator);
    return emulator;
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.emulators.map((e) => e.kill()));
    await this.sandbox.close();
    fs.rmSync(this.logDir, { recursive: true, force: true });
  }
}


export function layerBuilt(): boolean {
  return fs.existsSync(LAUNCHER) && fs.existsSync(BUNDLE);
}
