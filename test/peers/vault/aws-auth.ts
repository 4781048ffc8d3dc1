/**
 * The AWS auth method (IAM login only), following Vault's `builtin/credential/aws` as forked in
 * openbao-plugins (≈ Vault 1.15): `config/client`, `config/identity`, `role/<name>`, `login`, and
 * the renewal re-check. Validation happens in Vault's order with Vault's exact error strings
 * (vault-wire-protocol.md §1.2–§1.8).
 *
 * Test-server simplifications (documented in README.md):
 * - `resolve_aws_unique_ids` is stored and reported but treated as false: bindings match the
 *   canonical ARN, and `*` globs match the ARN returned by `resolveFullArn` (default: the
 *   canonical ARN) instead of an IAM GetRole/GetUser lookup;
 * - the ec2 auth type is detected (for the error ordering) but not implemented;
 * - `sts_endpoint`-less configs use `defaultStsEndpoint` in place of https://sts.amazonaws.com.
 */
import { canonicalArn, globbedStringsMatch, type IamEntity, parseIamArn } from "./arn.ts";
import { type AwsRole, roleResponseData, writeAwsRole } from "./aws-auth-roles.ts";
import { epochMs } from "./clock.ts";
import {
  badRequest,
  fieldValidationFailed,
  notFound,
  permissionDenied,
  unsupportedOperation,
  unsupportedPath,
  VaultHttpError,
} from "./errors.ts";
import {
  getBool,
  getCommaList,
  getInt,
  getString,
  has,
  NO_CONTENT,
  ok,
  sanitizePolicies,
} from "./fields.ts";
import { canonicalHeaderKey, goBase64StdDecode, goParseQuery, goParseUrl, goQuote, goRequestUri, type GoUrl } from "./go-compat.ts";
import { type GoHeader, HeaderParseError, headerGet, parseIamRequestHeaders } from "./iam-headers.ts";
import { uuid } from "./ids.ts";
import type { AuthMountEntry, AwsTokenAuth, VaultState } from "./state.ts";
import { type CallerIdentity, submitCallerIdentityRequest } from "./sts-forward.ts";
import { authBlock, issueLoginToken } from "./token-store.ts";
import type { HandlerResult, LoginRecord, VaultRequest } from "./types.ts";

/** What the server provides to every AWS auth mount. */
export interface AwsAuthEnvironment {
  state: VaultState;
  /** Stands in for https://sts.amazonaws.com when config/client has no sts_endpoint. */
  defaultStsEndpoint: string;
  /** Regional endpoint for use_sts_region_from_client; authoritative when provided. */
  stsEndpointForRegion: ((region: string) => string | undefined) | undefined;
  /** Full ARN (with path) of a caller, for `*` bindings; default: the canonical ARN. */
  resolveFullArn: ((canonicalArn: string) => string | undefined) | undefined;
  recordLogin(record: LoginRecord): void;
}

export interface AwsClientConfig {
  access_key: string;
  secret_key: string;
  endpoint: string;
  iam_endpoint: string;
  sts_endpoint: string;
  sts_region: string;
  use_sts_region_from_client: boolean;
  iam_server_id_header_value: string;
  allowed_sts_header_values: string[] | null;
  max_retries: number;
}

const IAM_SERVER_ID_HEADER = "X-Vault-AWS-IAM-Server-ID";
const AMZ_HEADER_PREFIX = "X-Amz-";
const DEFAULT_ALLOWED_STS_HEADERS = [
  "X-Amz-Algorithm",
  "X-Amz-Content-Sha256",
  "X-Amz-Credential",
  "X-Amz-Date",
  "X-Amz-Security-Token",
  "X-Amz-Signature",
  "X-Amz-SignedHeaders",
];
/** aws-sdk-go's default retryer max retries, used when max_retries is negative or unset. */
const DEFAULT_MAX_RETRIES = 3;
const DEFAULT_IAM_METADATA = ["account_id", "auth_type"];
const IAM_METADATA_KEYS = [
  "account_id",
  "auth_type",
  "canonical_arn",
  "client_arn",
  "client_user_id",
  "inferred_aws_region",
  "inferred_entity_id",
  "inferred_entity_type",
];

