/**
 * The STS test server's SigV4 verifier, checked against AWS's published SigV4 test suite: every
 * intermediate (canonical request, string to sign, signature) for every vector, then the verifier's
 * verdict on each signed request and on one-byte tampers of it.
 */
import { describe, expect, it } from "vitest";
import {
  canonicalHeaderValue,
  canonicalQueryString,
  canonicalRequest,
  canonicalUri,
  hashedPayload,
  parseAmzDate,
  parseAuthorization,
  signature,
  signedHeadersList,
  signingKey,
  stringToSign,
  uriEncode,
  verifyRequest,
  MSG_SIGNATURE_MISMATCH,
  type HeaderPair,
  type LookupSecret,
  type SignableRequest,
  type SigningSecret,
} from "./sts/sigv4.ts";
import { loadSuite, parseSuiteRequest, signatureOf, signedHeadersOf } from "./sts/vectors/suite.ts";

const suite = loadSuite();
const scope = { date: suite.amzDate.slice(0, 8), region: suite.region, service: suite.service };
const suiteNow = Date.UTC(2015, 7, 30, 12, 36, 0);

function lookupFor(vectorGroup: string): LookupSecret {
  // The post-sts-token vectors are signed with temporary credentials: the key comes with the suite's token.
  const secret: SigningSecret =
    vectorGroup === "post-sts-token"
      ? { secretAccessKey: suite.credentials.secretAccessKey, sessionToken: suite.sessionToken }
      : { secretAccessKey: suite.credentials.secretAccessKey };
  return (id) => (id === suite.credentials.accessKeyId ? secret : undefined);
}

const verifyOpts = { now: suiteNow, expectedRegion: suite.region, expectedService: suite.service };

function withHeader(req: SignableRequest, name: string, value: string): SignableRequest {
  const lower = name.toLowerCase();
  const headers: HeaderPair[] = req.headers.map(([n, v]) => (n.toLowerCase() === lower ? [n, value] : [n, v]));
  return { ...req, headers };
}

function headerValue(req: SignableRequest, name: string): string {
  const found = req.headers.find(([n]) => n.toLowerCase() === name);
  if (!found) throw new Error(`no ${name} header`);
  return found[1];
}

/** Changes exactly one byte of a string (or appends one to an empty string). */
function tamperOneByte(s: string): string {
  if (s.length === 0) return "x";
  const last = s.charCodeAt(s.length - 1);
  return s.slice(0, -1) + String.fromCharCode(last === 0x41 ? 0x42 : 0x41);
}

describe("the vector file", () => {
  it("holds the required vectors", () => {
    const names = suite.vectors.map((v) => v.name);
    for (const required of [
      "get-vanilla",
      "post-vanilla",
      "post-x-www-form-urlencoded",
      "post-sts-header-before",
      "post-sts-header-after",
      "get-vanilla-query-order-key-case",
      "post-header-key-sort",
      "get-slash",
      "get-slashes",
      "get-relative-relative",
    ]) {
      expect(names).toContain(required);
    }
    expect(suite.credentials).toEqual({
      accessKeyId: "AKIDEXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
    });
    expect([suite.region, suite.service, suite.amzDate]).toEqual(["us-east-1", "service", "20150830T123600Z"]);
  });
});

