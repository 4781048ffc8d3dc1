/**
 * The world a real-peer scenario runs in: OpenBao (`bao server -dev`), a throwaway PostgreSQL behind
 * its database secrets engine, the STS test server, and the built layer under the Lambda emulator.
 *
 * Between the extension and OpenBao sits a recording front (a plain HTTP relay): it keeps every
 * request (path, namespace, token accessor) for the assertions and every secret OpenBao issued for
 * the leak scan. OpenBao's AWS auth plugin logs the extension in when the installer could build it.
 * When the Go proxy refused it (see .real/refused/openbao-aws-auth.txt), the front answers
 * `auth/aws/login` itself — it forwards the signed GetCallerIdentity to the STS test server, checks
 * the role's bound ARN, and has OpenBao create the token (`auth/token/create-orphan` with the role's
 * policies, TTL and max TTL) — and every suite using it says so in its name. Everything else (tokens,
 * renewals, leases, KV, database users, namespaces, seal) is OpenBao's own.
 */
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { StsTestServer, makeIdentity, type StsIdentity } from "../peers/sts/server.ts";
import { LambdaEmulator, type EmulatorOptions } from "../peers/lambda/emulator.ts";
import { submitCallerIdentityRequest } from "../peers/vault/sts-forward.ts";
import { parseIamRequestHeaders, headerGet } from "../peers/vault/iam-headers.ts";
import { goParseUrl, goRequestUri } from "../peers/vault/go-compat.ts";
import { ACCOUNT, FUNCTION_NAME, FUNCTION_ROLE_ARN, FUNCTION_SESSION_ARN, LAYER_DIR, freePort, scanLogsForSecrets } from "../integration/harness.ts";
import { AWS_AUTH_PLUGIN, OpenBao, PLUGIN_DIR, Postgres, refusal } from "./peers.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
// The same function identity and layer as the integration tests use.
export { LAYER_DIR, ACCOUNT, FUNCTION_NAME, FUNCTION_ROLE_ARN, FUNCTION_SESSION_ARN } from "../integration/harness.ts";
export const FIXTURES = path.join(here, "fixtures");
export const IAM_SERVER_ID = "vault.example.com";

/** Why the login goes through the front's bridge, or undefined when OpenBao's plugin does it. */
export const LOGIN_BRIDGED = refusal("openbao-aws-auth");
/** Appended to suite names, so that a bridged run says so wherever its results are read. */
export const LOGIN_MODE = LOGIN_BRIDGED
  ? "(login through the test bridge: the Go proxy refused OpenBao's AWS auth plugin)"
  : "(login through OpenBao's AWS auth plugin)";

export interface FrontRecord {
  method: string;
  path: string;
  namespace: string;
  tokenAccessor?: string;
  status: number;
  at: number;
}

export interface BaoWorldOptions {
  role?: { token_ttl?: string; token_max_ttl?: string };
  databaseRole?: { default_ttl: string; max_ttl: string };
  namespace?: string;
}

/** Every string value under keys that carry secrets in Vault's answers. */
function collectSecrets(value: unknown, into: Set<string>): void {
  if (!value || typeof value !== "object") return;
  for (const [k, v] of Object.entries(value)) {
    if (typeof v === "string" && /^(client_token|password|secret_key|security_token|token|id)$/.test(k) && v.length >= 8) into.add(v);
    else collectSecrets(v, into);
  }
}

class Front {
  readonly records: FrontRecord[] = [];
  readonly issued = new Set<string>();
  /** Accessor of every token seen, by token (to attribute requests without logging tokens). */
  private readonly accessors = new Map<string, string>();
  readonly logins: { ok: boolean; accessor?: string; at: number; error?: string }[] = [];
  private server!: http.Server;
  url = "";

  constructor(
    private readonly bao: OpenBao,
    private readonly bridge: { sts: StsTestServer; roles: () => Map<string, BridgedRole> } | undefined,
  ) {}

  async start(): Promise<void> {
    this.server = http.createServer((req, res) =>
      this.handle(req, res).catch((err: unknown) => {
        // OpenBao unreachable (stopping): answer as a gateway would, never reject unhandled.
        if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
        res.end(JSON.stringify({ errors: [`front: ${(err as Error).message}`] }));
      }),
    );
    const port = await freePort();
    await new Promise<void>((resolve) => this.server.listen(port, "127.0.0.1", resolve));
    this.url = `http://127.0.0.1:${port}`;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const url = req.url ?? "/";
    const namespace = String(req.headers["x-vault-namespace"] ?? "");
    const token = String(req.headers["x-vault-token"] ?? "");
    const logical = url.replace(/^\/v1\//, "").split("?")[0]!;
    let status: number;
    let answer: Buffer;
    let headers: Record<string, string> = { "content-type": "application/json" };
    if (this.bridge && req.method === "POST" && /(^|\/)auth\/aws\/login$/.test(logical)) {
      ({ status, answer } = await this.bridgedLogin(body, namespace, logical));
    } else {
      const fwd: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && !["host", "connection", "content-length"].includes(k)) fwd[k] = v;
      const r = await fetch(this.bao.url + url, { method: req.method, headers: fwd, body: ["GET", "HEAD"].includes(req.method ?? "GET") ? undefined : body });
      status = r.status;
      answer = Buffer.from(await r.arrayBuffer());
      headers = { "content-type": r.headers.get("content-type") ?? "application/json" };
      if (/(^|\/)auth\/aws\/login$/.test(logical)) this.noteLogin(status, answer);
    }
    try {
      collectSecrets(JSON.parse(answer.toString("utf8")), this.issued);
      const auth = JSON.parse(answer.toString("utf8"))?.auth;
      if (auth?.client_token && auth?.accessor) this.accessors.set(auth.client_token, auth.accessor);
    } catch {}
    this.records.push({ method: req.method ?? "", path: logical, namespace, tokenAccessor: this.accessors.get(token), status, at: Date.now() });
    res.writeHead(status, headers);
    res.end(answer);
  }

