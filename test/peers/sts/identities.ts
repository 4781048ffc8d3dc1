/**
 * Identities (access keys and who they belong to) for the STS test server, with realistic shapes:
 * `AKIA…`/`ASIA…` key ids of 20 characters, 40-character secrets, long base64 session tokens,
 * `AIDA…`/`AROA…` unique ids, and ARNs of IAM users, roles and assumed-role sessions.
 */
import { randomBytes, randomInt } from "node:crypto";

export interface StsIdentity {
  accessKeyId: string;
  secretAccessKey: string;
  /** Temporary credentials carry one; requests must present it as `X-Amz-Security-Token`. */
  sessionToken?: string;
  /** What GetCallerIdentity answers as `Arn`. */
  arn: string;
  /** What GetCallerIdentity answers as `UserId` (`AIDA…` for users, `AROA…:<session>` for assumed roles). */
  userId: string;
  account: string;
  /** Epoch ms; after it the credentials are refused with `ExpiredToken`. */
  expiresAt?: number;
}

export interface MakeIdentityOptions {
  /** e.g. `arn:aws:iam::123456789012:user/alice` or `arn:aws:sts::123456789012:assumed-role/fn-role/my-fn`. */
  arn: string;
  /** Defaults to the account field of `arn`. */
  account?: string;
  /** Defaults to a fresh unique id of the right kind for the ARN. */
  userId?: string;
  /** Temporary (`ASIA…` + session token)? Defaults to true for assumed-role and federated-user ARNs. */
  temporary?: boolean;
  expiresAt?: number;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const ALNUM_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const SECRET_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

function randomFrom(alphabet: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** `AKIA` (long-term) or `ASIA` (temporary) followed by 16 base32 characters. */
export function randomAccessKeyId(temporary: boolean): string {
  return (temporary ? "ASIA" : "AKIA") + randomFrom(BASE32, 16);
}

export function randomSecretAccessKey(): string {
  return randomFrom(SECRET_CHARS, 40);
}

/**
 * A session token shaped like the ones STS issues today: base64 that begins with `IQoJb3JpZ2luX2Vj`
 * (the encoding of the token's "origin_ec" prefix), several hundred characters long.
 */
export function randomSessionToken(): string {
  return "IQoJb3JpZ2luX2Vj" + randomBytes(420).toString("base64");
}

/** A unique id (`AIDA…`, `AROA…`): prefix plus 17 upper-case alphanumerics, 21 characters in all. */
export function randomUniqueId(prefix: "AIDA" | "AROA"): string {
  return prefix + randomFrom(ALNUM_UPPER, 17);
}

export interface ParsedArn {
  partition: string;
  service: string;
  region: string;
  account: string;
  resource: string;
}

export function parseArn(arn: string): ParsedArn | undefined {
  const parts = arn.split(":");
  if (parts.length < 6 || parts[0] !== "arn") return undefined;
  const [, partition, service, region, account] = parts as [string, string, string, string, string];
  const resource = parts.slice(5).join(":");
  if (!partition || !service || !resource) return undefined;
  return { partition, service, region, account, resource };
}

/** `arn:<p>:iam::<acct>:role/<path/>name` → its parts, or undefined if it is not a role ARN. */
export function parseRoleArn(arn: string): { partition: string; account: string; roleName: string } | undefined {
  const parsed = parseArn(arn);
  if (!parsed || parsed.service !== "iam" || !/^\d{12}$/.test(parsed.account)) return undefined;
  if (!parsed.resource.startsWith("role/")) return undefined;
  const roleName = parsed.resource.split("/").pop() ?? "";
  return roleName === "" ? undefined : { partition: parsed.partition, account: parsed.account, roleName };
}

/** The ARN a session of `roleArn` signs as: the role's path is dropped, as STS does. */
export function assumedRoleArn(role: { partition: string; account: string; roleName: string }, sessionName: string): string {
  return `arn:${role.partition}:sts::${role.account}:assumed-role/${role.roleName}/${sessionName}`;
}

export function isAssumedRoleArn(arn: string): boolean {
  return /^arn:[^:]+:sts::\d{12}:assumed-role\//.test(arn);
}

function defaultUserId(arn: string, account: string): string {
  const resource = parseArn(arn)?.resource ?? "";
  if (resource.startsWith("assumed-role/")) {
    const session = resource.split("/").slice(2).join("/") || "session";
    return `${randomUniqueId("AROA")}:${session}`;
  }
  if (resource.startsWith("role/")) return randomUniqueId("AROA");
  if (resource === "root") return account;
  return randomUniqueId("AIDA");
}

/** A fresh identity for `arn` with random credentials of the right kind. */
export function makeIdentity(opts: MakeIdentityOptions): StsIdentity {
  const account = opts.account ?? parseArn(opts.arn)?.account ?? "123456789012";
  const temporary = opts.temporary ?? (isAssumedRoleArn(opts.arn) || opts.arn.includes(":federated-user/"));
  const identity: StsIdentity = {
    accessKeyId: opts.accessKeyId ?? randomAccessKeyId(temporary),
    secretAccessKey: opts.secretAccessKey ?? randomSecretAccessKey(),
    arn: opts.arn,
    userId: opts.userId ?? defaultUserId(opts.arn, account),
    account,
  };
  const sessionToken = opts.sessionToken ?? (temporary ? randomSessionToken() : undefined);
  if (sessionToken !== undefined) identity.sessionToken = sessionToken;
  if (opts.expiresAt !== undefined) identity.expiresAt = opts.expiresAt;
  return identity;
}
