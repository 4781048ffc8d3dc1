// The signed IAM login body, checked field by field and against an independent signer (aws4).
import { createHash, createHmac } from "node:crypto";
import aws4 from "aws4";
import { describe, expect, it } from "vitest";
import { stsEndpointFor, type AwsCredentials } from "../../src/aws/sts-endpoint.ts";
import { buildIamLoginBody, GET_CALLER_IDENTITY_BODY, NodeSha256, type IamLoginBody } from "../../src/vault/login-request.ts";
import { Redactor } from "../../src/log.ts";

const redactor = new Redactor();
const NOW = new Date("2024-05-06T07:08:09.123Z");
const AMZ_DATE = "20240506T070809Z";
const SESSION: AwsCredentials = {
  accessKeyId: "ASIAEXAMPLEEXAMPLE00",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
  sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE//////////session+token=",
};
const LONG_TERM: AwsCredentials = {
  accessKeyId: "AKIAEXAMPLEEXAMPLE00",
  secretAccessKey: "je7MtGbClwBF/2Zp9Utk/h3yCo8nvbEXAMPLEKEY",
};

interface Decoded {
  url: string;
  body: string;
  headers: Record<string, unknown>;
}

function decode(b: IamLoginBody): Decoded {
  const d = (s: string) => Buffer.from(s, "base64").toString("utf8");
  // Standard base64 (not base64url), as Vault's base64.StdEncoding expects.
  for (const field of [b.iam_request_url, b.iam_request_body, b.iam_request_headers]) {
    expect(field).toMatch(/^[A-Za-z0-9+/]*={0,2}$/);
  }
  return { url: d(b.iam_request_url), body: d(b.iam_request_body), headers: JSON.parse(d(b.iam_request_headers)) };
}

/** Header values are one-element string arrays; returns the plain map. */
function flat(headers: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    expect(Array.isArray(v), `header ${k} is an array`).toBe(true);
    expect(v as unknown[]).toHaveLength(1);
    expect(typeof (v as unknown[])[0], `header ${k} value is a string`).toBe("string");
    out[k] = (v as string[])[0] as string;
  }
  return out;
}

function signedHeaders(authorization: string): string[] {
  const m = /SignedHeaders=([^,]+),/.exec(authorization);
  expect(m).not.toBeNull();
  return (m?.[1] ?? "").split(";");
}

/** The same request signed by aws4, an independent SigV4 implementation. */
function aws4Authorization(opts: {
  host: string;
  region: string;
  credentials: AwsCredentials;
  iamServerId?: string;
}): string {
  const headers: Record<string, string> = {
    "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
    // aws4 takes the signing time from this header when present.
    "X-Amz-Date": AMZ_DATE,
  };
  if (opts.iamServerId !== undefined) headers["X-Vault-AWS-IAM-Server-ID"] = opts.iamServerId;
  const creds: { accessKeyId: string; secretAccessKey: string; sessionToken?: string } = {
    accessKeyId: opts.credentials.accessKeyId,
    secretAccessKey: opts.credentials.secretAccessKey,
  };
  if (opts.credentials.sessionToken !== undefined) creds.sessionToken = opts.credentials.sessionToken;
  const signed = aws4.sign(
    {
      host: opts.host,
      path: "/",
      method: "POST",
      service: "sts",
      // Explicit region: aws4 would otherwise take sts as global us-east-1 whatever the host.
      region: opts.region,
      body: GET_CALLER_IDENTITY_BODY,
      headers,
      // aws4 adds and signs Content-Length; our request neither sends nor signs it.
      extraHeadersToIgnore: { "content-length": true },
    } as aws4.Request,
    creds,
  );
  const auth = signed.headers?.["Authorization"];
  expect(typeof auth).toBe("string");
  return auth as string;
}

describe("stsEndpointFor", () => {
  it("defaults to the global endpoint signed for us-east-1", () => {
    expect(stsEndpointFor()).toEqual({ url: "https://sts.amazonaws.com/", host: "sts.amazonaws.com", region: "us-east-1" });
    expect(stsEndpointFor("")).toEqual(stsEndpointFor(undefined));
  });

  it("uses the regional endpoint of the partition", () => {
    expect(stsEndpointFor("eu-west-1")).toEqual({
      url: "https://sts.eu-west-1.amazonaws.com/",
      host: "sts.eu-west-1.amazonaws.com",
      region: "eu-west-1",
    });
    expect(stsEndpointFor("us-east-1").url).toBe("https://sts.us-east-1.amazonaws.com/");
    expect(stsEndpointFor("cn-north-1").url).toBe("https://sts.cn-north-1.amazonaws.com.cn/");
    expect(stsEndpointFor("cn-northwest-1").host).toBe("sts.cn-northwest-1.amazonaws.com.cn");
    expect(stsEndpointFor("us-gov-west-1").host).toBe("sts.us-gov-west-1.amazonaws.com");
    expect(stsEndpointFor("us-iso-east-1").host).toBe("sts.us-iso-east-1.c2s.ic.gov");
    expect(stsEndpointFor("us-isob-east-1").host).toBe("sts.us-isob-east-1.sc2s.sgov.gov");
    expect(stsEndpointFor("eusc-de-east-1").host).toBe("sts.eusc-de-east-1.amazonaws.eu");
    expect(stsEndpointFor("ap-southeast-5").region).toBe("ap-southeast-5");
  });

  it("refuses a value that is not region-shaped (it becomes part of a host name)", () => {
    for (const bad of ["evil.com/x", "us-east-1.attacker.com", "US-EAST-1", "us east 1", "us-east-"]) {
      expect(() => stsEndpointFor(bad), bad).toThrow(TypeError);
    }
  });
});

