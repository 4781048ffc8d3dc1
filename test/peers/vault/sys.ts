/**
 * The `sys/` backend: mounts and auth methods (enable, disable, tune, list), namespaces,
 * health and seal status, KV version detection (`sys/internal/ui/mounts`), and the lease
 * endpoints (delegated to leases.ts). Configuration endpoints require the root token.
 */
import { AwsAuthBackend, type AwsAuthEnvironment } from "./aws-auth.ts";
import { AwsSecretsEngine } from "./aws-secrets.ts";
import { DurationParseError, parseDurationSeconds } from "./clock.ts";
import { DatabaseEngine } from "./database.ts";
import {
  badRequest,
  notFound,
  permissionDenied,
  unsupportedOperation,
  unsupportedPath,
  VaultHttpError,
} from "./errors.ts";
import { getMap, getString, has, NO_CONTENT, ok } from "./fields.ts";
import { goQuote } from "./go-compat.ts";
import { base62, uuid } from "./ids.ts";
import { KvEngine } from "./kv.ts";
import { handleLeasePath } from "./leases.ts";
import type { AuthMountEntry, MountEntry, MountTtlConfig, NamespaceState, VaultState } from "./state.ts";
import type { HandlerResult, SecretsEngine, VaultRequest } from "./types.ts";

export interface SysEnvironment {
  state: VaultState;
  auth: AwsAuthEnvironment;
  version: string;
  clusterName: string;
  clusterId: string;
}

const PROTECTED_PREFIXES = ["sys/", "auth/", "cubbyhole/", "identity/"];

/** `sanitizeMountPath`: no leading slash, exactly one trailing slash. */
export function sanitizeMountPath(path: string): string {
  let p = path.replace(/^\/+/, "");
  if (!p.endsWith("/")) p += "/";
  return p;
}

function parseTtlConfig(config: Record<string, unknown> | undefined, base: MountTtlConfig): MountTtlConfig {
  const out = { ...base };
  if (!config) return out;
  const parse = (key: string, label: string): number | undefined => {
    const raw = config[key];
    if (raw === undefined || raw === "") return undefined;
    if (raw === "system") return 0;
    try {
      return parseDurationSeconds(raw);
    } catch (e) {
      if (e instanceof DurationParseError) throw badRequest(`unable to parse ${label} of ${String(raw)}: ${e.message}`);
      throw e;
    }
  };
  const def = parse("default_lease_ttl", "default TTL");
  const max = parse("max_lease_ttl", "max TTL");
  if (def !== undefined) out.defaultLeaseTtl = def;
  if (max !== undefined) out.maxLeaseTtl = max;
  if (out.maxLeaseTtl !== 0 && out.defaultLeaseTtl > out.maxLeaseTtl) {
    throw badRequest("given default lease TTL greater than given max lease TTL");
  }
  return out;
}

function mountInfo(
  version: string,
  m: { type: string; description: string; accessor: string; uuid: string; config: MountTtlConfig; options: Record<string, string> | null },
): Record<string, unknown> {
  return {
    accessor: m.accessor,
    config: {
      default_lease_ttl: m.config.defaultLeaseTtl,
      force_no_cache: false,
      max_lease_ttl: m.config.maxLeaseTtl,
    },
    description: m.description,
    external_entropy_access: false,
    local: false,
    options: m.options ? { ...m.options } : null,
    plugin_version: "",
    running_plugin_version: `v${version}+builtin.vault`,
    running_sha256: "",
    seal_wrap: false,
    type: m.type,
    uuid: m.uuid,
  };
}

export class SysBackend {
  constructor(private readonly env: SysEnvironment) {}

  private get state(): VaultState {
    return this.env.state;
  }

  /** Creates the engine for a `sys/mounts` type, or throws Vault's catalog error. */
  private createEngine(type: string, options: Record<string, string>): { engine: SecretsEngine; type: string; options: Record<string, string> | null } {
    switch (type) {
      case "kv":
      case "generic":
        return options["version"] === "2"
          ? { engine: new KvEngine(2), type: "kv", options: { version: "2" } }
          : { engine: new KvEngine(1), type: "kv", options: { version: "1" } };
      case "kv-v2":
        return { engine: new KvEngine(2), type: "kv", options: { version: "2" } };
      case "database":
        return { engine: new DatabaseEngine(this.state), type, options: null };
      case "aws":
        return { engine: new AwsSecretsEngine(this.state), type, options: null };
      default:
        throw badRequest(`plugin not found in the catalog: ${type}`);
    }
  }

