/**
 * `sts:AssumeRole` for VAULT_ASSUMED_ROLE_ARN. This module is the only importer of
 * `@aws-sdk/client-sts` and is loaded with a dynamic import, so the ~300 KB client lands in a
 * separate chunk that functions without an assumed role never load.
 */
import { STSClient, AssumeRoleCommand } from "@aws-sdk/client-sts";
import { stsEndpointFor, type AwsCredentials } from "./sts-endpoint.ts";
import type { Redactor } from "../log.ts";

export interface AssumeRoleOptions {
  roleArn: string;
  sessionName: string;
  region: string;
  /** AWS_ENDPOINT_URL_STS (tests, VPC endpoints); unset: the regional endpoint of `region`. */
  endpoint?: string;
  credentials: AwsCredentials;
  timeoutMs: number;
  /** Learns the assumed credentials the moment STS hands them out, before anything can echo them. */
  redactor: Pick<Redactor, "add">;
}

export async function assumeRole(opts: AssumeRoleOptions): Promise<AwsCredentials> {
  // The SDK would print a plain-text Node-version notice into the function's log (ours are JSON
  // lines). This is the SDK's own switch, read when a client is made; only this module loads the SDK.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
  const client = new STSClient({
    region: opts.region,
    endpoint: opts.endpoint ?? stsEndpointFor(opts.region).url,
    credentials: {
      accessKeyId: opts.credentials.accessKeyId,
      secretAccessKey: opts.credentials.secretAccessKey,
      sessionToken: opts.credentials.sessionToken,
    },
    maxAttempts: 2,
  });
  try {
    const out = await client.send(
      new AssumeRoleCommand({ RoleArn: opts.roleArn, RoleSessionName: opts.sessionName, DurationSeconds: 900 }),
      { abortSignal: AbortSignal.timeout(opts.timeoutMs) },
    );
    const c = out.Credentials;
    for (const value of [c?.AccessKeyId, c?.SecretAccessKey, c?.SessionToken]) opts.redactor.add(value);
    if (!c?.AccessKeyId || !c.SecretAccessKey) throw new Error("STS AssumeRole answered without credentials");
    return { accessKeyId: c.AccessKeyId, secretAccessKey: c.SecretAccessKey, sessionToken: c.SessionToken, expiration: c.Expiration };
  } finally {
    client.destroy();
  }
}
