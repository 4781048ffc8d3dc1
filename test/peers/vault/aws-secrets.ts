/**
 * The AWS secrets engine (vault-wire-protocol.md §4 "AWS secrets"): `config/root`,
 * `config/lease`, `roles/<name>`, and `creds/<name>` / `sts/<name>`.
 *
 * - `iam_user`: `access_key` (AKIA…), `secret_key`, `security_token: null`; renewable lease whose
 *   TTL comes from `config/lease` `lease` (else the mount default), max from `lease_max`.
 * - `assumed_role`: adds `security_token` and `arn`; TTL = `ttl` param, else `default_sts_ttl`,
 *   else 3600, capped at `max_sts_ttl` (else the mount max); NOT renewable. As in Vault, the
 *   reported `lease_duration` (and `data.ttl`) is one second less than the STS lifetime, because
 *   Vault derives it from the STS expiration after the call returned.
 * - `federation_token` / `session_token`: like assumed_role without `arn`.
 * No AWS call is made; the credentials are random and only meaningful to tests.
 */
import { goDurationString, goParseDuration, DurationParseError } from "./clock.ts";
import { badRequest, notFound, permissionDenied, unsupportedOperation, unsupportedPath } from "./errors.ts";
import { getCommaList, getDuration, getString, has, NO_CONTENT, ok } from "./fields.ts";
import { awsAccessKeyId, awsSecretAccessKey, awsSessionToken, base62 } from "./ids.ts";
import { issueLease, renewSecretLease } from "./leases.ts";
import type { LeaseEntry, VaultState } from "./state.ts";
import type { EngineRequest, HandlerResult, RenewOutcome, SecretsEngine } from "./types.ts";

const CREDENTIAL_TYPES = ["iam_user", "assumed_role", "federation_token", "session_token"];
const DEFAULT_STS_TTL = 3600;

interface AwsSecretsRole {
  credentialType: string;
  roleArns: string[];
  policyArns: string[];
  policyDocument: string;
  iamGroups: string[];
  defaultStsTtl: number;
  maxStsTtl: number;
  userPath: string;
  permissionsBoundaryArn: string;
  extra: Record<string, unknown>;
}

const EXTRA_FIELDS = ["iam_tags", "mfa_serial_number", "session_tags", "external_id"];

export class AwsSecretsEngine implements SecretsEngine {
  readonly type = "aws";
  private readonly roles = new Map<string, AwsSecretsRole>();
  private root: Record<string, unknown> = {};
  private lease: { lease: number; leaseMax: number } | undefined;

  constructor(private readonly state: VaultState) {}

  handle(req: EngineRequest): HandlerResult {
    const sub = req.subPath;
    if (sub === "config/root") return this.configRoot(req);
    if (sub === "config/lease") return this.configLease(req);
    if ((sub === "roles" || sub === "roles/") && req.op === "list") {
      if (this.roles.size === 0) throw notFound();
      return ok({ data: { keys: [...this.roles.keys()].sort() }, mountType: "aws" });
    }
    const m = /^(roles|creds|sts)\/([^/]+)$/.exec(sub);
    if (!m) throw unsupportedPath();
    const name = m[2] as string;
    if (m[1] === "roles") return this.role(req, name);
    if (req.op !== "read" && req.op !== "update") throw unsupportedOperation();
    return this.creds(req, name);
  }

  private configRoot(req: EngineRequest): HandlerResult {
    if (!req.token.root) throw permissionDenied();
    if (req.op === "read") {
      const { secret_key: _secret, ...visible } = this.root;
      return ok({ data: { access_key: "", region: "", iam_endpoint: "", sts_endpoint: "", max_retries: -1, ...visible }, mountType: "aws" });
    }
    if (req.op !== "update") throw unsupportedOperation();
    this.root = { ...this.root, ...structuredClone(req.data) };
    this.state.recordSecret(typeof req.data["secret_key"] === "string" ? req.data["secret_key"] : undefined);
    return NO_CONTENT;
  }