/** Region names the AWS SDK's strict STS endpoint resolver knows. */
const KNOWN_REGIONS = new Set([
  "af-south-1", "ap-east-1", "ap-northeast-1", "ap-northeast-2", "ap-northeast-3", "ap-south-1",
  "ap-south-2", "ap-southeast-1", "ap-southeast-2", "ap-southeast-3", "ap-southeast-4", "ca-central-1",
  "ca-west-1", "eu-central-1", "eu-central-2", "eu-north-1", "eu-south-1", "eu-south-2", "eu-west-1",
  "eu-west-2", "eu-west-3", "il-central-1", "me-central-1", "me-south-1", "sa-east-1", "us-east-1",
  "us-east-2", "us-west-1", "us-west-2", "us-gov-east-1", "us-gov-west-1", "cn-north-1", "cn-northwest-1",
]);

const LOGIN_STRING_FIELDS = [
  "role",
  "pkcs7",
  "nonce",
  "iam_http_request_method",
  "iam_request_url",
  "iam_request_body",
  "identity",
  "signature",
];

function newClientConfig(): AwsClientConfig {
  return {
    access_key: "",
    secret_key: "",
    endpoint: "",
    iam_endpoint: "",
    sts_endpoint: "",
    sts_region: "",
    use_sts_region_from_client: false,
    iam_server_id_header_value: "",
    allowed_sts_header_values: null,
    max_retries: -1,
  };
}

/** `awsRegionFromHeader`: the region of `Credential=AKID/date/<region>/sts/aws4_request`. */
function awsRegionFromHeader(authorization: string): string | undefined {
  for (const field of authorization.split(" ")) {
    if (field.startsWith("Credential=")) {
      const parts = field.split("/");
      return parts.length < 3 ? undefined : parts[2];
    }
  }
  return undefined;
}

/** `validateVaultHeaderValue`; returns the error detail or undefined when valid. */
function validateServerIdHeader(headers: GoHeader, required: string): string | undefined {
  let provided = "";
  for (const [k, v] of headers) {
    if (k.toLowerCase() === IAM_SERVER_ID_HEADER.toLowerCase()) {
      provided = v.join(",");
      break;
    }
  }
  if (provided === "") return `missing header ${goQuote(IAM_SERVER_ID_HEADER)}`;
  if (provided !== required) return `expected ${goQuote(required)} but got ${goQuote(provided)}`;
  const authz = headers.get("Authorization");
  if (authz === undefined) return "missing Authorization header";
  const match = /.*SignedHeaders=([^,]+)/.exec(authz.join(","));
  if (!match) return "vault header wasn't signed";
  const signed = (match[1] ?? "").split(";");
  return signed.includes(IAM_SERVER_ID_HEADER.toLowerCase()) ? undefined : "vault header wasn't signed";
}

function ipv4ToInt(ip: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(ip);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return (((parts[0] as number) << 24) | ((parts[1] as number) << 16) | ((parts[2] as number) << 8) | (parts[3] as number)) >>> 0;
}

/** `cidrutil.RemoteAddrIsOk` for IPv4 CIDRs/addresses (other entries match exactly). */
function remoteAddrIsOk(remote: string, cidrs: string[]): boolean {
  const addr = remote.replace(/^::ffff:/, "");
  const ip = ipv4ToInt(addr);
  return cidrs.some((c) => {
    const [net, bitsText] = c.split("/");
    const netInt = ipv4ToInt(net ?? "");
    if (ip === undefined || netInt === undefined) return c === addr;
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
    return (ip & mask) === (netInt & mask);
  });
}

export class AwsAuthBackend {
  clientConfig: AwsClientConfig | undefined;
  iamAlias = "role_id";
  iamMetadata: string[] = [...DEFAULT_IAM_METADATA];
  readonly roles = new Map<string, AwsRole>();
  /** Entity IDs by alias name: all logins with the same alias share one entity. */
  private readonly entities = new Map<string, string>();

  constructor(private readonly env: AwsAuthEnvironment) {}