describe.each(suite.vectors)("aws-sig-v4-test-suite $group/$name", (v) => {
  const req = parseSuiteRequest(v.req);
  const signed = signedHeadersOf(v.authz);

  it("signs exactly the request's headers, sorted", () => {
    expect(signedHeadersList(req.headers.map(([n]) => n))).toBe(signed.join(";"));
  });

  it("builds the published canonical request", () => {
    expect(canonicalRequest(req, signed)).toBe(v.creq);
  });

  it("builds the published string to sign", () => {
    expect(stringToSign(suite.amzDate, scope, v.creq)).toBe(v.sts);
  });

  it("computes the published signature", () => {
    expect(signature(signingKey(suite.credentials.secretAccessKey, scope), v.sts)).toBe(signatureOf(v.authz));
  });

  it("verifyRequest accepts the signed request", () => {
    const result = verifyRequest(parseSuiteRequest(v.sreq), lookupFor(v.group), verifyOpts);
    expect(result).toEqual({
      ok: true,
      accessKeyId: "AKIDEXAMPLE",
      region: "us-east-1",
      service: "service",
      signedHeaders: signed,
    });
  });

  it("verifyRequest rejects a one-byte change to the body", () => {
    const sreq = parseSuiteRequest(v.sreq);
    const tampered = { ...sreq, body: tamperOneByte(String(sreq.body)) };
    expect(verifyRequest(tampered, lookupFor(v.group), verifyOpts)).toEqual({
      ok: false,
      code: "SignatureDoesNotMatch",
      message: MSG_SIGNATURE_MISMATCH,
      status: 403,
    });
  });

  it("verifyRequest rejects a one-byte change to a signed header", () => {
    const sreq = parseSuiteRequest(v.sreq);
    const tampered = withHeader(sreq, "host", tamperOneByte(headerValue(sreq, "host")));
    const result = verifyRequest(tampered, lookupFor(v.group), verifyOpts);
    expect(result).toMatchObject({ ok: false, code: "SignatureDoesNotMatch", message: MSG_SIGNATURE_MISMATCH });
  });

  it("verifyRequest rejects a one-byte change to the date", () => {
    const sreq = parseSuiteRequest(v.sreq);
    // 20150830T123600Z → 20150830T123601Z: same day, inside the skew window, so only the signature can catch it.
    const tampered = withHeader(sreq, "x-amz-date", "20150830T123601Z");
    const result = verifyRequest(tampered, lookupFor(v.group), verifyOpts);
    expect(result).toMatchObject({ ok: false, code: "SignatureDoesNotMatch", message: MSG_SIGNATURE_MISMATCH });
  });
});

describe("double encoding of the path (botocore's published non-S3 vectors)", () => {
  const de = suite.doubleEncodedPaths;
  const deScope = { date: de.amzDate.slice(0, 8), region: de.region, service: de.service };
  it.each(de.vectors)("$name", (v) => {
    const req: SignableRequest = { method: v.method, target: v.target, headers: v.headers, body: "" };
    const creq = canonicalRequest(req, v.signedHeaders);
    expect(creq).toBe(v.creq);
    const sts = stringToSign(de.amzDate, deScope, creq);
    expect(sts).toBe(v.sts);
    expect(signature(signingKey(de.credentials.secretAccessKey, deScope), sts)).toBe(signatureOf(v.authz));
  });
});