  private configLease(req: EngineRequest): HandlerResult {
    if (!req.token.root) throw permissionDenied();
    if (req.op === "read") {
      if (!this.lease) throw notFound();
      return ok({ data: { lease: goDurationString(this.lease.lease), lease_max: goDurationString(this.lease.leaseMax) }, mountType: "aws" });
    }
    if (req.op !== "update") throw unsupportedOperation();
    const leaseRaw = getString(req.data, "lease");
    const leaseMaxRaw = getString(req.data, "lease_max");
    if (leaseRaw === "") throw badRequest("'lease' is a required parameter");
    if (leaseMaxRaw === "") throw badRequest("'lease_max' is a required parameter");
    const parse = (raw: string, what: string): number => {
      try {
        return Math.trunc(goParseDuration(raw));
      } catch (e) {
        if (e instanceof DurationParseError) throw badRequest(`Invalid ${what}: ${e.message}`);
        throw e;
      }
    };
    this.lease = { lease: parse(leaseRaw, "lease"), leaseMax: parse(leaseMaxRaw, "lease_max") };
    return NO_CONTENT;
  }

  private role(req: EngineRequest, name: string): HandlerResult {
    if (!req.token.root) throw permissionDenied();
    switch (req.op) {
      case "read": {
        const r = this.roles.get(name);
        if (!r) throw notFound();
        return ok({
          data: {
            credential_type: r.credentialType,
            role_arns: [...r.roleArns],
            policy_arns: [...r.policyArns],
            policy_document: r.policyDocument,
            iam_groups: [...r.iamGroups],
            default_sts_ttl: r.defaultStsTtl,
            max_sts_ttl: r.maxStsTtl,
            user_path: r.userPath,
            permissions_boundary_arn: r.permissionsBoundaryArn,
            ...structuredClone(r.extra),
          },
          mountType: "aws",
        });
      }
      case "delete":
        this.roles.delete(name);
        return NO_CONTENT;
      case "update":
        return this.writeRole(req, name);
      default:
        throw unsupportedOperation();
    }
  }

  private writeRole(req: EngineRequest, name: string): HandlerResult {
    const d = req.data;
    const existing = this.roles.get(name);
    const r: AwsSecretsRole = existing
      ? structuredClone(existing)
      : {
          credentialType: "",
          roleArns: [],
          policyArns: [],
          policyDocument: "",
          iamGroups: [],
          defaultStsTtl: 0,
          maxStsTtl: 0,
          userPath: "/",
          permissionsBoundaryArn: "",
          extra: {},
        };
    if (has(d, "credential_type")) r.credentialType = getString(d, "credential_type");
    if (r.credentialType === "") throw badRequest("did not supply credential_type");
    if (!CREDENTIAL_TYPES.includes(r.credentialType)) throw badRequest(`unrecognized credential_type: ${r.credentialType}`);
    if (has(d, "role_arns")) r.roleArns = getCommaList(d, "role_arns");
    if (has(d, "policy_arns")) r.policyArns = getCommaList(d, "policy_arns");
    if (has(d, "iam_groups")) r.iamGroups = getCommaList(d, "iam_groups");
    if (has(d, "policy_document")) r.policyDocument = getString(d, "policy_document");
    if (has(d, "user_path")) r.userPath = getString(d, "user_path");
    if (has(d, "permissions_boundary_arn")) r.permissionsBoundaryArn = getString(d, "permissions_boundary_arn");
    if (has(d, "default_sts_ttl")) r.defaultStsTtl = getDuration(d, "default_sts_ttl");
    if (has(d, "max_sts_ttl")) r.maxStsTtl = getDuration(d, "max_sts_ttl");
    for (const f of EXTRA_FIELDS) if (has(d, f)) r.extra[f] = structuredClone(d[f]);
    if (r.roleArns.length > 0 && r.credentialType !== "assumed_role") {
      throw badRequest("cannot supply role_arns when credential_type isn't assumed_role");
    }
    if (r.credentialType === "iam_user" && r.defaultStsTtl > 0) {
      throw badRequest("default_sts_ttl parameter only valid for assumed_role, federation_token and session_token credential types");
    }
    if (r.credentialType === "iam_user" && r.maxStsTtl > 0) {
      throw badRequest("max_sts_ttl parameter only valid for assumed_role, federation_token and session_token credential types");
    }
    if (r.maxStsTtl > 0 && r.defaultStsTtl > r.maxStsTtl) throw badRequest("max_sts_ttl cannot be less than default_sts_ttl");
    this.roles.set(name, r);
    return NO_CONTENT;
  }

