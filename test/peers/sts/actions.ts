/**
 * The STS actions the test server answers, as functions of the authenticated caller, the request
 * parameters and the server's state. Validation rules and messages follow STS's.
 */
import {
  assumedRoleArn,
  isAssumedRoleArn,
  makeIdentity,
  parseRoleArn,
  type StsIdentity,
} from "./identities.ts";
import { assumeRoleXml, getCallerIdentityXml } from "./responses.ts";

export interface StsRoleDefinition {
  /** e.g. `arn:aws:iam::123456789012:role/vault-auth` (a path is allowed: `role/path/name`). */
  arn: string;
  /** The role's unique id, `AROA…`. */
  roleId: string;
  /** The role's MaxSessionDuration; STS's default is 3600. */
  maxSessionDurationSeconds?: number;
}

/** A refusal, sent as an STS `ErrorResponse`. */
export class StsError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: "Sender" | "Receiver" = "Sender",
  ) {
    super(message);
  }
}

export interface ActionContext {
  caller: StsIdentity;
  params: URLSearchParams;
  requestId: string;
  /** Wall clock, epoch ms. */
  now: number;
  roles: ReadonlyMap<string, StsRoleDefinition>;
  /** Registers credentials the action issued, so they can sign later requests. */
  issue: (identity: StsIdentity) => void;
}

export interface ActionResult {
  body: string;
}

export const DEFAULT_ROLE_MAX_SESSION_SECONDS = 3600;
/** Role chaining (an assumed-role session assuming a role) is capped at one hour whatever the role allows. */
export const ROLE_CHAINING_MAX_SECONDS = 3600;
const MIN_DURATION_SECONDS = 900;
const MAX_DURATION_SECONDS = 43200;
const SESSION_NAME_PATTERN = /^[\w+=,.@-]*$/;

export function getCallerIdentity(ctx: ActionContext): ActionResult {
  return { body: getCallerIdentityXml(ctx.caller, ctx.requestId) };
}

/** Constraint violations, reported together as STS does ("2 validation errors detected: …; …"). */
function validationError(violations: string[]): StsError {
  const n = violations.length;
  return new StsError(400, "ValidationError", `${n} validation error${n === 1 ? "" : "s"} detected: ${violations.join("; ")}`);
}

function describeValue(value: string | null): string {
  return value === null ? "null" : `'${value}'`;
}

export function assumeRole(ctx: ActionContext): ActionResult {
  const roleArn = ctx.params.get("RoleArn");
  const sessionName = ctx.params.get("RoleSessionName");
  const durationRaw = ctx.params.get("DurationSeconds");

  const violations: string[] = [];
  if (roleArn === null) {
    violations.push("Value null at 'roleArn' failed to satisfy constraint: Member must not be null");
  } else if (roleArn.length < 20) {
    violations.push(`Value '${roleArn}' at 'roleArn' failed to satisfy constraint: Member must have length greater than or equal to 20`);
  } else if (roleArn.length > 2048) {
    violations.push(`Value '${roleArn}' at 'roleArn' failed to satisfy constraint: Member must have length less than or equal to 2048`);
  }
  if (sessionName === null) {
    violations.push("Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null");
  } else {
    if (sessionName.length < 2) {
      violations.push(`Value ${describeValue(sessionName)} at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2`);
    }
    if (sessionName.length > 64) {
      violations.push(`Value ${describeValue(sessionName)} at 'roleSessionName' failed to satisfy constraint: Member must have length less than or equal to 64`);
    }
    if (!SESSION_NAME_PATTERN.test(sessionName)) {
      violations.push(
        `Value ${describeValue(sessionName)} at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*`,
      );
    }
  }
  let duration = 3600;
  if (durationRaw !== null) {
    if (!/^\d{1,9}$/.test(durationRaw)) {
      throw new StsError(400, "ValidationError", `Value '${durationRaw}' for parameter DurationSeconds is invalid. It must be an integer.`);
    }
    duration = Number(durationRaw);
    if (duration < MIN_DURATION_SECONDS) {
      violations.push(`Value '${duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to ${MIN_DURATION_SECONDS}`);
    } else if (duration > MAX_DURATION_SECONDS) {
      violations.push(`Value '${duration}' at 'durationSeconds' failed to satisfy constraint: Member must have value less than or equal to ${MAX_DURATION_SECONDS}`);
    }
  }
  if (violations.length > 0 || roleArn === null || sessionName === null) throw validationError(violations);

  const role = ctx.roles.get(roleArn);
  const parsedRole = role ? parseRoleArn(role.arn) : undefined;
  if (!role || !parsedRole) {
    throw new StsError(403, "AccessDenied", `User: ${ctx.caller.arn} is not authorized to perform: sts:AssumeRole on resource: ${roleArn}`);
  }
  if (isAssumedRoleArn(ctx.caller.arn) && duration > ROLE_CHAINING_MAX_SECONDS) {
    throw new StsError(400, "ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.");
  }
  if (duration > (role.maxSessionDurationSeconds ?? DEFAULT_ROLE_MAX_SESSION_SECONDS)) {
    throw new StsError(400, "ValidationError", "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.");
  }

  // Expiration is reported to the second; keep the stored expiry equal to what the client reads.
  const expiresAt = Math.floor(ctx.now / 1000) * 1000 + duration * 1000;
  const assumedRoleId = `${role.roleId}:${sessionName}`;
  const issued = makeIdentity({
    arn: assumedRoleArn(parsedRole, sessionName),
    account: parsedRole.account,
    userId: assumedRoleId,
    temporary: true,
    expiresAt,
  });
  ctx.issue(issued);
  return {
    body: assumeRoleXml(
      {
        accessKeyId: issued.accessKeyId,
        secretAccessKey: issued.secretAccessKey,
        sessionToken: issued.sessionToken ?? "",
        expiresAt,
        assumedRoleId,
        arn: issued.arn,
      },
      ctx.requestId,
    ),
  };
}

export const ACTIONS: Readonly<Record<string, (ctx: ActionContext) => ActionResult>> = {
  GetCallerIdentity: getCallerIdentity,
  AssumeRole: assumeRole,
};