describe("SigV4 building blocks", () => {
  it("derives the signing key of AWS's documented example (iam, 20120215)", () => {
    const key = signingKey("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", {
      date: "20120215",
      region: "us-east-1",
      service: "iam",
    });
    expect(key.toString("hex")).toBe("f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
  });

  it("URI-encodes all but the unreserved characters, upper-case hex, UTF-8", () => {
    expect(uriEncode("-._~AZaz09")).toBe("-._~AZaz09");
    expect(uriEncode("a b+c/d*%")).toBe("a%20b%2Bc%2Fd%2A%25");
    expect(uriEncode("a/b", true)).toBe("a/b");
    expect(uriEncode("ሴ")).toBe("%E1%88%B4");
  });

  it("normalises the path and encodes each segment again (non-S3)", () => {
    expect(canonicalUri("")).toBe("/");
    expect(canonicalUri("/")).toBe("/");
    expect(canonicalUri("//")).toBe("/"); // Vault forwards to <endpoint>//
    expect(canonicalUri("//example//")).toBe("/example/");
    expect(canonicalUri("/a/./b/../c")).toBe("/a/c");
    expect(canonicalUri("/../..")).toBe("/");
    expect(canonicalUri("/a%20b/")).toBe("/a%2520b/");
  });

  it("canonicalises the query: decoded, re-encoded, sorted by name then value", () => {
    expect(canonicalQueryString("")).toBe("");
    expect(canonicalQueryString("b=2&a=1&a=0")).toBe("a=0&a=1&b=2");
    expect(canonicalQueryString("Param2=x&Param1")).toBe("Param1=&Param2=x");
    expect(canonicalQueryString("k=a%20b&k2=a+b&sp%7e=%7E")).toBe("k=a%20b&k2=a%2Bb&sp~=~");
    expect(canonicalQueryString("bad=%ZZ")).toBe("bad=%25ZZ");
  });

  it("trims header values and collapses inner whitespace", () => {
    expect(canonicalHeaderValue('  "a   b\t c"  ')).toBe('"a b c"');
  });

  it("hashes the payload", () => {
    expect(hashedPayload("")).toBe("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    expect(hashedPayload("Param1=value1")).toBe("9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");
  });

  it("parses the Authorization header and reports malformed ones as AWS does", () => {
    expect(
      parseAuthorization(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/sts/aws4_request, SignedHeaders=host;x-amz-date, Signature=" +
          "a".repeat(64),
      ),
    ).toEqual({
      accessKeyId: "AKIDEXAMPLE",
      scope: { date: "20150830", region: "us-east-1", service: "sts" },
      signedHeaders: ["host", "x-amz-date"],
      signature: "a".repeat(64),
    });
    expect(parseAuthorization("AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/sts/aws4_request")).toMatchObject({
      error: expect.stringContaining("Authorization header requires 'Signature' parameter."),
    });
    expect(parseAuthorization("AWS4-HMAC-SHA256 Credential= AKID /20150830/us-east-1/sts/aws4_request, x")).toMatchObject({
      error: expect.stringContaining("not a valid key=value pair (missing equal-sign)"),
    });
    expect(
      parseAuthorization(`AWS4-HMAC-SHA256 Credential=AKID/20150830/sts/aws4_request, SignedHeaders=host, Signature=${"0".repeat(64)}`),
    ).toMatchObject({ error: expect.stringContaining("Credential must have exactly 5 slash-delimited elements") });
    expect(parseAuthorization("Bearer abc")).toMatchObject({ error: "Unsupported AWS 'algorithm': 'Bearer'" });
  });

  it("parses only real basic-format ISO-8601 instants", () => {
    expect(parseAmzDate("20150830T123600Z")).toBe(suiteNow);
    expect(parseAmzDate("2015-08-30T12:36:00Z")).toBeUndefined();
    expect(parseAmzDate("20151330T123600Z")).toBeUndefined();
    expect(parseAmzDate("20150830T253600Z")).toBeUndefined();
  });
});

describe("verifyRequest on the get-vanilla vector", () => {
  const vanilla = suite.vectors.find((v) => v.name === "get-vanilla");
  if (!vanilla) throw new Error("get-vanilla missing");
  const sreq = parseSuiteRequest(vanilla.sreq);
  const lookup = lookupFor("basic");

  it("refuses a request without Authorization with MissingAuthenticationToken", () => {
    const noAuth = { ...sreq, headers: sreq.headers.filter(([n]) => n.toLowerCase() !== "authorization") };
    expect(verifyRequest(noAuth, lookup, verifyOpts)).toEqual({
      ok: false,
      code: "MissingAuthenticationToken",
      message: "Request is missing Authentication Token",
      status: 403,
    });
  });

  it("refuses a request without X-Amz-Date with IncompleteSignature (400)", () => {
    const noDate = { ...sreq, headers: sreq.headers.filter(([n]) => n.toLowerCase() !== "x-amz-date") };
    expect(verifyRequest(noDate, lookup, verifyOpts)).toMatchObject({ ok: false, code: "IncompleteSignature", status: 400 });
  });

  it("refuses an unknown access key with InvalidClientTokenId", () => {
    expect(verifyRequest(sreq, () => undefined, verifyOpts)).toEqual({
      ok: false,
      code: "InvalidClientTokenId",
      message: "The security token included in the request is invalid.",
      status: 403,
    });
  });

  it("refuses a scope region other than the expected one", () => {
    expect(verifyRequest(sreq, lookup, { ...verifyOpts, expectedRegion: "eu-west-1" })).toMatchObject({
      ok: false,
      code: "SignatureDoesNotMatch",
      message: expect.stringContaining("Credential should be scoped to a valid region."),
    });
  });

  it("refuses a scope service other than the expected one", () => {
    expect(verifyRequest(sreq, lookup, { ...verifyOpts, expectedService: "sts" })).toMatchObject({
      ok: false,
      code: "SignatureDoesNotMatch",
      message: "Credential should be scoped to correct service: 'sts'. ",
    });
  });

  it("refuses a date outside ±15 minutes with STS's expired/not-yet-current wording", () => {
    const later = verifyRequest(sreq, lookup, { ...verifyOpts, now: suiteNow + 15 * 60_000 + 1000 });
    expect(later).toEqual({
      ok: false,
      code: "SignatureDoesNotMatch",
      message: "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T125101Z - 15 min.)",
      status: 403,
    });
    const earlier = verifyRequest(sreq, lookup, { ...verifyOpts, now: suiteNow - 15 * 60_000 - 1000 });
    expect(earlier).toMatchObject({
      code: "SignatureDoesNotMatch",
      message: "Signature not yet current: 20150830T123600Z is still later than 20150830T123559Z (20150830T122059Z + 15 min.)",
    });
    // Exactly at the edge is still accepted.
    expect(verifyRequest(sreq, lookup, { ...verifyOpts, now: suiteNow + 15 * 60_000 }).ok).toBe(true);
  });

  it("refuses a credential scope date that is not the X-Amz-Date's date", () => {
    const authz = headerValue(sreq, "authorization").replace("/20150830/", "/20150831/");
    expect(verifyRequest(withHeader(sreq, "authorization", authz), lookup, verifyOpts)).toMatchObject({
      ok: false,
      code: "SignatureDoesNotMatch",
      message: expect.stringContaining("Date in Credential scope does not match YYYYMMDD"),
    });
  });

  it("refuses a signature that does not cover host", () => {
    const authz = headerValue(sreq, "authorization").replace("SignedHeaders=host;x-amz-date", "SignedHeaders=x-amz-date");
    expect(verifyRequest(withHeader(sreq, "authorization", authz), lookup, verifyOpts)).toMatchObject({
      ok: false,
      code: "IncompleteSignature",
      status: 400,
    });
  });

  it("refuses a one-character change to the signature", () => {
    const authz = headerValue(sreq, "authorization");
    const flipped = authz.slice(0, -1) + (authz.endsWith("0") ? "1" : "0");
    expect(verifyRequest(withHeader(sreq, "authorization", flipped), lookup, verifyOpts)).toMatchObject({
      code: "SignatureDoesNotMatch",
      message: MSG_SIGNATURE_MISMATCH,
    });
  });

  it("refuses a session token sent with a long-term key", () => {
    const withToken: SignableRequest = { ...sreq, headers: [...sreq.headers, ["X-Amz-Security-Token", "abc"]] };
    expect(verifyRequest(withToken, lookup, verifyOpts)).toMatchObject({ code: "InvalidClientTokenId" });
  });
});

describe("verifyRequest with temporary credentials (post-sts-header-before)", () => {
  const before = suite.vectors.find((v) => v.name === "post-sts-header-before");
  if (!before) throw new Error("post-sts-header-before missing");
  const sreq = parseSuiteRequest(before.sreq);
  const base = { secretAccessKey: suite.credentials.secretAccessKey, sessionToken: suite.sessionToken };

  it("refuses a missing or different session token with InvalidClientTokenId", () => {
    const lookup: LookupSecret = () => base;
    const noToken = { ...sreq, headers: sreq.headers.filter(([n]) => n.toLowerCase() !== "x-amz-security-token") };
    expect(verifyRequest(noToken, lookup, verifyOpts)).toMatchObject({ code: "InvalidClientTokenId", status: 403 });
    const other = withHeader(sreq, "x-amz-security-token", tamperOneByte(suite.sessionToken));
    expect(verifyRequest(other, lookup, verifyOpts)).toMatchObject({
      code: "InvalidClientTokenId",
      message: "The security token included in the request is invalid.",
    });
  });

  it("refuses credentials past their expiry with ExpiredToken", () => {
    const lookup: LookupSecret = () => ({ ...base, expiresAt: suiteNow - 1 });
    expect(verifyRequest(sreq, lookup, verifyOpts)).toEqual({
      ok: false,
      code: "ExpiredToken",
      message: "The security token included in the request is expired",
      status: 403,
    });
    expect(verifyRequest(sreq, () => ({ ...base, expiresAt: suiteNow + 1 }), verifyOpts).ok).toBe(true);
  });
});
