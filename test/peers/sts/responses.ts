/**
 * STS's XML bodies (awsQuery protocol, API version 2011-06-15), laid out as the service sends them.
 * Vault reads these: it requires `Content-Type: text/xml` and a body starting with
 * `<GetCallerIdentityResponse` (or `<?xml`), then takes `GetCallerIdentityResult` → Arn/UserId/Account.
 */

export const STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/";
export const STS_API_VERSION = "2011-06-15";

export function xmlEscape(value: string): string {
  return value
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

export function getCallerIdentityXml(who: { arn: string; userId: string; account: string }, requestId: string): string {
  return (
    `<GetCallerIdentityResponse xmlns="${STS_XMLNS}">\n` +
    `  <GetCallerIdentityResult>\n` +
    `    <Arn>${xmlEscape(who.arn)}</Arn>\n` +
    `    <UserId>${xmlEscape(who.userId)}</UserId>\n` +
    `    <Account>${xmlEscape(who.account)}</Account>\n` +
    `  </GetCallerIdentityResult>\n` +
    `  <ResponseMetadata>\n` +
    `    <RequestId>${requestId}</RequestId>\n` +
    `  </ResponseMetadata>\n` +
    `</GetCallerIdentityResponse>\n`
  );
}

export interface AssumeRoleXmlInput {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken: string;
  /** Epoch ms; rendered as ISO-8601 to the second, as STS does (`2024-01-01T12:00:00Z`). */
  expiresAt: number;
  assumedRoleId: string;
  arn: string;
}

export function isoSeconds(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function assumeRoleXml(input: AssumeRoleXmlInput, requestId: string): string {
  return (
    `<AssumeRoleResponse xmlns="${STS_XMLNS}">\n` +
    `  <AssumeRoleResult>\n` +
    `    <AssumedRoleUser>\n` +
    `      <AssumedRoleId>${xmlEscape(input.assumedRoleId)}</AssumedRoleId>\n` +
    `      <Arn>${xmlEscape(input.arn)}</Arn>\n` +
    `    </AssumedRoleUser>\n` +
    `    <Credentials>\n` +
    `      <AccessKeyId>${xmlEscape(input.accessKeyId)}</AccessKeyId>\n` +
    `      <SecretAccessKey>${xmlEscape(input.secretAccessKey)}</SecretAccessKey>\n` +
    `      <SessionToken>${xmlEscape(input.sessionToken)}</SessionToken>\n` +
    `      <Expiration>${isoSeconds(input.expiresAt)}</Expiration>\n` +
    `    </Credentials>\n` +
    `  </AssumeRoleResult>\n` +
    `  <ResponseMetadata>\n` +
    `    <RequestId>${requestId}</RequestId>\n` +
    `  </ResponseMetadata>\n` +
    `</AssumeRoleResponse>\n`
  );
}

/** `Sender` for the client's faults, `Receiver` for the service's own. */
export function errorXml(error: { code: string; message: string; type?: "Sender" | "Receiver" }, requestId: string): string {
  return (
    `<ErrorResponse xmlns="${STS_XMLNS}">\n` +
    `  <Error>\n` +
    `    <Type>${error.type ?? "Sender"}</Type>\n` +
    `    <Code>${xmlEscape(error.code)}</Code>\n` +
    `    <Message>${xmlEscape(error.message)}</Message>\n` +
    `  </Error>\n` +
    `  <RequestId>${requestId}</RequestId>\n` +
    `</ErrorResponse>\n`
  );
}
