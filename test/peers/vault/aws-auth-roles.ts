/**
 * AWS auth roles: the role entry, `pathRoleCreateUpdate` (validation in Vault's order with Vault's
 * messages, tokenutil.ParseTokenFields, the legacy-field upgrade) and `ToResponseData`.
 */
import { goDurationString } from "./clock.ts";
import { badRequest } from "./errors.ts";
import { getBool, getCommaList, getDuration, getInt, getString, has } from "./fields.ts";
import { goQuote } from "./go-compat.ts";
import { uuid } from "./ids.ts";

export interface AwsRole {
  roleId: string;
  authType: string;
  boundAmiIds: string[];
  boundAccountIds: string[];
  boundRegions: string[];
  boundVpcIds: string[];
  boundSubnetIds: string[];
  boundIamRoleArns: string[];
  boundIamInstanceProfileArns: string[];
  boundEc2InstanceIds: string[];
  boundIamPrincipalArns: string[];
  resolveAwsUniqueIds: boolean;
  inferredEntityType: string;
  inferredAwsRegion: string;
  roleTag: string;
  allowInstanceMigration: boolean;
  disallowReauthentication: boolean;
  tokenTtl: number;
  tokenMaxTtl: number;
  tokenPeriod: number;
  tokenExplicitMaxTtl: number;
  tokenNumUses: number;
  tokenPolicies: string[];
  tokenType: "default" | "service" | "batch";
  tokenNoDefaultPolicy: boolean;
  tokenBoundCidrs: string[];
  /** Legacy fields (kept in sync by Vault's tokenutil.UpgradeValue). */
  ttl: number;
  maxTtl: number;
  period: number;
  policies: string[];
}

export function newRole(roleId: string): AwsRole {
  return {
    roleId,
    authType: "",
    boundAmiIds: [],
    boundAccountIds: [],
    boundRegions: [],
    boundVpcIds: [],
    boundSubnetIds: [],
    boundIamRoleArns: [],
    boundIamInstanceProfileArns: [],
    boundEc2InstanceIds: [],
    boundIamPrincipalArns: [],
    resolveAwsUniqueIds: true,
    inferredEntityType: "",
    inferredAwsRegion: "",
    roleTag: "",
    allowInstanceMigration: false,
    disallowReauthentication: false,
    tokenTtl: 0,
    tokenMaxTtl: 0,
    tokenPeriod: 0,
    tokenExplicitMaxTtl: 0,
    tokenNumUses: 0,
    tokenPolicies: [],
    tokenType: "default",
    tokenNoDefaultPolicy: false,
    tokenBoundCidrs: [],
    ttl: 0,
    maxTtl: 0,
    period: 0,
    policies: [],
  };
}

/**
 * Applies a role write (create when `existing` is undefined) as Vault's `pathRoleCreateUpdate`
 * does. `systemMaxTtl` is the auth mount's max lease TTL. Throws VaultHttpError (400) on refusal.
 */
