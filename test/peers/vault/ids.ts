/**
 * Random identifiers and credentials in the shapes Vault and AWS use. All randomness comes from
 * node:crypto; issued values are long enough that a leak scan over logs has no false positives.
 */
import { randomBytes, randomInt, randomUUID } from "node:crypto";

const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const UPPER_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function pick(alphabet: string, length: number): string {
  let out = "";
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

export function uuid(): string {
  return randomUUID();
}

export function base62(length: number): string {
  return pick(BASE62, length);
}

/** Suffix Vault appends to tokens, accessors and lease IDs created in a child namespace. */
function nsSuffix(namespaceId: string | undefined): string {
  return namespaceId ? `.${namespaceId}` : "";
}

/** A service token in the Vault >= 1.10 format (`hvs.` + opaque base62). */
export function serviceToken(namespaceId?: string): string {
  return `hvs.CAES${base62(88)}${nsSuffix(namespaceId)}`;
}

/** A batch token (`hvb.`); batch tokens are long because they carry their own state in Vault. */
export function batchToken(namespaceId?: string): string {
  return `hvb.AAAAAQ${base62(150)}${nsSuffix(namespaceId)}`;
}

/** A token accessor (24 base62 characters). */
export function tokenAccessor(namespaceId?: string): string {
  return `${base62(24)}${nsSuffix(namespaceId)}`;
}

/** The random tail of a lease ID (`<path>/<this>`). */
export function leaseSuffix(namespaceId?: string): string {
  return `${base62(24)}${nsSuffix(namespaceId)}`;
}

/** A 5-character namespace ID, as Vault Enterprise generates. */
export function namespaceId(): string {
  return base62(5);
}

/** An AWS access key ID: `AKIA` (IAM user) or `ASIA` (temporary) + 16 characters. */
export function awsAccessKeyId(prefix: "AKIA" | "ASIA"): string {
  return prefix + pick(UPPER_ALNUM, 16);
}

/** An AWS secret access key: 40 characters of base64-like text. */
export function awsSecretAccessKey(): string {
  return randomBytes(30).toString("base64").replace(/=+$/, "").slice(0, 40);
}

/** An AWS session token: long opaque base64. */
export function awsSessionToken(): string {
  return `IQoJb3JpZ2luX2Vj${randomBytes(300).toString("base64")}`;
}

/**
 * A password satisfying Vault's default password policy: 20 characters from [A-Za-z0-9-] with at
 * least one lower-case letter, one upper-case letter, one digit and one dash.
 */
export function vaultPassword(): string {
  const required = [pick("abcdefghijklmnopqrstuvwxyz", 1), pick("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 1), pick("0123456789", 1), "-"];
  const chars = [...required, ...pick(`${BASE62}-`, 16)];
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    const t = chars[i] as string;
    chars[i] = chars[j] as string;
    chars[j] = t;
  }
  return chars.join("");
}
