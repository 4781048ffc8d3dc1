/**
 * The world an integration test runs in: the STS and Vault test servers on loopback, seeded like a
 * real deployment (an aws auth mount whose role binds the function's IAM role, a KV v2 secret, a
 * database role, AWS roles), and the built layer run by the Lambda emulator. Every process's output
 * is kept, so that the leak scan can check it against every secret the peers issued.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, type TestContext } from "vitest";
import { StsTestServer, makeIdentity, type StsIdentity } from "../peers/sts/server.ts";
import { VaultTestServer } from "../peers/vault/server.ts";
import { seedVault, type VaultSeed } from "../peers/vault/seed.ts";
import { LambdaEmulator, type EmulatorOptions } from "../peers/lambda/emulator.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, "../..");
export const LAYER_DIR = path.join(ROOT, "layer");
export const FIXTURES = path.join(here, "fixtures");

export const ACCOUNT = "123456789012";
export const FUNCTION_NAME = "orders-api";
export const FUNCTION_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/fn-role`;
export const FUNCTION_SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/fn-role/${FUNCTION_NAME}`;

export interface WorldOptions {
  /** Role settings of the aws auth role `fn-role`. */
  role?: Record<string, unknown>;
  /** Extra `config/client` fields of the aws auth mount. */
  authConfig?: Record<string, unknown>;
  databaseRole?: { default_ttl: string | number; max_ttl: string | number };
  awsLease?: { lease: string; lease_max: string };
  kv?: Record<string, Record<string, unknown>>;
  /** Seed everything inside this Vault namespace (auth mount included). */
  namespace?: string;
}

export class World {
  readonly logDir: string;
  private readonly emulators: LambdaEmulator[] = [];

  private constructor(
    readonly sts: StsTestServer,
    readonly vault: VaultTestServer,
    readonly identity: StsIdentity,
  ) {
    this.logDir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-logs-"));
  }

  static async start(opts: WorldOptions = {}): Promise<World> {
    const identity = makeIdentity({ arn: FUNCTION_SESSION_ARN, account: ACCOUNT });
    const sts = await StsTestServer.start({ identities: [identity] });
    const vault = await VaultTestServer.start({ defaultStsEndpoint: sts.url });
    const world = new World(sts, vault, identity);
    await seedVault(vault.url, vault.rootToken, world.seed(opts));
    return world;
  }

  seed(opts: WorldOptions): VaultSeed {
    return {
      namespace: opts.namespace,
      authMounts: [
        {
          path: "aws",
          config: { sts_endpoint: this.sts.url, ...opts.authConfig },
          roles: {
            "fn-role": { auth_type: "iam", bound_iam_principal_arn: [FUNCTION_ROLE_ARN], token_policies: ["app"], token_ttl: "1h", token_max_ttl: "4h", ...opts.role },
          },
        },
      ],
      kv: [{ mount: "secret", version: 2, secrets: opts.kv ?? { "app/config": { api_key: "kv-api-key-7f3a9c", region: "eu-west-1" } } }],
      database: { roles: { app: opts.databaseRole ?? { default_ttl: "1h", max_ttl: "24h" } } },
      aws: {
        lease: opts.awsLease ?? { lease: "1h", lease_max: "24h" },
        roles: {
          deploy: { credential_type: "iam_user", policy_arns: ["arn:aws:iam::aws:policy/ReadOnlyAccess"] },
          uploader: { credential_type: "assumed_role", role_arns: [`arn:aws:iam::${ACCOUNT}:role/uploader`], default_sts_ttl: "1h", max_sts_ttl: "12h" },
        },
      },
    };
  }

  /** The built layer under the emulator, with the extension pointed at this world's Vault. */
  async lambda(env: Record<string, string>, opts: Partial<EmulatorOptions> & { handler?: string } = {}): Promise<LambdaEmulator> {
    const port = await freePort();
    const emulator = new LambdaEmulator({
      layerDir: LAYER_DIR,
      functionDir: FIXTURES,
      handler: opts.handler ?? "probe.handler",
      functionName: FUNCTION_NAME,
      credentials: { accessKeyId: this.identity.accessKeyId, secretAccessKey: this.identity.secretAccessKey, sessionToken: this.identity.sessionToken },
      region: "eu-west-1",
      timeoutMs: 10_000,
      logDir: this.logDir,
      ...opts,
      env: { VAULT_ADDR: this.vault.url, VAULT_AUTH_ROLE: "fn-role", VAULT_AGENT_PORT: String(port), VAULT_LOG_LEVEL: "debug", ...env },
    });
    this.emulators.push(emulator);
    // What the extension sent Lambda in init/error and exit/error, every field of it, is scanned too.
    emulator.on("error-report", (call: string, source: string, type: string, body: string) => this.keepForScan("extension-error-bodies", `${call} ${source} ${type} ${body}`));
    return emulator;
  }

  /** Error answers the handler got (status 0 or ≥ 400) go to the leak scan: an error body must never carry a secret. */
  scanAnswers(answers: Iterable<ProbeResult>): void {
    for (const a of answers) if (a.status === 0 || a.status >= 400) this.keepForScan("handler-error-bodies", `${a.status} ${a.text ?? a.error ?? ""}`);
  }