  /** Enables a secrets engine (used by HTTP and by the dev-mode `secret/` mount). */
  enableMount(ns: NamespaceState, rawPath: string, type: string, options: Record<string, string>, config: MountTtlConfig, description = ""): MountEntry {
    const path = sanitizeMountPath(rawPath);
    if (PROTECTED_PREFIXES.some((p) => path.startsWith(p))) throw badRequest(`cannot mount under a protected path: ${goQuote(path)}`);
    for (const existing of ns.mounts.keys()) {
      if (path.startsWith(existing) || existing.startsWith(path)) throw badRequest(`path is already in use at ${existing}`);
    }
    const created = this.createEngine(type, options);
    const entry: MountEntry = {
      path,
      type: created.type,
      description,
      accessor: `${created.type}_${base62(8).toLowerCase()}`,
      uuid: uuid(),
      config,
      options: created.options,
      engine: created.engine,
      namespace: ns,
    };
    ns.mounts.set(path, entry);
    return entry;
  }

  enableAuth(ns: NamespaceState, rawPath: string, type: string, config: MountTtlConfig, description = ""): AuthMountEntry {
    const path = sanitizeMountPath(rawPath);
    if (type !== "aws") throw badRequest(`plugin not found in the catalog: ${type}`);
    if (path === "token/") throw badRequest("token credential backend cannot be instantiated");
    for (const existing of ns.authMounts.keys()) {
      if (path.startsWith(existing) || existing.startsWith(path)) throw badRequest(`path is already in use at auth/${existing}`);
    }
    const entry: AuthMountEntry = {
      path,
      type: "aws",
      description,
      accessor: `auth_aws_${base62(8).toLowerCase()}`,
      uuid: uuid(),
      config,
      namespace: ns,
      backend: new AwsAuthBackend(this.env.auth),
    };
    ns.authMounts.set(path, entry);
    return entry;
  }

