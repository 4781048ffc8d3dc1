// sts:AssumeRole for VAULT_ASSUMED_ROLE_ARN, against the STS test server: the credentials it hands
// out are secrets the moment they arrive, so the redactor must know all three before anyone else
// sees them.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { assumeRole } from "../../src/aws/assume-role.ts";
import { Redactor } from "../../src/log.ts";
import { StsTestServer, makeIdentity, type StsIdentity } from "../peers/sts/server.ts";

const ROLE_ARN = "arn:aws:iam::123456789012:role/vault-login";
let sts: StsTestServer;
let caller: StsIdentity;

beforeAll(async () => {
  caller = makeIdentity({ arn: "arn:aws:sts::123456789012:assumed-role/fn-role/orders-api", account: "123456789012" });
  sts = await StsTestServer.start({ identities: [caller], roles: [{ arn: ROLE_ARN, roleId: "AROAVAULTLOGINEXAMPLE" }] });
});
afterAll(async () => {
  await sts?.close();
});

describe("assumeRole", () => {
  it("registers the access key id, the secret key and the session token with the redactor", async () => {
    const redactor = new Redactor();
    const assumed = await assumeRole({
      roleArn: ROLE_ARN,
      sessionName: "orders-api",
      region: "us-east-1",
      endpoint: sts.url,
      credentials: { accessKeyId: caller.accessKeyId, secretAccessKey: caller.secretAccessKey, sessionToken: caller.sessionToken },
      timeoutMs: 5_000,
      redactor,
    });
    expect(assumed.sessionToken).toBeTruthy();
    const echo = `signed with ${assumed.accessKeyId} / ${assumed.secretAccessKey} / ${assumed.sessionToken}`;
    expect(redactor.scrub(echo)).toBe("signed with [redacted] / [redacted] / [redacted]");
  });
});