  private noteLogin(status: number, answer: Buffer): void {
    let json: any;
    try {
      json = JSON.parse(answer.toString("utf8"));
    } catch {}
    this.logins.push({ ok: status === 200, accessor: json?.auth?.accessor, at: Date.now(), error: json?.errors?.join("; ") });
  }

  /** AWS auth's IAM login, as the plugin does it, then OpenBao creates the token. */
  private async bridgedLogin(body: Buffer, namespace: string, logical: string): Promise<{ status: number; answer: Buffer }> {
    const fail = (status: number, error: string) => {
      this.logins.push({ ok: false, at: Date.now(), error });
      return { status, answer: Buffer.from(JSON.stringify({ errors: [error] })) };
    };
    let input: any;
    try {
      input = JSON.parse(body.toString("utf8"));
    } catch {
      return fail(400, "failed to parse JSON input");
    }
    const role = this.bridge!.roles().get(`${namespace}|${logical}|${input.role}`);
    if (!role) return fail(400, `entry for role ${input.role} not found`);
    try {
      const headers = parseIamRequestHeaders(input.iam_request_headers);
      if (headerGet(headers, "X-Vault-AWS-IAM-Server-ID") !== IAM_SERVER_ID) return fail(400, 'missing header "X-Vault-AWS-IAM-Server-ID"');
      const url = goParseUrl(Buffer.from(String(input.iam_request_url), "base64").toString("utf8"));
      const caller = await submitCallerIdentityRequest({
        endpoint: this.bridge!.sts.url,
        method: String(input.iam_http_request_method),
        requestUri: goRequestUri(url),
        host: url.host,
        body: Buffer.from(String(input.iam_request_body), "base64").toString("utf8"),
        headers,
        maxRetries: 0,
      });
      const m = /^arn:aws:sts::(\d+):assumed-role\/([^/]+)\//.exec(caller.arn);
      const canonical = m ? `arn:aws:iam::${m[1]}:role/${m[2]}` : caller.arn;
      if (canonical !== role.boundArn) return fail(403, `IAM Principal "${caller.arn}" does not belong to the role "${input.role}"`);
      const created = await this.bao.api(
        "POST",
        "auth/token/create-orphan",
        { policies: role.policies, ttl: role.ttl, explicit_max_ttl: role.maxTtl, renewable: true, display_name: `aws-${caller.arn}`, meta: { role: input.role, account_id: caller.account, canonical_arn: canonical } },
        { namespace },
      );
      if (created.status !== 200) return fail(created.status, created.text);
      this.logins.push({ ok: true, accessor: created.json.auth.accessor, at: Date.now() });
      return { status: 200, answer: Buffer.from(created.text) };
    } catch (err) {
      return fail(400, `error making upstream request: ${(err as Error).message}`);
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((r) => this.server.close(r));
  }
}

interface BridgedRole {
  boundArn: string;
  policies: string[];
  ttl: string;
  maxTtl: string;
}

export class BaoWorld {
  readonly logDir: string;
  private readonly emulators: LambdaEmulator[] = [];
  private readonly bridgedRoles = new Map<string, BridgedRole>();
  front!: Front;

  private constructor(
    readonly sts: StsTestServer,
    readonly bao: OpenBao,
    readonly pg: Postgres,
    readonly identity: StsIdentity,
    logDir: string,
    readonly namespace: string,
  ) {
    this.logDir = logDir;
  }

  static async start(opts: BaoWorldOptions = {}): Promise<BaoWorld> {
    const logDir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-real-logs-"));
    const identity = makeIdentity({ arn: FUNCTION_SESSION_ARN, account: ACCOUNT });
    const sts = await StsTestServer.start({ identities: [identity] });
    const [bao, pg] = await Promise.all([OpenBao.start({ logDir, pluginDir: LOGIN_BRIDGED ? undefined : PLUGIN_DIR }), Postgres.start({ logDir })]);
    const world = new BaoWorld(sts, bao, pg, identity, logDir, opts.namespace ?? "");
    try {
      world.front = new Front(bao, LOGIN_BRIDGED ? { sts, roles: () => world.bridgedRoles } : undefined);
      await world.front.start();
      await world.seed(opts);
    } catch (err) {
      await world.close();
      throw err;
    }
    return world;
  }

