/**
 * The STS test server, driven by independent clients: `aws4`, `@smithy/signature-v4` (signed the way the
 * product signs its Vault login) and the real `@aws-sdk/client-sts` STSClient.
 */
import http from "node:http";
import net from "node:net";
import { createHash, createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import aws4 from "aws4";
import { SignatureV4 } from "@smithy/signature-v4";
import { HttpRequest } from "@smithy/protocol-http";
import { AssumeRoleCommand, GetCallerIdentityCommand, STSClient } from "@aws-sdk/client-sts";
import { makeIdentity, StsTestServer, type StsIdentity } from "./sts/server.ts";

const GCI_BODY = "Action=GetCallerIdentity&Version=2011-06-15";
const FORM = "application/x-www-form-urlencoded; charset=utf-8";
const MISMATCH =
  "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";

const user = makeIdentity({ arn: "arn:aws:iam::123456789012:user/alice" });
const lambdaRole = makeIdentity({ arn: "arn:aws:sts::123456789012:assumed-role/fn-role/my-fn" });
const expired = makeIdentity({ arn: "arn:aws:sts::123456789012:assumed-role/fn-role/old", expiresAt: Date.now() - 60_000 });
const vaultAuthRole = { arn: "arn:aws:iam::210987654321:role/ops/vault-auth", roleId: "AROAEXAMPLEVAULTAUTH1", maxSessionDurationSeconds: 7200 };

let sts: StsTestServer;

beforeAll(async () => {
  sts = await StsTestServer.start({ identities: [user, lambdaRole, expired], roles: [vaultAuthRole] });
});
afterAll(async () => {
  await sts.close();
});

interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Sends a request with exactly these headers (a foreign Host included), which fetch cannot do. */
function send(url: string, opts: { method: string; path: string; headers: Record<string, string>; body?: string }): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request({ hostname, port, method: opts.method, path: opts.path, headers: opts.headers, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(new Error("request timed out")));
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** node:crypto SHA-256 / HMAC-SHA256 in the shape smithy's signer takes (its `SourceData`). */
type SourceData = string | ArrayBuffer | ArrayBufferView;
function bytesOf(data: SourceData): string | Uint8Array {
  if (typeof data === "string") return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
class NodeSha256 {
  private hash: ReturnType<typeof createHash> | ReturnType<typeof createHmac>;
  private readonly secret: string | Uint8Array | undefined;
  constructor(secret?: SourceData) {
    this.secret = secret === undefined ? undefined : bytesOf(secret);
    this.hash = this.fresh();
  }
  private fresh() {
    return this.secret === undefined ? createHash("sha256") : createHmac("sha256", this.secret);
  }
  update(data: SourceData): void {
    this.hash.update(bytesOf(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.hash.digest());
  }
  reset(): void {
    this.hash = this.fresh();
  }
}

/** Signs a GetCallerIdentity POST the way the product does: smithy, explicit host header, no checksum header. */
async function smithySigned(
  id: StsIdentity,
  opts: { region?: string; hostname?: string; signingDate?: Date; serverId?: string; body?: string } = {},
): Promise<{ headers: Record<string, string>; body: string }> {
  const hostname = opts.hostname ?? "sts.amazonaws.com";
  const body = opts.body ?? GCI_BODY;
  const headers: Record<string, string> = { host: hostname, "content-type": FORM };
  if (opts.serverId !== undefined) headers["x-vault-aws-iam-server-id"] = opts.serverId;
  const signer = new SignatureV4({
    service: "sts",
    region: opts.region ?? "us-east-1",
    credentials: {
      accessKeyId: id.accessKeyId,
      secretAccessKey: id.secretAccessKey,
      ...(id.sessionToken !== undefined ? { sessionToken: id.sessionToken } : {}),
    },
    sha256: NodeSha256,
    applyChecksum: false,
  });
  const request = new HttpRequest({ method: "POST", protocol: "https:", hostname, path: "/", headers, body });
  const signed = await signer.sign(request, opts.signingDate ? { signingDate: opts.signingDate } : {});
  return { headers: signed.headers as Record<string, string>, body };
}

/** Signs with `aws4` for the listener's own host and sends with fetch. */
async function aws4Fetch(
  url: string,
  id: StsIdentity,
  opts: { body?: string; path?: string; method?: string; region?: string } = {},
): Promise<Response> {
  const { host } = new URL(url);
  const method = opts.method ?? "POST";
  const body = method === "GET" ? undefined : (opts.body ?? GCI_BODY);
  const signed = aws4.sign(
    {
      host,
      path: opts.path ?? "/",
      method,
      service: "sts",
      region: opts.region ?? "us-east-1",
      ...(body !== undefined ? { body, headers: { "Content-Type": FORM } } : {}),
    },
    { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, ...(id.sessionToken ? { sessionToken: id.sessionToken } : {}) },
  );
  const headers = Object.fromEntries(
    Object.entries(signed.headers ?? {}).filter(([k]) => !["host", "content-length"].includes(k.toLowerCase())),
  ) as Record<string, string>;
  return fetch(url + (opts.path ?? "/"), { method, headers, ...(body !== undefined ? { body } : {}) });
}

function xmlField(xml: string, tag: string): string | undefined {
  return new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml)?.[1];
}

function errorOf(xml: string): { type?: string; code?: string; message?: string } {
  return {
    type: xmlField(xml, "Type"),
    code: xmlField(xml, "Code"),
    message: xmlField(xml, "Message")?.replace(/&apos;/g, "'").replace(/&quot;/g, '"').replace(/&amp;/g, "&"),
  };
}

describe("GetCallerIdentity", () => {
  it("answers an aws4-signed POST with the caller's Arn, UserId and Account", async () => {
    const before = sts.requests.length;
    const res = await aws4Fetch(sts.url, user);
    const xml = await res.text();
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/xml");
    const requestId = res.headers.get("x-amzn-requestid");
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(xml.trimStart().startsWith('<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">')).toBe(true);
    expect(xmlField(xml, "Arn")).toBe("arn:aws:iam::123456789012:user/alice");
    expect(xmlField(xml, "UserId")).toBe(user.userId);
    expect(user.userId).toMatch(/^AIDA[A-Z0-9]{17}$/);
    expect(xmlField(xml, "Account")).toBe("123456789012");
    expect(xmlField(xml, "RequestId")).toBe(requestId);
    expect(sts.requests.slice(before)).toEqual([
      expect.objectContaining({
        action: "GetCallerIdentity",
        path: "/",
        region: "us-east-1",
        listenerUrl: sts.url,
        status: 200,
        callerArn: user.arn,
        hostHeader: new URL(sts.url).host,
      }),
    ]);
  });

  it("accepts a smithy-signed login request as Vault forwards it: foreign Host, path //, signed server-id header", async () => {
    const signed = await smithySigned(lambdaRole, { serverId: "vault.example.com" });
    expect(signed.headers["authorization"]).toContain("x-vault-aws-iam-server-id");
    expect(signed.headers["authorization"]).toContain("x-amz-security-token");
    expect(signed.headers["x-amz-content-sha256"]).toBeUndefined();
    const before = sts.requests.length;
    const res = await send(sts.url, { method: "POST", path: "//", headers: signed.headers, body: signed.body });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("text/xml");
    expect(xmlField(res.body, "Arn")).toBe("arn:aws:sts::123456789012:assumed-role/fn-role/my-fn");
    expect(xmlField(res.body, "UserId")).toMatch(/^AROA[A-Z0-9]{17}:my-fn$/);
    expect(sts.requests.slice(before)).toEqual([
      expect.objectContaining({ hostHeader: "sts.amazonaws.com", path: "//", status: 200, callerArn: lambdaRole.arn }),
    ]);
  });

  it("accepts a signed GET with the parameters in the query string", async () => {
    const res = await aws4Fetch(sts.url, user, { method: "GET", path: "/?Action=GetCallerIdentity&Version=2011-06-15" });
    expect(res.status).toBe(200);
    expect(xmlField(await res.text(), "Arn")).toBe(user.arn);
  });
});

describe("signature and credential failures", () => {
  async function expectError(res: RawResponse, status: number, code: string, message?: string | RegExp): Promise<void> {
    expect(res.status).toBe(status);
    expect(res.headers["content-type"]).toBe("text/xml");
    expect(res.headers["x-amzn-requestid"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(res.body.trimStart().startsWith('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">')).toBe(true);
    const err = errorOf(res.body);
    expect(err.type).toBe("Sender");
    expect(err.code).toBe(code);
    if (typeof message === "string") expect(err.message).toBe(message);
    else if (message) expect(err.message).toMatch(message);
    expect(xmlField(res.body, "RequestId")).toBe(res.headers["x-amzn-requestid"]);
  }

  it("a tampered body → SignatureDoesNotMatch", async () => {
    const signed = await smithySigned(lambdaRole);
    const res = await send(sts.url, { method: "POST", path: "/", headers: signed.headers, body: GCI_BODY.replace("2011", "2012") });
    await expectError(res, 403, "SignatureDoesNotMatch", MISMATCH);
  });

  it("a tampered signed header → SignatureDoesNotMatch", async () => {
    const signed = await smithySigned(lambdaRole, { serverId: "vault.example.com" });
    const headers = { ...signed.headers, "x-vault-aws-iam-server-id": "vault.example.org" };
    await expectError(await send(sts.url, { method: "POST", path: "/", headers, body: signed.body }), 403, "SignatureDoesNotMatch", MISMATCH);
  });

  it("a tampered signature → SignatureDoesNotMatch", async () => {
    const signed = await smithySigned(lambdaRole);
    const auth = signed.headers["authorization"] ?? "";
    const headers = { ...signed.headers, authorization: auth.slice(0, -1) + (auth.endsWith("a") ? "b" : "a") };
    await expectError(await send(sts.url, { method: "POST", path: "/", headers, body: signed.body }), 403, "SignatureDoesNotMatch", MISMATCH);
  });

  it("an unknown access key → InvalidClientTokenId", async () => {
    const stranger = makeIdentity({ arn: "arn:aws:iam::123456789012:user/mallory" });
    const signed = await smithySigned(stranger);
    await expectError(
      await send(sts.url, { method: "POST", path: "/", headers: signed.headers, body: signed.body }),
      403,
      "InvalidClientTokenId",
      "The security token included in the request is invalid.",
    );
  });

  it("a wrong or missing session token → InvalidClientTokenId", async () => {
    const wrong = await smithySigned({ ...lambdaRole, sessionToken: "IQoJb3JpZ2luX2VjWRONG" });
    await expectError(await send(sts.url, { method: "POST", path: "/", headers: wrong.headers, body: wrong.body }), 403, "InvalidClientTokenId");
    const { sessionToken: _omitted, ...withoutToken } = lambdaRole;
    const missing = await smithySigned(withoutToken);
    await expectError(
      await send(sts.url, { method: "POST", path: "/", headers: missing.headers, body: missing.body }),
      403,
      "InvalidClientTokenId",
      "The security token included in the request is invalid.",
    );
  });

  it("credentials past their expiry → ExpiredToken", async () => {
    const signed = await smithySigned(expired);
    await expectError(
      await send(sts.url, { method: "POST", path: "/", headers: signed.headers, body: signed.body }),
      403,
      "ExpiredToken",
      "The security token included in the request is expired",
    );
  });

  it("a date more than 15 minutes off → SignatureDoesNotMatch, Signature expired", async () => {
    const signed = await smithySigned(lambdaRole, { signingDate: new Date(Date.now() - 20 * 60_000) });
    await expectError(
      await send(sts.url, { method: "POST", path: "/", headers: signed.headers, body: signed.body }),
      403,
      "SignatureDoesNotMatch",
      /^Signature expired: \d{8}T\d{6}Z is now earlier than \d{8}T\d{6}Z \(\d{8}T\d{6}Z - 15 min\.\)$/,
    );
  });

  it("a signature scoped to another region than the listener's → Credential should be scoped to a valid region.", async () => {
    const signed = await smithySigned(lambdaRole, { region: "eu-west-1" });
    const res = await send(sts.url, { method: "POST", path: "/", headers: signed.headers, body: signed.body });
    await expectError(res, 403, "SignatureDoesNotMatch", /^Credential should be scoped to a valid region\. ?$/);
  });

  it("no Authorization header → MissingAuthenticationToken", async () => {
    const res = await send(sts.url, { method: "POST", path: "/", headers: { "content-type": FORM }, body: GCI_BODY });
    await expectError(res, 403, "MissingAuthenticationToken", "Request is missing Authentication Token");
  });

  it("a malformed Authorization header → IncompleteSignature (400)", async () => {
    const res = await send(sts.url, {
      method: "POST",
      path: "/",
      headers: { "content-type": FORM, "x-amz-date": "20240101T000000Z", authorization: "AWS4-HMAC-SHA256 Credential=AKIA/x" },
      body: GCI_BODY,
    });
    await expectError(res, 400, "IncompleteSignature", /Authorization header requires 'Signature' parameter\./);
  });
});

describe("actions and parameters", () => {
  it("an unknown Action → InvalidAction (400); a missing Version names NO_VERSION_SPECIFIED", async () => {
    const unknown = await aws4Fetch(sts.url, user, { body: "Action=GetSessionTokenX&Version=2011-06-15" });
    expect(unknown.status).toBe(400);
    expect(errorOf(await unknown.text())).toMatchObject({
      code: "InvalidAction",
      message: "Could not find operation GetSessionTokenX for version 2011-06-15",
    });
    const noVersion = await aws4Fetch(sts.url, user, { body: "Action=GetCallerIdentity" });
    expect(noVersion.status).toBe(400);
    expect(errorOf(await noVersion.text())).toMatchObject({
      code: "InvalidAction",
      message: "Could not find operation GetCallerIdentity for version NO_VERSION_SPECIFIED",
    });
  });
});

describe("AssumeRole", () => {
  function client(id: StsIdentity, endpoint = sts.url, region = "us-east-1"): STSClient {
    return new STSClient({
      region,
      endpoint,
      maxAttempts: 1,
      credentials: {
        accessKeyId: id.accessKeyId,
        secretAccessKey: id.secretAccessKey,
        ...(id.sessionToken !== undefined ? { sessionToken: id.sessionToken } : {}),
      },
    });
  }

  it("issues temporary credentials to a real STSClient that then sign as the assumed role", async () => {
    const lambda = client(lambdaRole);
    const startedAt = Date.now();
    const out = await lambda.send(
      new AssumeRoleCommand({ RoleArn: vaultAuthRole.arn, RoleSessionName: "my-fn", DurationSeconds: 900 }),
    );
    lambda.destroy();
    const creds = out.Credentials;
    expect(creds?.AccessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(creds?.SecretAccessKey).toHaveLength(40);
    expect(creds?.SessionToken?.length).toBeGreaterThan(300);
    const expiresAt = creds?.Expiration?.getTime() ?? 0;
    expect(expiresAt).toBeGreaterThanOrEqual(Math.floor(startedAt / 1000) * 1000 + 900_000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 900_000);
    expect(out.AssumedRoleUser).toEqual({
      AssumedRoleId: "AROAEXAMPLEVAULTAUTH1:my-fn",
      Arn: "arn:aws:sts::210987654321:assumed-role/vault-auth/my-fn",
    });
    expect(sts.requests.at(-1)).toMatchObject({ action: "AssumeRole", status: 200, callerArn: lambdaRole.arn });

    const assumed: StsIdentity = {
      accessKeyId: creds?.AccessKeyId ?? "",
      secretAccessKey: creds?.SecretAccessKey ?? "",
      sessionToken: creds?.SessionToken ?? "",
      arn: "",
      userId: "",
      account: "",
    };
    const asRole = client(assumed);
    const who = await asRole.send(new GetCallerIdentityCommand({}));
    asRole.destroy();
    expect(who).toMatchObject({
      Arn: "arn:aws:sts::210987654321:assumed-role/vault-auth/my-fn",
      UserId: "AROAEXAMPLEVAULTAUTH1:my-fn",
      Account: "210987654321",
    });
    // The product signs its login itself: smithy with the assumed credentials works too.
    const signed = await smithySigned(assumed);
    const res = await send(sts.url, { method: "POST", path: "//", headers: signed.headers, body: signed.body });
    expect(xmlField(res.body, "Arn")).toBe("arn:aws:sts::210987654321:assumed-role/vault-auth/my-fn");
    expect(sts.issuedSecrets()).toEqual(expect.arrayContaining([creds?.SecretAccessKey, creds?.SessionToken]));
  });

  it("answers an unknown role with AccessDenied (403)", async () => {
    const c = client(user);
    const err = await c
      .send(new AssumeRoleCommand({ RoleArn: "arn:aws:iam::123456789012:role/nope", RoleSessionName: "s1" }))
      .then(() => undefined, (e: unknown) => e);
    c.destroy();
    expect(err).toMatchObject({
      name: "AccessDenied",
      message: "User: arn:aws:iam::123456789012:user/alice is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::123456789012:role/nope",
      $metadata: { httpStatusCode: 403 },
    });
  });

  it("validates RoleSessionName and DurationSeconds as STS does (ValidationError, 400)", async () => {
    const c = client(user);
    const attempt = (input: { RoleSessionName: string; DurationSeconds?: number }) =>
      c.send(new AssumeRoleCommand({ RoleArn: vaultAuthRole.arn, ...input })).then(() => undefined, (e: unknown) => e);
    expect(await attempt({ RoleSessionName: "bad name" })).toMatchObject({
      name: "ValidationError",
      message:
        "1 validation error detected: Value 'bad name' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]*",
      $metadata: { httpStatusCode: 400 },
    });
    expect(await attempt({ RoleSessionName: "x" })).toMatchObject({
      name: "ValidationError",
      message: expect.stringContaining("Member must have length greater than or equal to 2"),
    });
    expect(await attempt({ RoleSessionName: "a".repeat(65) })).toMatchObject({
      message: expect.stringContaining("Member must have length less than or equal to 64"),
    });
    expect(await attempt({ RoleSessionName: "ok", DurationSeconds: 899 })).toMatchObject({
      message: expect.stringContaining("Member must have value greater than or equal to 900"),
    });
    expect(await attempt({ RoleSessionName: "ok", DurationSeconds: 7201 })).toMatchObject({
      name: "ValidationError",
      message: "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
    });
    // A user (not role chaining) may use the role's full 2 hours.
    expect(await attempt({ RoleSessionName: "ok", DurationSeconds: 7200 })).toBeUndefined();
    c.destroy();
  });

  it("caps role chaining at one hour", async () => {
    const c = client(lambdaRole);
    const err = await c
      .send(new AssumeRoleCommand({ RoleArn: vaultAuthRole.arn, RoleSessionName: "chain", DurationSeconds: 3601 }))
      .then(() => undefined, (e: unknown) => e);
    c.destroy();
    expect(err).toMatchObject({
      name: "ValidationError",
      message: "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.",
    });
  });
});

describe("regional listeners", () => {
  it("endpoint('eu-west-1') accepts eu-west-1-scoped signatures and rejects us-east-1-scoped ones", async () => {
    const url = await sts.endpoint("eu-west-1");
    expect(url).not.toBe(sts.url);
    expect(await sts.endpoint("eu-west-1")).toBe(url);

    const good = await smithySigned(lambdaRole, { region: "eu-west-1", hostname: "sts.eu-west-1.amazonaws.com" });
    const ok = await send(url, { method: "POST", path: "/", headers: good.headers, body: good.body });
    expect(ok.status).toBe(200);
    expect(sts.requests.at(-1)).toMatchObject({ region: "eu-west-1", listenerUrl: url, hostHeader: "sts.eu-west-1.amazonaws.com", status: 200 });

    const wrong = await smithySigned(lambdaRole, { region: "us-east-1" });
    const refused = await send(url, { method: "POST", path: "/", headers: wrong.headers, body: wrong.body });
    expect(refused.status).toBe(403);
    expect(errorOf(refused.body)).toMatchObject({ code: "SignatureDoesNotMatch", message: "Credential should be scoped to a valid region. " });
  });

  it("endpoint('us-east-1') is a separate regional listener serving us-east-1", async () => {
    const url = await sts.endpoint("us-east-1");
    expect(url).not.toBe(sts.url);
    const res = await aws4Fetch(url, user);
    expect(res.status).toBe(200);
    expect(sts.requests.at(-1)).toMatchObject({ region: "us-east-1", listenerUrl: url });
  });
});

describe("robustness", () => {
  it("refuses a body over 64 KiB with 413 and keeps serving", async () => {
    const big = "Action=GetCallerIdentity&Version=2011-06-15&Pad=" + "x".repeat(70 * 1024);
    const res = await send(sts.url, { method: "POST", path: "/", headers: { "content-type": FORM }, body: big });
    expect(res.status).toBe(413);
    expect(errorOf(res.body).code).toBe("RequestEntityTooLarge");
    expect((await aws4Fetch(sts.url, user)).status).toBe(200);
  });

  it("drops a connection that announces a body past the drain limit", async () => {
    const huge = "x".repeat(2 * 1024 * 1024);
    await expect(send(sts.url, { method: "POST", path: "/", headers: { "content-type": FORM }, body: huge })).rejects.toThrow();
    expect((await aws4Fetch(sts.url, user)).status).toBe(200);
  });

  it("answers bytes that are not HTTP with 400 and keeps serving", async () => {
    const { port } = new URL(sts.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), "127.0.0.1", () => socket.write("\x00\x01 garbage \r\n\r\n"));
      let data = "";
      socket.setTimeout(5000, () => socket.destroy(new Error("no answer")));
      socket.on("data", (c) => (data += c.toString("latin1")));
      socket.on("close", () => resolve(data));
      socket.on("error", reject);
    });
    expect(reply.startsWith("HTTP/1.1 400")).toBe(true);
    expect((await aws4Fetch(sts.url, user)).status).toBe(200);
  });

  it("issuedSecrets() lists every known secret, session token and seen signature", async () => {
    const signed = await smithySigned(user);
    await send(sts.url, { method: "POST", path: "/", headers: signed.headers, body: signed.body });
    const signatureSeen = /Signature=([0-9a-f]{64})/.exec(signed.headers["authorization"] ?? "")?.[1];
    const all = sts.issuedSecrets();
    expect(all).toEqual(
      expect.arrayContaining([user.secretAccessKey, lambdaRole.secretAccessKey, lambdaRole.sessionToken, expired.sessionToken, signatureSeen]),
    );
    expect(all).not.toContain(user.accessKeyId);
  });
});

describe("makeIdentity", () => {
  it("makes long-term user keys and temporary assumed-role keys of realistic shape", () => {
    expect(user.accessKeyId).toMatch(/^AKIA[A-Z2-7]{16}$/);
    expect(user.sessionToken).toBeUndefined();
    expect(user.account).toBe("123456789012");
    expect(lambdaRole.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(lambdaRole.secretAccessKey).toMatch(/^[A-Za-z0-9+/]{40}$/);
    expect(lambdaRole.sessionToken).toMatch(/^IQoJb3JpZ2luX2Vj[A-Za-z0-9+/=]{300,}$/);
    expect(lambdaRole.userId).toMatch(/^AROA[A-Z0-9]{17}:my-fn$/);
    expect(makeIdentity({ arn: user.arn }).secretAccessKey).not.toBe(user.secretAccessKey);
  });
});
