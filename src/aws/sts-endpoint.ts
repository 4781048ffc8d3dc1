/**
 * Where STS is: the endpoint a login is signed for (and where AssumeRole goes), per AWS partition.
 * Shared by the Vault login (../vault/login-request.ts) and AssumeRole (./assume-role.ts).
 */

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  expiration?: Date;
}

export interface StsEndpoint {
  /** With a trailing slash: "https://sts.amazonaws.com/". */
  url: string;
  host: string;
  /** The signing region. */
  region: string;
}

// DNS suffix of each AWS partition, by region prefix (from the SDK's partitions.json). The
// longer prefixes come first: "us-isob-" must not be taken for "us-iso-".
const PARTITION_SUFFIXES: readonly (readonly [RegExp, string])[] = [
  [/^cn-/, "amazonaws.com.cn"],
  [/^us-isob-/, "sc2s.sgov.gov"],
  [/^us-isof-/, "csp.hci.ic.gov"],
  [/^us-iso-/, "c2s.ic.gov"],
  [/^eu-isoe-/, "cloud.adc-e.uk"],
  [/^eusc-/, "amazonaws.eu"],
];
/** The shape of a region name in every AWS partition (us-east-1, us-gov-west-1, cn-north-1, eusc-de-east-1...). */
export const AWS_REGION_SHAPE = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;

/**
 * The STS endpoint the login is signed for. Unset: the global `https://sts.amazonaws.com/`
 * signed for us-east-1 (Vault's default STS endpoint). A region: `https://sts.<region>.<suffix>/`
 * signed for that region, where the suffix is the region's partition's (amazonaws.com,
 * amazonaws.com.cn, …). Vault must be configured to match (sts_endpoint, or
 * use_sts_region_from_client).
 */
export function stsEndpointFor(region?: string): StsEndpoint {
  if (region === undefined || region === "") {
    return { url: "https://sts.amazonaws.com/", host: "sts.amazonaws.com", region: "us-east-1" };
  }
  // The region becomes part of a host name: refuse anything that is not region-shaped.
  if (!AWS_REGION_SHAPE.test(region)) throw new TypeError(`not an AWS region: ${JSON.stringify(region)}`);
  const suffix = PARTITION_SUFFIXES.find(([prefix]) => prefix.test(region))?.[1] ?? "amazonaws.com";
  const host = `sts.${region}.${suffix}`;
  return { url: `https://${host}/`, host, region };
}

