/**
 * A database-style dynamic secrets engine (vault-wire-protocol.md §4 "Database").
 *
 * `roles/<name>` stores `default_ttl`/`max_ttl` (other fields such as `db_name` and the
 * statements are accepted and echoed back, not executed). `creds/<name>` issues a fresh random
 * username and password per read under a renewable lease; renewals are capped by the role's
 * CURRENT `max_ttl`, as Vault's database backend reads the role at renewal time.
 * `config/<name>` is accepted and stored but not required: no real database is involved.
 */
import { badRequest, notFound, permissionDenied, unsupportedOperation, unsupportedPath } from "./errors.ts";
import { getCommaList, getDuration, getString, has, NO_CONTENT, ok } from "./fields.ts";
import { base62, vaultPassword } from "./ids.ts";
import { issueLease, renewSecretLease } from "./leases.ts";
import type { LeaseEntry, VaultState } from "./state.ts";
import type { EngineRequest, HandlerResult, RenewOutcome, SecretsEngine } from "./types.ts";

interface DbRole {
  dbName: string;
  defaultTtl: number;
  maxTtl: number;
  creationStatements: string[];
  revocationStatements: string[];
  rollbackStatements: string[];
  renewStatements: string[];
  credentialType: string;
}

const STATEMENT_FIELDS = [
  ["creation_statements", "creationStatements"],
  ["revocation_statements", "revocationStatements"],
  ["rollback_statements", "rollbackStatements"],
  ["renew_statements", "renewStatements"],
] as const;

function truncate(s: string, n: number): string {
  return s.length > n ? s.slice(0, n) : s;
}

export class DatabaseEngine implements SecretsEngine {
  readonly type = "database";
  private readonly roles = new Map<string, DbRole>();
  private readonly connections = new Map<string, Record<string, unknown>>();

  constructor(private readonly state: VaultState) {}

  handle(req: EngineRequest): HandlerResult {
    const sub = req.subPath;
    // Everything but creds/ is configuration, which this server keeps to the root token.
    if (!sub.startsWith("creds/") && !req.token.root) throw permissionDenied();
    if ((sub === "roles" || sub === "roles/") && req.op === "list") {
      return this.list([...this.roles.keys()]);
    }
    if ((sub === "config" || sub === "config/") && req.op === "list") {
      return this.list([...this.connections.keys()]);
    }
    const m = /^(roles|creds|config|reset|rotate-root)\/([^/]+)$/.exec(sub);
    if (!m) throw unsupportedPath();
    const name = m[2] as string;
    switch (m[1]) {
      case "roles":
        return this.role(req, name);
      case "creds":
        if (req.op !== "read") throw unsupportedOperation();
        return this.creds(req, name);
      case "config":
        return this.config(req, name);
      default:
        if (req.op !== "update") throw unsupportedOperation();
        return NO_CONTENT;
    }
  }

  private list(keys: string[]): HandlerResult {
    if (keys.length === 0) throw notFound();
    return ok({ data: { keys: keys.sort() }, mountType: "database" });
  }

  private config(req: EngineRequest, name: string): HandlerResult {
    switch (req.op) {
      case "read": {
        const c = this.connections.get(name);
        if (!c) throw notFound();
        const { password: _password, ...visible } = c;
        return ok({ data: visible, mountType: "database" });
      }
      case "update":
        this.connections.set(name, structuredClone(req.data));
        this.state.recordSecret(typeof req.data["password"] === "string" ? req.data["password"] : undefined);
        return NO_CONTENT;
      case "delete":
        this.connections.delete(name);
        return NO_CONTENT;
      default:
        throw unsupportedOperation();
    }
  }

  private role(req: EngineRequest, name: string): HandlerResult {
    switch (req.op) {
      case "read": {
        const r = this.roles.get(name);
        if (!r) throw notFound();
        return ok({
          data: {
            db_name: r.dbName,
            default_ttl: r.defaultTtl,
            max_ttl: r.maxTtl,
            creation_statements: [...r.creationStatements],
            revocation_statements: [...r.revocationStatements],
            rollback_statements: [...r.rollbackStatements],
            renew_statements: [...r.renewStatements],
            credential_type: r.credentialType,
            credential_config: {},
          },
          mountType: "database",
        });
      }
      case "delete":
        this.roles.delete(name);
        return NO_CONTENT;
      case "update": {
        const d = req.data;
        const existing = this.roles.get(name);
        const r: DbRole = existing
          ? structuredClone(existing)
          : {
              dbName: "",
              defaultTtl: 0,
              maxTtl: 0,
              creationStatements: [],
              revocationStatements: [],
              rollbackStatements: [],
              renewStatements: [],
              credentialType: "password",
            };
        if (has(d, "db_name")) r.dbName = getString(d, "db_name");
        if (has(d, "default_ttl")) r.defaultTtl = getDuration(d, "default_ttl");
        if (has(d, "max_ttl")) r.maxTtl = getDuration(d, "max_ttl");
        if (has(d, "credential_type")) r.credentialType = getString(d, "credential_type");
        for (const [field, key] of STATEMENT_FIELDS) {
          if (has(d, field)) r[key] = getCommaList(d, field);
        }
        if (r.maxTtl > 0 && r.defaultTtl > r.maxTtl) {
          throw badRequest("ttl cannot be greater than max_ttl");
        }
        this.roles.set(name, r);
        return NO_CONTENT;
      }
      default:
        throw unsupportedOperation();
    }
  }

  private creds(req: EngineRequest, name: string): HandlerResult {
    const role = this.roles.get(name);
    if (!role) throw badRequest(`unknown role: ${name}`);
    // Postgres plugin's default username template:
    // v-{{.DisplayName | truncate 8}}-{{.RoleName | truncate 8}}-{{random 20}}-{{unix_time}}
    const username = `v-${truncate(req.token.displayName, 8)}-${truncate(name, 8)}-${base62(20)}-${Math.floor(Date.now() / 1000)}`;
    const password = vaultPassword();
    this.state.recordSecret(password);
    const data = { username, password };
    const lease = issueLease(req, {
      data,
      ttl: role.defaultTtl,
      maxTtl: role.maxTtl,
      renewable: true,
      internal: { role: name, username },
    });
    return ok({ data, leaseId: lease.id, renewable: true, leaseDuration: lease.ttl, mountType: "database" });
  }

  renewLease(lease: LeaseEntry, increment: number, nowMs: number): RenewOutcome {
    const roleName = lease.internal["role"] ?? "";
    const role = this.roles.get(roleName);
    if (!role) {
      throw badRequest(
        `failed to renew entry: resp: (*logical.Response)(nil) err: error during renew: could not find role with name "${roleName}"`,
      );
    }
    return renewSecretLease(this.state, lease, increment, nowMs, role.defaultTtl, role.maxTtl);
  }
}