export function writeAwsRole(existing: AwsRole | undefined, d: Record<string, unknown>, systemMax: number): { role: AwsRole; warnings: string[] } {
  // Framework field validation (types) for the fields this endpoint knows.
  const listFields = [
    "bound_ami_id", "bound_account_id", "bound_region", "bound_vpc_id", "bound_subnet_id", "bound_iam_role_arn",
    "bound_iam_instance_profile_arn", "bound_ec2_instance_id", "bound_iam_principal_arn", "token_policies",
    "policies", "token_bound_cidrs", "bound_cidrs",
  ];
  for (const f of listFields) getCommaList(d, f);
  for (const f of ["token_ttl", "token_max_ttl", "token_period", "token_explicit_max_ttl", "ttl", "max_ttl", "period", "lease"]) getDuration(d, f);
  for (const f of ["resolve_aws_unique_ids", "token_no_default_policy", "disallow_reauthentication", "allow_instance_migration"]) getBool(d, f);
  for (const f of ["auth_type", "inferred_entity_type", "inferred_aws_region", "role_tag", "token_type"]) getString(d, f);
  getInt(d, "token_num_uses");

  const create = existing === undefined;
  const r: AwsRole = existing ? structuredClone(existing) : newRole(uuid());
  const listInto = (field: string, set: (v: string[]) => void) => {
    if (has(d, field)) set(getCommaList(d, field));
  };
  listInto("bound_ami_id", (v) => (r.boundAmiIds = v));
  listInto("bound_account_id", (v) => (r.boundAccountIds = v));
  listInto("bound_region", (v) => (r.boundRegions = v));
  listInto("bound_vpc_id", (v) => (r.boundVpcIds = v));
  listInto("bound_subnet_id", (v) => (r.boundSubnetIds = v));
  if (has(d, "resolve_aws_unique_ids")) {
    const v = getBool(d, "resolve_aws_unique_ids");
    if (!create && r.resolveAwsUniqueIds && !v) {
      throw badRequest("changing resolve_aws_unique_ids from true to false is not allowed");
    }
    r.resolveAwsUniqueIds = v;
  } else if (create) {
    r.resolveAwsUniqueIds = true;
  }
  listInto("bound_iam_role_arn", (v) => (r.boundIamRoleArns = v));
  listInto("bound_iam_instance_profile_arn", (v) => (r.boundIamInstanceProfileArns = v));
  listInto("bound_ec2_instance_id", (v) => (r.boundEc2InstanceIds = v));
  listInto("bound_iam_principal_arn", (v) => (r.boundIamPrincipalArns = v));
  if (has(d, "inferred_entity_type")) r.inferredEntityType = getString(d, "inferred_entity_type");
  if (has(d, "inferred_aws_region")) r.inferredAwsRegion = getString(d, "inferred_aws_region");

  if (has(d, "auth_type")) {
    const t = getString(d, "auth_type");
    if (r.authType === "") {
      if (t !== "ec2" && t !== "iam") throw badRequest(`unrecognized auth_type: ${t}`);
      r.authType = t;
    } else if (t !== r.authType) {
      throw badRequest("changing auth_type on a role is not allowed");
    }
  } else if (create) {
    r.authType = "iam";
  }

  let allowEc2Binds = r.authType === "ec2";
  if (r.inferredEntityType !== "") {
    if (r.authType !== "iam") throw badRequest("specified inferred_entity_type but didn't allow iam auth_type");
    if (r.inferredEntityType !== "ec2_instance") throw badRequest(`specified invalid inferred_entity_type: ${r.inferredEntityType}`);
    if (r.inferredAwsRegion === "") throw badRequest("specified inferred_entity_type but not inferred_aws_region");
    allowEc2Binds = true;
  } else if (r.inferredAwsRegion !== "") {
    throw badRequest("specified inferred_aws_region but not inferred_entity_type");
  }

  let numBinds = 0;
  const ec2Bind = (list: string[], field: string) => {
    if (list.length === 0) return;
    if (!allowEc2Binds) throw badRequest(`specified ${field} but not specifying ec2 auth_type or inferring ec2_instance`);
    numBinds++;
  };
  ec2Bind(r.boundAccountIds, "bound_account_id");
  if (r.boundRegions.length > 0) {
    if (r.authType !== "ec2") throw badRequest("specified bound_region but not specifying ec2 auth_type");
    numBinds++;
  }
  ec2Bind(r.boundAmiIds, "bound_ami_id");
  ec2Bind(r.boundIamInstanceProfileArns, "bound_iam_instance_profile_arn");
  ec2Bind(r.boundEc2InstanceIds, "bound_ec2_instance_id");
  ec2Bind(r.boundIamRoleArns, "bound_iam_role_arn");
  if (r.boundIamPrincipalArns.length > 0) {
    if (r.authType !== "iam") throw badRequest("specified bound_iam_principal_arn but not specifying iam auth_type");
    numBinds++;
  }
  ec2Bind(r.boundVpcIds, "bound_vpc_id");
  ec2Bind(r.boundSubnetIds, "bound_subnet_id");
  if (numBinds === 0) throw badRequest("at least one bound parameter should be specified on the role");

  if (has(d, "disallow_reauthentication")) {
    if (r.authType !== "ec2") throw badRequest("specified disallow_reauthentication when not using ec2 auth type");
    r.disallowReauthentication = getBool(d, "disallow_reauthentication");
  }
  if (has(d, "allow_instance_migration")) {
    if (r.authType !== "ec2") throw badRequest("specified allow_instance_migration when not using ec2 auth type");
    r.allowInstanceMigration = getBool(d, "allow_instance_migration");
  }
  if (r.allowInstanceMigration && r.disallowReauthentication) {
    throw badRequest("cannot specify both disallow_reauthentication=true and allow_instance_migration=true");
  }

  // tokenutil.ParseTokenFields
  if (has(d, "token_bound_cidrs")) r.tokenBoundCidrs = getCommaList(d, "token_bound_cidrs");
  if (has(d, "token_explicit_max_ttl")) r.tokenExplicitMaxTtl = getDuration(d, "token_explicit_max_ttl");
  if (has(d, "token_max_ttl")) r.tokenMaxTtl = getDuration(d, "token_max_ttl");
  if (has(d, "token_no_default_policy")) r.tokenNoDefaultPolicy = getBool(d, "token_no_default_policy");
  if (has(d, "token_period")) r.tokenPeriod = getDuration(d, "token_period");
  if (has(d, "token_policies")) r.tokenPolicies = getCommaList(d, "token_policies");
  if (has(d, "token_type")) {
    const t = getString(d, "token_type");
    if (t === "" || t === "default") r.tokenType = "default";
    else if (t === "service" || t === "batch") r.tokenType = t;
    else throw badRequest(`invalid 'token_type' value ${goQuote(t)}`);
  }
  if (has(d, "token_num_uses")) r.tokenNumUses = getInt(d, "token_num_uses");
  if (r.tokenNumUses < 0) throw badRequest("'token_num_uses' cannot be negative");
  if (r.tokenType === "batch") {
    if (r.tokenPeriod !== 0) throw badRequest("'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens");
    if (r.tokenNumUses !== 0) throw badRequest("'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count");
  }
  if (has(d, "token_ttl")) r.tokenTtl = getDuration(d, "token_ttl");
  if (r.tokenTtl > 0 && r.tokenMaxTtl > 0 && r.tokenTtl > r.tokenMaxTtl) {
    throw badRequest("'token_ttl' cannot be greater than 'token_max_ttl'");
  }

  // tokenutil.UpgradeValue for the legacy names (ttl, max_ttl, period, policies, lease).
  const upgradeDuration = (oldKey: string, newKey: string, setOld: (v: number) => void, setNew: (v: number) => void, getNew: () => number) => {
    if (!has(d, newKey)) {
      if (has(d, oldKey)) {
        const v = getDuration(d, oldKey);
        setOld(v);
        setNew(v);
      }
    } else {
      setOld(has(d, oldKey) ? getNew() : 0);
    }
  };
  if (!has(d, "token_policies")) {
    if (has(d, "policies")) {
      r.policies = getCommaList(d, "policies");
      r.tokenPolicies = r.policies;
    }
  } else {
    r.policies = has(d, "policies") ? r.tokenPolicies : [];
  }
  upgradeDuration("ttl", "token_ttl", (v) => (r.ttl = v), (v) => (r.tokenTtl = v), () => r.tokenTtl);
  if (!has(d, "token_ttl") && !has(d, "ttl") && has(d, "lease")) {
    r.ttl = getDuration(d, "lease");
    r.tokenTtl = r.ttl;
  }
  upgradeDuration("max_ttl", "token_max_ttl", (v) => (r.maxTtl = v), (v) => (r.tokenMaxTtl = v), () => r.tokenMaxTtl);
  upgradeDuration("period", "token_period", (v) => (r.period = v), (v) => (r.tokenPeriod = v), () => r.tokenPeriod);

  const warnings: string[] = [];
  if (r.tokenMaxTtl > systemMax) {
    warnings.push(
      `Given max ttl of ${r.tokenMaxTtl} seconds greater than current mount/system default of ${systemMax} seconds; max ttl will be capped at login time`,
    );
  }
  if (r.tokenMaxTtl !== 0 && r.tokenMaxTtl < r.tokenTtl) throw badRequest("ttl should be shorter than max ttl");
  if (r.tokenPeriod > systemMax) {
    throw badRequest(`period of "${goDurationString(r.tokenPeriod)}" is greater than the backend's maximum lease TTL of "${goDurationString(systemMax)}"`);
  }
  if (has(d, "role_tag")) {
    if (r.authType !== "ec2") throw badRequest("tried to enable role_tag when not using ec2 auth method");
    r.roleTag = getString(d, "role_tag");
    if (r.roleTag.length > 127) throw badRequest("length of role tag exceeds the EC2 key limit of 127 characters");
  }
  return { role: r, warnings };
}