  handle(req: VaultRequest, sub: string): HandlerResult {
    if (sub === "health") return this.health(req);
    if (sub === "seal-status") return this.sealStatus();
    if (sub.startsWith("leases/") || /^(renew|revoke)(\/|$)/.test(sub)) return handleLeasePath(req, sub);
    if (sub === "internal/ui/mounts" || sub.startsWith("internal/ui/mounts/")) return this.uiMounts(req, sub.slice("internal/ui/mounts".length).replace(/^\//, ""));
    if (sub === "mounts" || sub.startsWith("mounts/")) return this.rootOnly(req, () => this.mounts(req, sub.slice("mounts".length).replace(/^\//, "")));
    if (sub === "auth" || sub.startsWith("auth/")) return this.rootOnly(req, () => this.auths(req, sub.slice("auth".length).replace(/^\//, "")));
    if (sub === "namespaces" || sub.startsWith("namespaces/")) {
      return this.rootOnly(req, () => this.namespaces(req, sub.slice("namespaces".length).replace(/^\//, "")));
    }
    throw unsupportedPath();
  }

  private rootOnly(req: VaultRequest, f: () => HandlerResult): HandlerResult {
    if (!req.token?.root) throw permissionDenied();
    return f();
  }

  // ---- health ---------------------------------------------------------------------------

  private health(req: VaultRequest): HandlerResult {
    if (req.op !== "read") throw new VaultHttpError(405, []);
    const q = req.query;
    const code = (name: string, fallback: number): number => {
      const v = q.get(name);
      if (v === null) return fallback;
      if (!/^[+-]?\d+$/.test(v)) throw new VaultHttpError(400, []);
      return Number.parseInt(v, 10);
    };
    for (const b of ["standbyok", "perfstandbyok"]) {
      const v = q.get(b);
      if (v !== null && !["1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False", ""].includes(v)) {
        throw new VaultHttpError(400, []);
      }
    }
    code("uninitcode", 501);
    const sealedCode = code("sealedcode", 503);
    code("standbycode", 429);
    const activeCode = code("activecode", 200);
    code("drsecondarycode", 472);
    code("performancestandbycode", 473);
    const sealed = this.state.sealed;
    const body: Record<string, unknown> = {
      initialized: true,
      sealed,
      standby: sealed,
      performance_standby: false,
      replication_performance_mode: sealed ? "unknown" : "disabled",
      replication_dr_mode: sealed ? "unknown" : "disabled",
      server_time_utc: Math.floor(Date.now() / 1000),
      version: this.env.version,
    };
    if (!sealed) {
      body["cluster_name"] = this.env.clusterName;
      body["cluster_id"] = this.env.clusterId;
    }
    return { status: sealed ? sealedCode : activeCode, body };
  }

  private sealStatus(): HandlerResult {
    const sealed = this.state.sealed;
    const body: Record<string, unknown> = {
      type: "shamir",
      initialized: true,
      sealed,
      t: 1,
      n: 1,
      progress: 0,
      nonce: "",
      version: this.env.version,
      build_date: "2024-01-01T00:00:00Z",
      migration: false,
      recovery_seal: false,
      storage_type: "inmem",
    };
    if (!sealed) {
      body["cluster_name"] = this.env.clusterName;
      body["cluster_id"] = this.env.clusterId;
    }
    return { status: 200, body };
  }

  // ---- mounts ---------------------------------------------------------------------------

  private mounts(req: VaultRequest, rest: string): HandlerResult {
    const ns = req.ns;
    if (rest === "") {
      if (req.op !== "read") throw unsupportedOperation();
      const data: Record<string, unknown> = {};
      for (const m of ns.mounts.values()) data[m.path] = mountInfo(this.env.version, m);
      return ok({ data, mountType: "system" });
    }
    const tune = /^(.*)\/tune$/.exec(rest);
    if (tune) {
      const m = ns.mounts.get(sanitizeMountPath(tune[1] as string));
      if (!m) throw badRequest(`cannot fetch sysview for path ${goQuote(sanitizeMountPath(tune[1] as string))}`);
      return this.tune(req, m, m.options);
    }
    const path = sanitizeMountPath(rest);
    switch (req.op) {
      case "read": {
        const m = ns.mounts.get(path);
        if (!m) throw badRequest(`No secret engine mount at ${path}`);
        return ok({ data: mountInfo(this.env.version, m), mountType: "system" });
      }
      case "update": {
        const type = getString(req.data, "type");
        if (type === "") throw badRequest("backend type must be specified as a string");
        const options = Object.fromEntries(Object.entries(getMap(req.data, "options") ?? {}).map(([k, v]) => [k, String(v)]));
        const config = parseTtlConfig(getMap(req.data, "config"), { defaultLeaseTtl: 0, maxLeaseTtl: 0 });
        this.enableMount(ns, path, type, options, config, getString(req.data, "description"));
        return NO_CONTENT;
      }
      case "delete": {
        const m = ns.mounts.get(path);
        if (m) {
          const now = Date.now();
          this.state.sweep(now);
          for (const l of this.state.leases.values()) if (l.mount === m) this.state.revokeLease(l, "mount-disabled", now);
          ns.mounts.delete(path);
        }
        return NO_CONTENT;
      }
      default:
        throw unsupportedOperation();
    }
  }

  private tune(req: VaultRequest, m: { description: string; config: MountTtlConfig }, options: Record<string, string> | null): HandlerResult {
    if (req.op === "read") {
      return ok({
        data: {
          default_lease_ttl: this.state.mountDefaultTtl(m.config),
          max_lease_ttl: this.state.mountMaxTtl(m.config),
          force_no_cache: false,
          description: m.description,
          options: options ? { ...options } : null,
        },
        mountType: "system",
      });
    }
    if (req.op !== "update") throw unsupportedOperation();
    m.config = parseTtlConfig(req.data, m.config);
    if (has(req.data, "description")) m.description = getString(req.data, "description");
    return NO_CONTENT;
  }

  private auths(req: VaultRequest, rest: string): HandlerResult {
    const ns = req.ns;
    if (rest === "") {
      if (req.op !== "read") throw unsupportedOperation();
      const data: Record<string, unknown> = {
        "token/": {
          accessor: "auth_token_root",
          config: { default_lease_ttl: 0, force_no_cache: false, max_lease_ttl: 0, token_type: "default-service" },
          description: "token based credentials",
          local: false,
          options: null,
          seal_wrap: false,
          type: "token",
          uuid: "00000000-0000-0000-0000-000000000000",
        },
      };
      for (const a of ns.authMounts.values()) data[a.path] = mountInfo(this.env.version, { ...a, options: null });
      return ok({ data, mountType: "system" });
    }
    const tune = /^(.*)\/tune$/.exec(rest);
    if (tune) {
      const a = ns.authMounts.get(sanitizeMountPath(tune[1] as string));
      if (!a) throw badRequest(`cannot fetch sysview for path ${goQuote(`auth/${sanitizeMountPath(tune[1] as string)}`)}`);
      return this.tune(req, a, null);
    }
    const path = sanitizeMountPath(rest);
    switch (req.op) {
      case "read": {
        const a = ns.authMounts.get(path);
        if (!a) throw badRequest(`No auth engine at auth/${path}`);
        return ok({ data: mountInfo(this.env.version, { ...a, options: null }), mountType: "system" });
      }
      case "update": {
        const type = getString(req.data, "type");
        if (type === "") throw badRequest("backend type must be specified as a string");
        const config = parseTtlConfig(getMap(req.data, "config"), { defaultLeaseTtl: 0, maxLeaseTtl: 0 });
        this.enableAuth(ns, path, type, config, getString(req.data, "description"));
        return NO_CONTENT;
      }
      case "delete": {
        const a = ns.authMounts.get(path);
        if (a) {
          const now = Date.now();
          for (const t of this.state.tokens.values()) {
            if (t.auth?.mount === a && t.revokedAtMs === undefined) this.state.revokeToken(t, "mount-disabled", now);
          }
          ns.authMounts.delete(path);
        }
        return NO_CONTENT;
      }
      default:
        throw unsupportedOperation();
    }
  }

  // ---- namespaces -----------------------------------------------------------------------

  private namespaces(req: VaultRequest, name: string): HandlerResult {
    const parent = req.ns;
    const children = this.state.allNamespaces().filter((n) => n.parent === parent);
    const info = (n: NamespaceState) => ({ id: n.id, path: n.path, custom_metadata: { ...n.customMetadata } });
    if (name === "" || req.op === "list") {
      if (req.op !== "list") throw unsupportedOperation();
      if (children.length === 0) throw notFound();
      const keyInfo: Record<string, unknown> = {};
      for (const c of children) keyInfo[c.path.slice(parent.path.length)] = info(c);
      return ok({ data: { keys: Object.keys(keyInfo).sort(), key_info: keyInfo }, mountType: "system" });
    }
    const clean = name.replace(/\/+$/, "");
    if (clean.includes("/")) throw badRequest(`namespace name ${goQuote(clean)} must not contain "/"; create nested namespaces from their parent`);
    const existing = this.state.getNamespace(`${parent.path}${clean}/`);
    switch (req.op) {
      case "read":
        if (!existing) throw notFound();
        return ok({ data: info(existing), mountType: "system" });
      case "update": {
        const ns = existing ?? this.state.createNamespace(parent, clean);
        const meta = getMap(req.data, "custom_metadata");
        if (meta) ns.customMetadata = Object.fromEntries(Object.entries(meta).map(([k, v]) => [k, String(v)]));
        return ok({ data: info(ns), mountType: "system" });
      }
      case "delete":
        if (existing) this.state.deleteNamespace(existing, Date.now());
        return NO_CONTENT;
      default:
        throw unsupportedOperation();
    }
  }

  // ---- sys/internal/ui/mounts -----------------------------------------------------------

  private uiMounts(req: VaultRequest, path: string): HandlerResult {
    const ns = req.ns;
    if (path === "") {
      const secret: Record<string, unknown> = {};
      for (const m of ns.mounts.values()) secret[m.path] = mountInfo(this.env.version, m);
      const auth: Record<string, unknown> = {};
      for (const a of ns.authMounts.values()) auth[a.path] = mountInfo(this.env.version, { ...a, options: null });
      return ok({ data: { secret, auth }, mountType: "system" });
    }
    const withSlash = path.endsWith("/") ? path : `${path}/`;
    let best: MountEntry | undefined;
    for (const m of ns.mounts.values()) {
      if (withSlash.startsWith(m.path) && (!best || m.path.length > best.path.length)) best = m;
    }
    if (!best) {
      throw new VaultHttpError(403, [`preflight capability check returned 403, please ensure client's policies grant access to path ${goQuote(withSlash)}`]);
    }
    return ok({ data: { ...mountInfo(this.env.version, best), path: best.path }, mountType: "system" });
  }
}