  private keepForScan(name: string, text: string): void {
    fs.appendFileSync(path.join(this.logDir, `${name}.txt`), `${text}\n`);
  }

  /**
   * New temporary credentials of the function's role, known to STS, in a session of their own (so
   * that Vault's login record tells which key pair signed): what a SnapStart restore hands out.
   */
  newCredentials(session: string): StsIdentity {
    const identity = makeIdentity({ arn: `arn:aws:sts::${ACCOUNT}:assumed-role/fn-role/${session}`, account: ACCOUNT });
    this.sts.addIdentity(identity);
    return identity;
  }

  get sessionToken(): string {
    return this.identity.sessionToken ?? "";
  }

  /**
   * Every line every process wrote, every init/error and exit/error body the extension sent Lambda,
   * and every error answer given to `scanAnswers` is checked against every token, password, secret
   * key and signature the peers issued or saw: none may appear.
   */
  leakScan(): { lines: number; secrets: number } {
    const reported = this.emulators.flatMap((e) => e.timeline.filter((t) => t.what === "init/error" || t.what === "exit/error").map((t) => t.detail ?? ""));
    return scanLogsForSecrets(this.logDir, [...this.sts.issuedSecrets(), ...this.vault.issuedSecrets(), this.identity.secretAccessKey, this.sessionToken], undefined, reported);
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.emulators.map((e) => e.kill()));
    await Promise.allSettled([this.vault.close(), this.sts.close()]);
  }
}

/**
 * One World for a test file: started before its tests, handed to `set`; after them, the leak scan
 * over every line it logged, then closed (closed even when the scan fails).
 */
export function useWorld(set: (world: World) => void, opts: WorldOptions = {}): void {
  let world: World | undefined;
  beforeAll(async () => {
    world = await World.start(opts);
    set(world);
  });
  afterAll(async () => {
    if (!world) return;
    try {
      world.leakScan();
    } finally {
      await world.close();
    }
  });
}

/** A World for one test, leak-scanned and closed when that test ends. */
export async function worldForTest(opts: WorldOptions, ctx: TestContext): Promise<World> {
  const world = await World.start(opts);
  ctx.onTestFinished(async () => {
    try {
      world.leakScan();
    } finally {
      await world.close();
    }
  });
  return world;
}

/**
 * Every line of every log file in `logDir` (but those `skip` names), and every `init/error` or
 * `exit/error` body given in `reported`, is checked against every secret given, as is and
 * JSON-escaped (values shorter than 8 characters are too common to mean anything): none may appear.
 */
export function scanLogsForSecrets(
  logDir: string,
  candidates: Iterable<string | undefined>,
  skip: (file: string) => boolean = () => false,
  reported: string[] = [],
): { lines: number; secrets: number } {
  const given = [...new Set(candidates)].filter((s): s is string => typeof s === "string" && s.length >= 8);
  const secrets = [...new Set([...given, ...given.map((s) => JSON.stringify(s).slice(1, -1))])];
  let lines = 0;
  const leaks: string[] = [];
  for (const body of reported) {
    lines++;
    for (const s of secrets) if (body.includes(s)) leaks.push(`an init/error or exit/error body holds a secret issued by a peer: ${body.replace(s, "<SECRET>").slice(0, 300)}`);
  }
  for (const file of fs.readdirSync(logDir)) {
    if (skip(file) || !fs.statSync(path.join(logDir, file)).isFile()) continue;
    for (const line of fs.readFileSync(path.join(logDir, file), "utf8").split("\n")) {
      if (!line) continue;
      lines++;
      for (const s of secrets) if (line.includes(s)) leaks.push(`${file}: a secret issued by a peer appears in: ${line.replace(s, "<SECRET>").slice(0, 300)}`);
    }
  }
  expect(leaks).toEqual([]);
  return { lines, secrets: given.length };
}

/**
 * A free port for a listener that binds later (the extension's, in another process). Chosen below
 * the ephemeral range: a port freed inside it can be taken by any outgoing connection on the
 * machine before the extension binds it (seen under load: EADDRINUSE at init). Checked free by
 * binding it once; the kernel's choice is the fallback.
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  for (let i = 0; i < 50; i++) {
    const port = 10_000 + Math.floor(Math.random() * (low - 10_000));
    if (await listenOnce(port).then(() => true, () => false)) return port;
  }
  return listenOnce(0);
}

/** The start of the ephemeral port range (Linux's default when it cannot be read; macOS starts higher). */
function ephemeralLow(): number {
  try {
    const low = Number(fs.readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > 11_000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

function listenOnce(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(port, "127.0.0.1", () => {
      const bound = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(bound));
    });
  });
}

/** Probe-handler result helpers. */
export interface ProbeResult {
  status: number;
  xCache?: string | null;
  text?: string;
  json?: any;
  contentType?: string | null;
  error?: string;
  /** When the handler sent the request (epoch ms), and how long the answer took. */
  at?: number;
  ms?: number;
}

export function results(invoke: { response?: unknown }): ProbeResult[] {
  return (invoke.response as { results: ProbeResult[] }).results;
}

/** Fails (never skips) a test that needs the built layer when it is missing. */
export function requireLayerBuilt(): void {
  if (!fs.existsSync(path.join(LAYER_DIR, "extensions", "vault-lambda-agent"))) throw new Error("the layer is not built: run npm run build (npm test does)");
}
