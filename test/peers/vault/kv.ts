/**
 * The KV secrets engine, version 1 and version 2 (vault-wire-protocol.md §4).
 *
 * KV v1: `<mount>/<path>` read/write/delete/list. Reads carry `lease_duration` = the secret's own
 * `ttl` (or `lease`) key, else the mount default; `lease_id` is "" and no lease is registered.
 *
 * KV v2: `data/`, `metadata/`, `delete/`, `undelete/`, `destroy/`, `config`. Missing secret or
 * version → 404 `{"errors":[]}`; a deleted or destroyed version → 404 with the full body
 * (`data.data: null`, metadata filled), as Vault answers.
 */
import { rfc3339Nano, parseDurationSeconds } from "./clock.ts";
import { badRequest, kvV2InvalidPath, notFound, permissionDenied, unsupportedOperation, VaultHttpError } from "./errors.ts";
import { envelope, getBool, getInt, getMap, has, NO_CONTENT, ok } from "./fields.ts";
import type { EngineRequest, HandlerResult, SecretsEngine } from "./types.ts";

interface KvVersion {
  data: Record<string, unknown>;
  createdMs: number;
  deletedMs?: number;
  destroyed: boolean;
}

interface KvV2Secret {
  versions: Map<number, KvVersion>;
  currentVersion: number;
  oldestVersion: number;
  createdMs: number;
  updatedMs: number;
  customMetadata: Record<string, string> | null;
  maxVersions: number;
  casRequired: boolean;
}

const DEFAULT_MAX_VERSIONS = 10;

function listKeys<T>(entries: Iterable<[string, T]>, prefix: string, include: (v: T) => boolean): string[] {
  const keys = new Set<string>();
  for (const [path, value] of entries) {
    if (!path.startsWith(prefix) || !include(value)) continue;
    const rest = path.slice(prefix.length);
    const slash = rest.indexOf("/");
    keys.add(slash >= 0 ? rest.slice(0, slash + 1) : rest);
  }
  return [...keys].sort();
}

function listPrefix(path: string): string {
  return path === "" || path.endsWith("/") ? path : `${path}/`;
}

export class KvEngine implements SecretsEngine {
  readonly type = "kv";
  private readonly v1 = new Map<string, Record<string, unknown>>();
  private readonly v2 = new Map<string, KvV2Secret>();
  private maxVersions = 0;
  private casRequired = false;

  constructor(readonly version: 1 | 2) {}

  handle(req: EngineRequest): HandlerResult {
    return this.version === 1 ? this.handleV1(req) : this.handleV2(req);
  }

  // ---- v1 -------------------------------------------------------------------------------

  private handleV1(req: EngineRequest): HandlerResult {
    const path = req.subPath;
    switch (req.op) {
      case "list": {
        const keys = listKeys(this.v1.entries(), listPrefix(path), () => true);
        if (keys.length === 0) throw notFound();
        return ok({ data: { keys }, mountType: "kv" });
      }
      case "read": {
        const data = this.v1.get(path);
        if (!data) throw notFound();
        let ttl = req.state.mountDefaultTtl(req.mount.config);
        const raw = data["ttl"] ?? data["lease"];
        if (raw !== undefined) {
          try {
            ttl = parseDurationSeconds(raw);
          } catch {
            // Vault keeps the mount default when the key does not parse.
          }
        }
        return ok({ data: structuredClone(data), leaseDuration: ttl, mountType: "kv" });
      }
      case "update":
        if (path === "") throw unsupportedOperation();
        this.v1.set(path, structuredClone(req.data));
        req.state.recordKvValues(req.data);
        return NO_CONTENT;
      case "delete":
        this.v1.delete(path);
        return NO_CONTENT;
      default:
        throw unsupportedOperation();
    }
  }

  // ---- v2 -------------------------------------------------------------------------------

  private handleV2(req: EngineRequest): HandlerResult {
    const sub = req.subPath;
    if (sub === "config") return this.config(req);
    const m = /^(data|metadata|delete|undelete|destroy)\/(.*)$/.exec(sub);
    if (!m) {
      if (sub === "metadata" && req.op === "list") return this.metadata(req, "");
      throw kvV2InvalidPath(req.op);
    }
    const kind = m[1] as string;
    const path = m[2] as string;
    switch (kind) {
      case "data":
        return this.data(req, path);
      case "metadata":
        return this.metadata(req, path);
      default:
        return this.versionOp(req, kind, path);
    }
  }

  private config(req: EngineRequest): HandlerResult {
    if (req.op === "read") {
      return ok({ data: { cas_required: this.casRequired, delete_version_after: "0s", max_versions: this.maxVersions }, mountType: "kv" });
    }
    if (req.op !== "update") throw unsupportedOperation();
    if (!req.token.root) throw permissionDenied();
    if (has(req.data, "max_versions")) this.maxVersions = getInt(req.data, "max_versions");
    if (has(req.data, "cas_required")) this.casRequired = getBool(req.data, "cas_required");
    return NO_CONTENT;
  }

  /** A KV v2 secret with no version yet, as the first write or metadata write creates it. */
  private createV2(path: string, now: number): KvV2Secret {
    const s: KvV2Secret = { versions: new Map(), currentVersion: 0, oldestVersion: 0, createdMs: now, updatedMs: now, customMetadata: null, maxVersions: 0, casRequired: false };
    this.v2.set(path, s);
    return s;
  }

  private versionMetadata(s: KvV2Secret, n: number, v: KvVersion): Record<string, unknown> {
    return {
      created_time: rfc3339Nano(v.createdMs),
      custom_metadata: s.customMetadata ? { ...s.customMetadata } : null,
      deletion_time: v.deletedMs === undefined ? "" : rfc3339Nano(v.deletedMs),
      destroyed: v.destroyed,
      version: n,
    };
  }