/** `awsRoleEntry.ToResponseData` (+ tokenutil.PopulateTokenData). */
export function roleResponseData(r: AwsRole): Record<string, unknown> {
  const data: Record<string, unknown> = {
    auth_type: r.authType,
    bound_ami_id: [...r.boundAmiIds],
    bound_account_id: [...r.boundAccountIds],
    bound_ec2_instance_id: [...r.boundEc2InstanceIds],
    bound_iam_principal_arn: [...r.boundIamPrincipalArns],
    bound_iam_principal_id: [],
    bound_iam_role_arn: [...r.boundIamRoleArns],
    bound_iam_instance_profile_arn: [...r.boundIamInstanceProfileArns],
    bound_region: [...r.boundRegions],
    bound_subnet_id: [...r.boundSubnetIds],
    bound_vpc_id: [...r.boundVpcIds],
    inferred_entity_type: r.inferredEntityType,
    inferred_aws_region: r.inferredAwsRegion,
    resolve_aws_unique_ids: r.resolveAwsUniqueIds,
    role_id: r.roleId,
    role_tag: r.roleTag,
    allow_instance_migration: r.allowInstanceMigration,
    disallow_reauthentication: r.disallowReauthentication,
    token_bound_cidrs: [...r.tokenBoundCidrs],
    token_explicit_max_ttl: r.tokenExplicitMaxTtl,
    token_max_ttl: r.tokenMaxTtl,
    token_no_default_policy: r.tokenNoDefaultPolicy,
    token_period: r.tokenPeriod,
    token_policies: [...r.tokenPolicies],
    token_type: r.tokenType,
    token_ttl: r.tokenTtl,
    token_num_uses: r.tokenNumUses,
  };
  if (r.ttl > 0) data["ttl"] = r.ttl;
  if (r.maxTtl > 0) data["max_ttl"] = r.maxTtl;
  if (r.period > 0) data["period"] = r.period;
  if (r.policies.length > 0) data["policies"] = [...r.tokenPolicies];
  return data;
}