describe("buildIamLoginBody", () => {
  it("encodes the URL, body and headers Vault expects (global endpoint, session credentials)", async () => {
    const body = await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW });
    expect(body.iam_http_request_method).toBe("POST");
    expect("role" in body).toBe(false);
    expect(Object.keys(body).sort()).toEqual([
      "iam_http_request_method",
      "iam_request_body",
      "iam_request_headers",
      "iam_request_url",
    ]);
    // The exact value from the Vault docs for the default URL.
    expect(body.iam_request_url).toBe("aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8=");
    const d = decode(body);
    expect(d.url).toBe("https://sts.amazonaws.com/");
    expect(d.body).toBe("Action=GetCallerIdentity&Version=2011-06-15");
    const h = flat(d.headers);
    expect(Object.keys(h).sort()).toEqual(["authorization", "content-type", "host", "x-amz-date", "x-amz-security-token"]);
    expect(h["host"]).toBe("sts.amazonaws.com");
    expect(h["content-type"]).toBe("application/x-www-form-urlencoded; charset=utf-8");
    expect(h["x-amz-date"]).toBe(AMZ_DATE);
    expect(h["x-amz-security-token"]).toBe(SESSION.sessionToken);
    const auth = h["authorization"] ?? "";
    expect(auth).toMatch(
      /^AWS4-HMAC-SHA256 Credential=ASIAEXAMPLEEXAMPLE00\/20240506\/us-east-1\/sts\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
    expect(signedHeaders(auth)).toEqual(["content-type", "host", "x-amz-date", "x-amz-security-token"]);
  });

  it("produces a signature byte-identical to aws4's (global endpoint)", async () => {
    const d = decode(await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW }));
    expect(flat(d.headers)["authorization"]).toBe(
      aws4Authorization({ host: "sts.amazonaws.com", region: "us-east-1", credentials: SESSION }),
    );
  });

  it("signs the server-ID header and matches aws4 with it", async () => {
    const body = await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW, iamServerId: "vault.example.com" });
    const h = flat(decode(body).headers);
    expect(h["x-vault-aws-iam-server-id"]).toBe("vault.example.com");
    const auth = h["authorization"] ?? "";
    expect(signedHeaders(auth)).toContain("x-vault-aws-iam-server-id");
    expect(signedHeaders(auth)).toEqual(["content-type", "host", "x-amz-date", "x-amz-security-token", "x-vault-aws-iam-server-id"]);
    expect(auth).toBe(
      aws4Authorization({ host: "sts.amazonaws.com", region: "us-east-1", credentials: SESSION, iamServerId: "vault.example.com" }),
    );
  });

  it("signs for the regional endpoint and scope, matching aws4 given that region and host", async () => {
    const body = await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW, stsRegion: "eu-west-1", iamServerId: "v" });
    const d = decode(body);
    expect(d.url).toBe("https://sts.eu-west-1.amazonaws.com/");
    const h = flat(d.headers);
    expect(h["host"]).toBe("sts.eu-west-1.amazonaws.com");
    expect(h["authorization"]).toContain("Credential=ASIAEXAMPLEEXAMPLE00/20240506/eu-west-1/sts/aws4_request,");
    expect(h["authorization"]).toBe(
      aws4Authorization({ host: "sts.eu-west-1.amazonaws.com", region: "eu-west-1", credentials: SESSION, iamServerId: "v" }),
    );
  });

  it("signs for the China partition's host", async () => {
    const d = decode(await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW, stsRegion: "cn-north-1" }));
    expect(d.url).toBe("https://sts.cn-north-1.amazonaws.com.cn/");
    expect(flat(d.headers)["authorization"]).toBe(
      aws4Authorization({ host: "sts.cn-north-1.amazonaws.com.cn", region: "cn-north-1", credentials: SESSION }),
    );
  });

  it("sends no security-token header without a session token", async () => {
    for (const credentials of [LONG_TERM, { ...LONG_TERM, sessionToken: "" }]) {
      const h = flat(decode(await buildIamLoginBody({ redactor, credentials, now: NOW })).headers);
      expect(Object.keys(h).sort()).toEqual(["authorization", "content-type", "host", "x-amz-date"]);
      expect(signedHeaders(h["authorization"] ?? "")).toEqual(["content-type", "host", "x-amz-date"]);
      expect(h["authorization"]).toBe(aws4Authorization({ host: "sts.amazonaws.com", region: "us-east-1", credentials: LONG_TERM }));
    }
  });

  it("sends no X-Amz-* header outside Vault's default allowlist, and no content-length", async () => {
    // Vault: X-Amz-Algorithm, -Content-Sha256, -Credential, -Date, -Security-Token, -Signature,
    // -SignedHeaders; we need only two of them. x-amz-user-agent would be refused.
    const h = flat(decode(await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW, iamServerId: "x" })).headers);
    const amz = Object.keys(h).filter((k) => k.toLowerCase().startsWith("x-amz-"));
    expect(amz.sort()).toEqual(["x-amz-date", "x-amz-security-token"]);
    expect(h).not.toHaveProperty("x-amz-content-sha256");
    expect(h).not.toHaveProperty("x-amz-user-agent");
    expect(h).not.toHaveProperty("content-length");
    expect(h).not.toHaveProperty("user-agent");
  });

  it("includes the role when set and omits it when empty", async () => {
    const withRole = await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW, role: "my-fn-role" });
    expect(withRole.role).toBe("my-fn-role");
    const empty = await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW, role: "" });
    expect("role" in empty).toBe(false);
    expect(JSON.parse(JSON.stringify(empty))).not.toHaveProperty("role");
  });

  it("ignores an empty server ID instead of sending an empty signed header", async () => {
    const h = flat(decode(await buildIamLoginBody({ redactor, credentials: SESSION, now: NOW, iamServerId: "" })).headers);
    expect(h).not.toHaveProperty("x-vault-aws-iam-server-id");
  });

  it("signs with the current time by default", async () => {
    const before = Date.now();
    const h = flat(decode(await buildIamLoginBody({ redactor, credentials: SESSION })).headers);
    const after = Date.now();
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(h["x-amz-date"] ?? "");
    expect(m).not.toBeNull();
    const t = Date.UTC(Number(m?.[1]), Number(m?.[2]) - 1, Number(m?.[3]), Number(m?.[4]), Number(m?.[5]), Number(m?.[6]));
    expect(t).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(t).toBeLessThanOrEqual(after);
  });

  it("changes the signature with the date and the credentials, and is deterministic otherwise", async () => {
    const sig = async (opts: Omit<Parameters<typeof buildIamLoginBody>[0], "redactor">) =>
      flat(decode(await buildIamLoginBody({ redactor, ...opts })).headers)["authorization"];
    const a = await sig({ credentials: SESSION, now: NOW });
    expect(await sig({ credentials: SESSION, now: NOW })).toBe(a);
    expect(await sig({ credentials: SESSION, now: new Date(NOW.getTime() + 1000) })).not.toBe(a);
    expect(await sig({ credentials: { ...SESSION, secretAccessKey: `${SESSION.secretAccessKey}x` }, now: NOW })).not.toBe(a);
  });
});