  private data(req: EngineRequest, path: string): HandlerResult {
    switch (req.op) {
      case "read": {
        const s = this.v2.get(path);
        if (!s) throw notFound();
        const requested = getInt(req.data, "version");
        const n = requested > 0 ? requested : s.currentVersion;
        const v = s.versions.get(n);
        if (!v) throw notFound();
        const metadata = this.versionMetadata(s, n, v);
        if (v.destroyed || (v.deletedMs !== undefined && v.deletedMs <= Date.now())) {
          throw new VaultHttpError(404, [], envelope({ data: { data: null, metadata }, mountType: "kv" }));
        }
        return ok({ data: { data: structuredClone(v.data), metadata }, mountType: "kv" });
      }
      case "update":
      case "patch": {
        const input = getMap(req.data, "data");
        if (!input) throw badRequest("no data provided");
        const options = getMap(req.data, "options") ?? {};
        const now = Date.now();
        let s = this.v2.get(path);
        if (req.op === "patch") {
          const current = s?.versions.get(s.currentVersion);
          if (!s || !current || current.destroyed || current.deletedMs !== undefined) throw notFound();
        }
        const casRequired = this.casRequired || (s?.casRequired ?? false);
        if (has(options, "cas")) {
          const cas = getInt(options, "cas");
          if (cas !== (s?.currentVersion ?? 0)) throw badRequest("check-and-set parameter did not match the current version");
        } else if (casRequired) {
          throw badRequest("check-and-set parameter required for this call");
        }
        if (!s) s = this.createV2(path, now);
        let data = structuredClone(input);
        if (req.op === "patch") {
          const base = structuredClone(s.versions.get(s.currentVersion)?.data ?? {});
          for (const [k, v] of Object.entries(input)) {
            if (v === null) delete base[k];
            else base[k] = v;
          }
          data = base;
        }
        const n = s.currentVersion + 1;
        s.versions.set(n, { data, createdMs: now, destroyed: false });
        s.currentVersion = n;
        s.updatedMs = now;
        const max = s.maxVersions || this.maxVersions || DEFAULT_MAX_VERSIONS;
        // oldest_version stays 0 until versions past max_versions are cleaned up (as Vault's kv does).
        while (s.versions.size > max) {
          s.versions.delete(Math.min(...s.versions.keys()));
          s.oldestVersion = Math.min(...s.versions.keys());
        }
        req.state.recordKvValues(data);
        return ok({ data: this.versionMetadata(s, n, s.versions.get(n) as KvVersion), mountType: "kv" });
      }
      case "delete": {
        const s = this.v2.get(path);
        const v = s?.versions.get(s.currentVersion);
        if (s && v && v.deletedMs === undefined && !v.destroyed) v.deletedMs = Date.now();
        return NO_CONTENT;
      }
      default:
        throw unsupportedOperation();
    }
  }

  private metadata(req: EngineRequest, path: string): HandlerResult {
    switch (req.op) {
      case "list": {
        const keys = listKeys(this.v2.entries(), listPrefix(path), () => true);
        if (keys.length === 0) throw notFound();
        return ok({ data: { keys }, mountType: "kv" });
      }
      case "read": {
        const s = this.v2.get(path);
        if (!s) throw notFound();
        const versions: Record<string, unknown> = {};
        for (const [n, v] of s.versions) {
          versions[String(n)] = {
            created_time: rfc3339Nano(v.createdMs),
            deletion_time: v.deletedMs === undefined ? "" : rfc3339Nano(v.deletedMs),
            destroyed: v.destroyed,
          };
        }
        return ok({
          data: {
            cas_required: s.casRequired,
            created_time: rfc3339Nano(s.createdMs),
            current_version: s.currentVersion,
            custom_metadata: s.customMetadata ? { ...s.customMetadata } : null,
            delete_version_after: "0s",
            max_versions: s.maxVersions,
            oldest_version: s.oldestVersion,
            updated_time: rfc3339Nano(s.updatedMs),
            versions,
          },
          mountType: "kv",
        });
      }
      case "update": {
        const now = Date.now();
        let s = this.v2.get(path);
        if (!s) s = this.createV2(path, now);
        if (has(req.data, "max_versions")) s.maxVersions = getInt(req.data, "max_versions");
        if (has(req.data, "cas_required")) s.casRequired = getBool(req.data, "cas_required");
        const custom = getMap(req.data, "custom_metadata");
        if (custom) s.customMetadata = Object.fromEntries(Object.entries(custom).map(([k, v]) => [k, String(v)]));
        s.updatedMs = now;
        return NO_CONTENT;
      }
      case "delete":
        this.v2.delete(path);
        return NO_CONTENT;
      default:
        throw unsupportedOperation();
    }
  }

  private versionOp(req: EngineRequest, kind: string, path: string): HandlerResult {
    if (req.op !== "update") throw unsupportedOperation();
    const raw = req.data["versions"];
    const versions = (Array.isArray(raw) ? raw : typeof raw === "string" ? raw.split(",") : raw === undefined ? [] : [raw])
      .map((v) => Number.parseInt(String(v).trim(), 10))
      .filter((n) => Number.isFinite(n));
    if (versions.length === 0) throw badRequest("no version number provided");
    const s = this.v2.get(path);
    if (!s) return NO_CONTENT;
    const now = Date.now();
    for (const n of versions) {
      const v = s.versions.get(n);
      if (!v) continue;
      if (kind === "delete" && v.deletedMs === undefined && !v.destroyed) v.deletedMs = now;
      if (kind === "undelete" && !v.destroyed) delete v.deletedMs;
      if (kind === "destroy") v.destroyed = true;
    }
    return NO_CONTENT;
  }
}