  /** Routes `auth/<mount>/<sub>`. Only `login` is unauthenticated; the rest needs the root token. */
  async handle(req: VaultRequest, mount: AuthMountEntry, sub: string): Promise<HandlerResult> {
    if (sub === "login") {
      if (req.op !== "update") throw unsupportedOperation();
      return this.login(req, mount);
    }
    if (!req.token?.root) throw permissionDenied();
    if (sub === "config/client") return this.configClient(req);
    if (sub === "config/identity") return this.configIdentity(req);
    if ((sub === "role" || sub === "roles" || sub === "role/" || sub === "roles/") && req.op === "list") {
      return ok({ data: { keys: [...this.roles.keys()].sort() }, mountType: "aws" });
    }
    const roleMatch = /^role\/([^/]+)$/.exec(sub);
    if (roleMatch) return this.roleEndpoint(req, mount, roleMatch[1] as string);
    throw unsupportedPath();
  }

  // ---- config ---------------------------------------------------------------------------

  private configClient(req: VaultRequest): HandlerResult {
    const d = req.data;
    switch (req.op) {
      case "read": {
        const c = this.clientConfig;
        if (!c) throw notFound();
        const { secret_key: _secret, ...visible } = c;
        return ok({ data: { ...visible, allowed_sts_header_values: c.allowed_sts_header_values ? [...c.allowed_sts_header_values] : null }, mountType: "aws" });
      }
      case "delete":
        this.clientConfig = undefined;
        return NO_CONTENT;
      case "update": {
        // Framework validation of every supplied field first, as Vault does.
        for (const k of ["access_key", "secret_key", "endpoint", "iam_endpoint", "sts_endpoint", "sts_region", "iam_server_id_header_value"]) {
          getString(d, k);
        }
        getBool(d, "use_sts_region_from_client");
        getCommaList(d, "allowed_sts_header_values");
        getInt(d, "max_retries", -1);
        const create = this.clientConfig === undefined;
        const c = this.clientConfig ? { ...this.clientConfig } : newClientConfig();
        for (const k of ["access_key", "secret_key", "endpoint", "iam_endpoint", "sts_endpoint", "sts_region", "iam_server_id_header_value"] as const) {
          if (has(d, k)) c[k] = getString(d, k);
        }
        if (has(d, "use_sts_region_from_client")) c.use_sts_region_from_client = getBool(d, "use_sts_region_from_client");
        if (has(d, "allowed_sts_header_values")) {
          c.allowed_sts_header_values = getCommaList(d, "allowed_sts_header_values").map(canonicalHeaderKey);
        }
        if (has(d, "max_retries")) c.max_retries = getInt(d, "max_retries", -1);
        else if (create) c.max_retries = -1;
        this.clientConfig = c;
        return NO_CONTENT;
      }
      default:
        throw unsupportedOperation();
    }
  }

  private configIdentity(req: VaultRequest): HandlerResult {
    const d = req.data;
    if (req.op === "read") {
      return ok({
        data: { iam_alias: this.iamAlias, iam_metadata: [...this.iamMetadata], ec2_alias: "role_id", ec2_metadata: ["account_id", "ami_id", "instance_id", "region"] },
        mountType: "aws",
      });
    }
    if (req.op !== "update") throw unsupportedOperation();
    if (has(d, "iam_alias")) {
      const alias = getString(d, "iam_alias");
      if (!["role_id", "unique_id", "full_arn", "canonical_arn"].includes(alias)) {
        throw badRequest(`iam_alias of ${alias} not in set of allowed values`);
      }
      this.iamAlias = alias;
    }
    if (has(d, "iam_metadata")) {
      const keys = getCommaList(d, "iam_metadata");
      const expanded = keys.flatMap((k) => (k === "default" ? DEFAULT_IAM_METADATA : [k]));
      for (const k of expanded) {
        if (!IAM_METADATA_KEYS.includes(k)) throw badRequest(`metadata field "${k}" not available for selection`);
      }
      this.iamMetadata = [...new Set(expanded)];
    }
    return NO_CONTENT;
  }

  // ---- roles ----------------------------------------------------------------------------