describe("what the signed request holds that could be replayed", () => {
  it("is registered with the redactor as it is made: signature, Authorization, session token, the headers blob", async () => {
    const fresh = new Redactor();
    const body = await buildIamLoginBody({ redactor: fresh, credentials: SESSION, now: NOW });
    const h = flat(decode(body).headers);
    const signature = /Signature=([0-9a-f]{64})$/.exec(h["authorization"] ?? "")?.[1];
    expect(signature).toBeDefined();
    // What Vault relays of STS's SignatureDoesNotMatch, and what it might quote of the request.
    const echo = `canonical request: x-amz-security-token:${SESSION.sessionToken} Authorization: ${h["authorization"]}; got ${JSON.stringify(body)}; ${signature}`;
    const scrubbed = fresh.scrub(echo);
    for (const secret of [signature!, SESSION.sessionToken!, SESSION.secretAccessKey, body.iam_request_headers]) expect(scrubbed).not.toContain(secret);
    expect(scrubbed).not.toContain("Signature=");
  });
});

describe("NodeSha256", () => {
  it("hashes and HMACs like node:crypto, across update/reset and every input type", async () => {
    const h = new NodeSha256();
    h.update("abc");
    h.update(new Uint8Array([1, 2, 3]));
    h.update(new Uint8Array([9, 9, 4, 5, 6]).subarray(2)); // a view with an offset
    h.update(new Uint8Array([7]).buffer);
    const expected = createHash("sha256").update("abc").update(Buffer.from([1, 2, 3, 4, 5, 6, 7])).digest();
    expect(Buffer.from(await h.digest())).toEqual(expected);
    h.reset();
    h.update("");
    expect(Buffer.from(await h.digest()).toString("hex")).toBe(createHash("sha256").digest("hex"));

    const m = new NodeSha256("key");
    m.update("message");
    expect(Buffer.from(await m.digest())).toEqual(createHmac("sha256", "key").update("message").digest());
    m.reset();
    m.update("other");
    expect(Buffer.from(await m.digest())).toEqual(createHmac("sha256", "key").update("other").digest());
  });
});
