/**
 * IAM ARN parsing and canonicalisation, ported from Vault's AWS auth method (`parseIamArn`,
 * `canonicalArn`) and `strutil.GlobbedStringsMatch`.
 */
import { goQuote } from "./go-compat.ts";

export interface IamEntity {
  partition: string;
  accountNumber: string;
  type: string;
  path: string;
  friendlyName: string;
  sessionInfo: string;
}

/** Parses an STS caller ARN. Throws with Vault's messages (they follow `error parsing arn "<arn>": `). */
export function parseIamArn(iamArn: string): IamEntity {
  const fullParts = iamArn.split(":");
  if (fullParts.length !== 6) {
    throw new Error(`unrecognized arn: contains ${fullParts.length} colon-separated parts, expected 6`);
  }
  const [prefix, partition, service, , account, resource] = fullParts as [string, string, string, string, string, string];
  if (prefix !== "arn") throw new Error('unrecognized arn: does not begin with "arn:"');
  if (service !== "iam" && service !== "sts") {
    throw new Error(`unrecognized service: ${service}, not one of iam or sts`);
  }
  const parts = resource.split("/");
  if (parts.length < 2) {
    throw new Error(`unrecognized arn: ${goQuote(resource)} contains fewer than 2 slash-separated parts`);
  }
  const type = parts[0] as string;
  const entity: IamEntity = {
    partition,
    accountNumber: account,
    type,
    path: parts.slice(1, -1).join("/"),
    friendlyName: parts[parts.length - 1] as string,
    sessionInfo: "",
  };
  switch (type) {
    case "assumed-role":
      if (parts.length < 3) {
        throw new Error(`unrecognized arn: ${goQuote(resource)} contains fewer than 3 slash-separated parts`);
      }
      entity.path = "";
      entity.friendlyName = parts[1] as string;
      entity.sessionInfo = parts[2] as string;
      break;
    case "user":
    case "role":
    case "instance-profile":
      break;
    default:
      throw new Error(`unrecognized principal type: ${goQuote(type)}`);
  }
  return entity;
}

/** `arn:<partition>:iam::<account>:<type>/<FriendlyName>`; assumed-role becomes role, path dropped. */
export function canonicalArn(e: IamEntity): string {
  const type = e.type === "assumed-role" ? "role" : e.type;
  return `arn:${e.partition}:iam::${e.accountNumber}:${type}/${e.friendlyName}`;
}

/** `strutil.GlobbedStringsMatch`: a leading and/or trailing `*` is a wildcard. */
export function globbedStringsMatch(item: string, val: string): boolean {
  if (item.length < 2) return val === item;
  const hasPrefix = item.startsWith("*");
  const hasSuffix = item.endsWith("*");
  if (hasPrefix && hasSuffix) return val.includes(item.slice(1, -1));
  if (hasPrefix) return val.endsWith(item.slice(1));
  if (hasSuffix) return val.startsWith(item.slice(0, -1));
  return val === item;
}