  private roleEndpoint(req: VaultRequest, mount: AuthMountEntry, name: string): HandlerResult {
    const roleName = name.toLowerCase();
    switch (req.op) {
      case "read": {
        const r = this.roles.get(roleName);
        if (!r) throw notFound();
        return ok({ data: roleResponseData(r), mountType: "aws" });
      }
      case "delete":
        this.roles.delete(roleName);
        return NO_CONTENT;
      case "update": {
        const { role, warnings } = writeAwsRole(this.roles.get(roleName), req.data, this.env.state.mountMaxTtl(mount.config));
        this.roles.set(roleName, role);
        return warnings.length > 0 ? ok({ warnings, mountType: "aws" }) : NO_CONTENT;
      }
      default:
        throw unsupportedOperation();
    }
  }

  // ---- login ----------------------------------------------------------------------------

  private async login(req: VaultRequest, mount: AuthMountEntry): Promise<HandlerResult> {
    const progress: { role: string; arn?: string } = { role: "" };
    const record = (rec: Omit<LoginRecord, "at" | "mount" | "namespace" | "role">) =>
      this.env.recordLogin({
        at: epochMs(),
        mount: mount.path.replace(/\/$/, ""),
        namespace: req.ns.path,
        role: progress.role,
        ...(progress.arn !== undefined ? { arn: progress.arn } : {}),
        ...rec,
      });
    try {
      const result = await this.loginInner(req, mount, progress);
      record({ ok: true, accessor: result.accessor });
      return result.response;
    } catch (e) {
      const message = e instanceof VaultHttpError ? e.errors.join("; ") : (e as Error).message;
      record({ ok: false, error: message });
      throw e;
    }
  }