  private async seed(opts: BaoWorldOptions): Promise<void> {
    const ns = this.namespace ? { namespace: this.namespace } : {};
    if (this.namespace) await this.bao.must("POST", `sys/namespaces/${this.namespace}`, {});
    await this.bao.must(
      "POST",
      "sys/policies/acl/app",
      { policy: 'path "secret/data/*" { capabilities = ["read"] }\npath "database/creds/*" { capabilities = ["read"] }\npath "sys/leases/*" { capabilities = ["update"] }' },
      ns,
    );
    if (this.namespace) await this.bao.must("POST", "sys/mounts/secret", { type: "kv", options: { version: "2" } }, ns);
    await this.bao.must("POST", "secret/data/app/config", { data: { api_key: "kv-api-key-7f3a9c", region: "eu-west-1" } }, ns);
    await this.pg.mountInto(this.bao, opts.databaseRole ?? { default_ttl: "1h", max_ttl: "24h" }, this.namespace || undefined);
    const role = { token_ttl: opts.role?.token_ttl ?? "1h", token_max_ttl: opts.role?.token_max_ttl ?? "4h" };
    if (LOGIN_BRIDGED) {
      this.bridgedRoles.set(`${this.namespace}|auth/aws/login|fn-role`, { boundArn: FUNCTION_ROLE_ARN, policies: ["app"], ttl: role.token_ttl, maxTtl: role.token_max_ttl });
      return;
    }
    await this.bao.must("POST", "sys/auth/aws", { type: AWS_AUTH_PLUGIN }, ns);
    await this.bao.must("POST", "auth/aws/config/client", { sts_endpoint: this.sts.url, iam_server_id_header_value: IAM_SERVER_ID }, ns);
    await this.bao.must(
      "POST",
      "auth/aws/role/fn-role",
      { auth_type: "iam", bound_iam_principal_arn: [FUNCTION_ROLE_ARN], resolve_aws_unique_ids: false, token_policies: ["app"], ...role },
      ns,
    );
  }

  /** The built layer under the emulator, pointed at the front. */
  async lambda(env: Record<string, string>, opts: Partial<EmulatorOptions> = {}): Promise<LambdaEmulator> {
    const port = await freePort();
    const emulator = new LambdaEmulator({
      layerDir: LAYER_DIR,
      functionDir: FIXTURES,
      handler: "pg-probe.handler",
      functionName: FUNCTION_NAME,
      credentials: { accessKeyId: this.identity.accessKeyId, secretAccessKey: this.identity.secretAccessKey, sessionToken: this.identity.sessionToken },
      region: "eu-west-1",
      timeoutMs: 30_000,
      initTimeoutMs: 30_000,
      logDir: this.logDir,
      ...opts,
      env: {
        VAULT_ADDR: this.front.url,
        VAULT_AUTH_ROLE: "fn-role",
        VAULT_IAM_SERVER_ID: IAM_SERVER_ID,
        VAULT_AGENT_PORT: String(port),
        VAULT_LOG_LEVEL: "debug",
        PG_PORT: String(this.pg.port),
        ...(this.namespace ? { VAULT_NAMESPACE: this.namespace } : {}),
        ...env,
      },
    } as EmulatorOptions);
    this.emulators.push(emulator);
    return emulator;
  }

  get logins() {
    return this.front.logins;
  }

  /** `sys/leases/lookup` for a lease: its TTL, or undefined once OpenBao no longer knows it. */
  async leaseTtl(leaseId: string): Promise<number | undefined> {
    const r = await this.bao.api("PUT", "sys/leases/lookup", { lease_id: leaseId }, { namespace: this.namespace || undefined });
    return r.status === 200 ? Number(r.json.data.ttl) : undefined;
  }

  /** Whether OpenBao still knows a token, by accessor. */
  async tokenAlive(accessor: string): Promise<boolean> {
    const r = await this.bao.api("POST", "auth/token/lookup-accessor", { accessor }, { namespace: this.namespace || undefined });
    return r.status === 200;
  }

  /** Polls until `check` holds (bounded): OpenBao revokes expired leases on its own schedule. */
  async eventually(what: string, check: () => Promise<boolean>, timeoutMs = 60_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > until) throw new Error(`${what}: still false after ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }

  /** Every line of every process checked against every secret the peers issued or saw. */
  leakScan(): { lines: number; secrets: number } {
    return scanLogsForSecrets(
      this.logDir,
      [...this.sts.issuedSecrets(), ...this.front.issued, this.identity.secretAccessKey, this.identity.sessionToken, this.bao.rootToken, this.pg.adminPassword],
      // OpenBao's and PostgreSQL's own logs are theirs, not the extension's.
      (file) => /^(openbao|postgres)-/.test(file),
    );
  }

  async close(): Promise<void> {
    await Promise.allSettled(this.emulators.map((e) => e.kill()));
    await Promise.allSettled([this.front?.close(), this.sts.close()]);
    await Promise.allSettled([this.bao.stop(), this.pg.stop()]);
    fs.rmSync(this.logDir, { recursive: true, force: true });
  }
}