  private creds(req: EngineRequest, name: string): HandlerResult {
    const role = this.roles.get(name);
    if (!role) throw badRequest(`Role "${name}" not found`);
    if (role.credentialType === "iam_user") {
      const data = { access_key: awsAccessKeyId("AKIA"), secret_key: awsSecretAccessKey(), security_token: null };
      this.state.recordSecret(data.access_key);
      this.state.recordSecret(data.secret_key);
      const lease = issueLease(req, {
        data,
        ttl: this.lease?.lease ?? 0,
        maxTtl: this.lease?.leaseMax ?? 0,
        renewable: true,
        internal: { role: name, type: "iam_user", username: `vault-${name}-${base62(20)}` },
      });
      return ok({ data, leaseId: lease.id, renewable: true, leaseDuration: lease.ttl, mountType: "aws" });
    }

    let ttl = has(req.data, "ttl") ? getDuration(req.data, "ttl") : role.defaultStsTtl > 0 ? role.defaultStsTtl : DEFAULT_STS_TTL;
    const max = role.maxStsTtl > 0 ? role.maxStsTtl : this.state.mountMaxTtl(req.mount.config);
    if (ttl > max) ttl = max;
    const data: Record<string, unknown> = {
      access_key: awsAccessKeyId("ASIA"),
      secret_key: awsSecretAccessKey(),
      security_token: awsSessionToken(),
    };
    if (role.credentialType === "assumed_role") {
      let roleArn = getString(req.data, "role_arn");
      if (roleArn === "") {
        if (role.roleArns.length !== 1) throw badRequest("did not supply a role_arn parameter and unable to determine one");
        roleArn = role.roleArns[0] as string;
      } else if (!role.roleArns.includes(roleArn)) {
        throw badRequest(`role_arn "${roleArn}" not in allowed role arns for Vault role "${name}"`);
      }
      const session = (getString(req.data, "role_session_name") || `vault-${req.token.displayName}-${name}-${Math.floor(Date.now() / 1000)}-${base62(20)}`)
        .replace(/[^\w+=,.@-]/g, "-")
        .slice(0, 64);
      const arnParts = roleArn.split(":");
      const account = arnParts[4] ?? "000000000000";
      const roleFriendly = (arnParts[5] ?? "role/unknown").split("/").pop() ?? "unknown";
      data["arn"] = `arn:aws:sts::${account}:assumed-role/${roleFriendly}/${session}`;
    }
    const reported = Math.max(0, ttl - 1);
    data["ttl"] = reported;
    this.state.recordSecret(data["secret_key"] as string);
    this.state.recordSecret(data["security_token"] as string);
    this.state.recordSecret(data["access_key"] as string);
    const lease = issueLease(req, {
      data,
      ttl,
      maxTtl: ttl,
      renewable: false,
      internal: { role: name, type: role.credentialType },
    });
    return ok({ data, leaseId: lease.id, renewable: false, leaseDuration: Math.min(reported, lease.ttl), mountType: "aws" });
  }

  renewLease(lease: LeaseEntry, increment: number, nowMs: number): RenewOutcome {
    if (lease.internal["type"] !== "iam_user") throw badRequest("lease is not renewable");
    return renewSecretLease(this.state, lease, increment, nowMs, this.lease?.lease ?? 0, this.lease?.leaseMax ?? 0);
  }
}