  private async loginInner(
    req: VaultRequest,
    mount: AuthMountEntry,
    progress: { role: string; arn?: string },
  ): Promise<{ response: HandlerResult; accessor: string }> {
    const d = req.data;
    // 0. Framework field validation of the schema fields that are present.
    for (const key of Object.keys(d)) {
      if (LOGIN_STRING_FIELDS.includes(key)) getString(d, key);
    }
    let headers: GoHeader = new Map();
    if (has(d, "iam_request_headers")) {
      try {
        headers = parseIamRequestHeaders(d["iam_request_headers"]);
      } catch (e) {
        if (e instanceof HeaderParseError) throw fieldValidationFailed("iam_request_headers", e.message);
        throw e;
      }
    }
    progress.role = getString(d, "role");

    // 1. Which auth type.
    const hasPkcs7 = has(d, "pkcs7");
    const hasIdentity = has(d, "identity");
    const hasSignature = has(d, "signature");
    const anyEc2 = hasPkcs7 || hasIdentity || hasSignature;
    const allEc2 = hasPkcs7 || (hasIdentity && hasSignature);
    const iamFields = ["iam_http_request_method", "iam_request_url", "iam_request_body", "iam_request_headers"];
    const anyIam = iamFields.some((f) => has(d, f));
    const allIam = iamFields.every((f) => has(d, f));
    if (anyEc2 && anyIam) throw badRequest("supplied auth values for both ec2 and iam auth types");
    if (anyEc2 && !allEc2) throw badRequest("supplied some of the auth values for the ec2 auth type but not all");
    if (anyEc2) throw badRequest("the ec2 auth type is not supported by the Vault test server");
    if (anyIam && !allIam) throw badRequest("supplied some of the auth values for the iam auth type but not all");
    if (!anyIam) throw badRequest("didn't supply required authentication values");

    // 2. Method.
    const method = getString(d, "iam_http_request_method");
    if (method === "") throw badRequest("missing iam_http_request_method");
    if (method !== "POST") throw badRequest("invalid iam_http_request_method; currently only 'POST' is supported");

    // 3. URL.
    const urlB64 = getString(d, "iam_request_url");
    if (urlB64 === "") throw badRequest("missing iam_request_url");
    const rawUrl = goBase64StdDecode(urlB64);
    if (!rawUrl) throw badRequest("failed to base64 decode iam_request_url");
    let parsedUrl: GoUrl;
    try {
      parsedUrl = goParseUrl(rawUrl.toString("utf8"));
    } catch {
      throw badRequest("error parsing iam_request_url");
    }
    if (parsedUrl.rawQuery !== "") throw badRequest("invalid request");

    // 4. Body.
    const bodyB64 = getString(d, "iam_request_body");
    if (bodyB64 === "") throw badRequest("missing iam_request_body");
    const bodyRaw = goBase64StdDecode(bodyB64);
    if (!bodyRaw) throw badRequest("failed to base64 decode iam_request_body");
    const body = bodyRaw.toString("utf8");
    const form = goParseQuery(body);
    if (form.error !== undefined) throw badRequest(form.error);
    for (const [k, v] of form.values) {
      if (k === "Action") {
        if (v.length !== 1 || v[0] !== "GetCallerIdentity") throw badRequest("iam request body is invalid");
      } else if (k !== "Version") {
        throw badRequest("iam request body is invalid");
      }
    }

    // 5. Headers.
    if (headers.size === 0) throw badRequest("missing iam_request_headers");

    // 6./7. config/client checks and endpoint choice.
    let endpoint = this.env.defaultStsEndpoint;
    let maxRetries = DEFAULT_MAX_RETRIES;
    const config = this.clientConfig;
    if (config) {
      if (config.iam_server_id_header_value !== "") {
        const problem = validateServerIdHeader(headers, config.iam_server_id_header_value);
        if (problem !== undefined) throw badRequest(`error validating ${IAM_SERVER_ID_HEADER} header: ${problem}`);
      }
      for (const k of headers.keys()) {
        const h = canonicalHeaderKey(k);
        if (
          h.startsWith(AMZ_HEADER_PREFIX) &&
          !DEFAULT_ALLOWED_STS_HEADERS.includes(h) &&
          !(config.allowed_sts_header_values ?? []).includes(h)
        ) {
          throw badRequest(`invalid request header: ${k}`);
        }
      }
      if (config.sts_endpoint !== "") endpoint = config.sts_endpoint;
      if (config.max_retries >= 0) maxRetries = config.max_retries;
      if (config.use_sts_region_from_client) {
        const region = awsRegionFromHeader(headerGet(headers, "Authorization"));
        if (region === undefined) throw badRequest("region missing from Authorization header");
        const regional = this.regionalEndpoint(region);
        if (regional === undefined) throw badRequest(`unable to get regional STS endpoint for region: ${region}`);
        endpoint = regional;
      }
    }

    // 8. Forward to STS.
    let caller: CallerIdentity;
    try {
      caller = await submitCallerIdentityRequest({
        endpoint,
        method,
        requestUri: goRequestUri(parsedUrl),
        host: parsedUrl.host,
        body,
        headers,
        maxRetries,
      });
    } catch (e) {
      throw badRequest(`error making upstream request: ${(e as Error).message}`);
    }
    progress.arn = caller.arn;

    // 9. ARN, role, binding.
    let entity: IamEntity;
    try {
      entity = parseIamArn(caller.arn);
    } catch (e) {
      throw badRequest(`error parsing arn ${goQuote(caller.arn)}: ${(e as Error).message}`);
    }
    const roleName = getString(d, "role") || entity.friendlyName;
    progress.role = roleName;
    const role = this.roles.get(roleName.toLowerCase());
    if (!role) throw badRequest(`entry for role ${roleName} not found`);
    if (role.tokenBoundCidrs.length > 0 && !remoteAddrIsOk(req.remoteAddress, role.tokenBoundCidrs)) {
      throw permissionDenied();
    }
    if (role.authType !== "iam") throw badRequest(`auth method iam not allowed for role ${roleName}`);

    const callerUniqueId = caller.userId.split(":")[0] ?? "";
    const canonical = canonicalArn(entity);
    if (role.boundIamPrincipalArns.length > 0 && !this.bindingMatches(role, canonical)) {
      throw badRequest(`IAM Principal ${goQuote(caller.arn)} does not belong to the role ${goQuote(roleName)}`);
    }

    // Token.
    const aliasName =
      this.iamAlias === "unique_id" ? callerUniqueId : this.iamAlias === "full_arn" ? caller.arn : this.iamAlias === "canonical_arn" ? canonical : role.roleId;
    const entityKey = `${this.iamAlias}:${aliasName}`;
    let entityId = this.entities.get(entityKey);
    if (entityId === undefined) {
      entityId = uuid();
      this.entities.set(entityKey, entityId);
    }
    const available: Record<string, string> = {
      client_arn: caller.arn,
      canonical_arn: canonical,
      client_user_id: callerUniqueId,
      auth_type: "iam",
      inferred_entity_type: "",
      inferred_entity_id: "",
      inferred_aws_region: role.inferredAwsRegion,
      account_id: entity.accountNumber,
    };
    const metadata: Record<string, string> = { role_id: role.roleId };
    for (const k of this.iamMetadata) {
      const v = available[k];
      if (v !== undefined && v !== "") metadata[k] = v;
    }
    const displayName = entity.type === "assumed-role" ? `${entity.friendlyName}/${entity.sessionInfo}` : entity.friendlyName;
    const { token, warnings } = issueLoginToken(this.env.state, {
      ns: req.ns,
      mount,
      displayName,
      policies: sanitizePolicies(role.tokenPolicies, !role.tokenNoDefaultPolicy),
      metadata,
      roleTtl: role.tokenTtl,
      roleMaxTtl: role.tokenMaxTtl,
      period: role.tokenPeriod,
      explicitMaxTtl: role.tokenExplicitMaxTtl,
      tokenType: role.tokenType === "batch" ? "batch" : "service",
      numUses: role.tokenNumUses,
      entityId,
      auth: {
        mount,
        roleName,
        roleId: role.roleId,
        canonicalArn: canonical,
        clientUserId: callerUniqueId,
        clientArn: caller.arn,
      },
      nowMs: Date.now(),
    });
    // The framework's note about request fields outside the path's schema.
    const ignored = Object.keys(d)
      .filter((k) => !LOGIN_STRING_FIELDS.includes(k) && k !== "iam_request_headers")
      .sort();
    if (ignored.length > 0) warnings.push(`Endpoint ignored these unrecognized parameters: [${ignored.join(" ")}]`);
    return {
      response: ok({ auth: authBlock(token, token.ttl), warnings, mountType: "aws" }),
      accessor: token.accessor,
    };
  }

  private regionalEndpoint(region: string): string | undefined {
    if (this.env.stsEndpointForRegion) return this.env.stsEndpointForRegion(region);
    if (!KNOWN_REGIONS.has(region)) return undefined;
    return region.startsWith("cn-") ? `https://sts.${region}.amazonaws.com.cn` : `https://sts.${region}.amazonaws.com`;
  }

  /** Checks 2 and 3 of Vault's binding (check 1, unique IDs, is never populated here). */
  private bindingMatches(role: AwsRole, canonical: string): boolean {
    if (role.boundIamPrincipalArns.includes(canonical)) return true;
    if (!role.boundIamPrincipalArns.some((a) => a.endsWith("*"))) return false;
    const fullArn = this.env.resolveFullArn?.(canonical) ?? canonical;
    return role.boundIamPrincipalArns.some((a) => a.endsWith("*") && globbedStringsMatch(a, fullArn));
  }

  /**
   * `pathLoginRenewIam`: re-check the role and binding with the token's stored canonical ARN.
   * Returns the role's current token TTL settings; throws Error with Vault's Go error text.
   */
  renewCheck(auth: AwsTokenAuth): { ttl: number; maxTtl: number; period: number } {
    const role = this.roles.get(auth.roleName.toLowerCase());
    if (!role) throw new Error("role entry not found");
    if (role.boundIamPrincipalArns.length > 0 && !this.bindingMatches(role, auth.canonicalArn)) {
      throw new Error(`role ${goQuote(auth.roleName)} no longer bound to ARN ${goQuote(auth.canonicalArn)}`);
    }
    return { ttl: role.tokenTtl, maxTtl: role.tokenMaxTtl, period: role.tokenPeriod };
  }
}
