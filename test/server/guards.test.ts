import { describe, expect, it } from "vitest";
import { checkNamespace, checkTarget, checkToken, scanHeaders, tokensEqual } from "../../src/server/guards.ts";

const callerToken = (rawHeaders: string[]) => scanHeaders(rawHeaders).token;
const checkCallerToken = (rawHeaders: string[], expected: string | undefined, required: boolean) => checkToken(callerToken(rawHeaders), expected, required);
import { cacheControl, forwardedPath, forwardHeaders } from "../../src/server/proxy.ts";

describe("checkTarget", () => {
  it("accepts ordinary paths and decodes the query", () => {
    const ok = checkTarget("/secrets/db?field=password&refresh=true");
    expect(ok).toEqual({ pathname: "/secrets/db", search: expect.any(URLSearchParams), query: "field=password&refresh=true" });
    if (!("status" in ok)) expect(ok.search.get("field")).toBe("password");
  });

  it.each([
    ["/secrets/../v1/sys", 400],
    ["/secrets/%2e%2e/x", 400],
    ["/secrets/%2E%2e/x", 400],
    ["/secrets/./x", 400],
    ["/secrets/%zz", 400],
    ["/secrets/a%00b", 400],
    ["/secrets/a%2fb", 400],
    ["/secrets//db", 400],
    ["/secrets\\db", 400],
    ["/secrets/db?field=%", 400],
    ["/secrets/db?field=a%00", 400],
    ["http://evil.example/secrets/db", 400],
    ["*", 400],
    ["/" + "a".repeat(9000), 414],
    // Defect 1: what the proxy forwards is checked, query included.
    ["/v1?../../sys/raw", 400],
    ["/v1?..%2f..%2fsys", 400],
    ["/v1?%2e%2e/sys", 400],
    ["/v1/sys?x=..\\raw", 400],
    ["/v1/sys?x=%5c..", 400],
    ["/v1/sys?x=a%00", 400],
    ["/v1/sys?x=a/./b", 400],
    ["/v1/a%5Cb", 400],
    ["/v1/..%5Csys", 400],
    ["/v1/secret#../../sys", 400],
  ])("refuses %s", (url, status) => {
    const r = checkTarget(url);
    expect("status" in r && r.status).toBe(status);
  });

  it("keeps the query as the caller encoded it, for the proxy", () => {
    const r = checkTarget("/v1/secret/metadata/app?list=true&prefix=a%2Fb");
    expect(r).toMatchObject({ pathname: "/v1/secret/metadata/app", query: "list=true&prefix=a%2Fb" });
  });
});

describe("forwardedPath (defect 1)", () => {
  const forward = (url: string) => {
    const t = checkTarget(url);
    if ("status" in t) throw new Error(t.message);
    return forwardedPath(t);
  };

  it("is the checked segments after /v1, encoded again, and the checked query", () => {
    expect(forward("/v1/secret/data/app")).toBe("secret/data/app");
    expect(forward("/v1/secret/data/my%20app?version=2")).toBe("secret/data/my%20app?version=2");
    expect(forward("/v1/secret/metadata/")).toBe("secret/metadata/");
    expect(forward("/v1/sys/leases/lookup?lease_id=database/creds/app/x")).toBe("sys/leases/lookup?lease_id=database/creds/app/x");
  });

  it("leaves nothing a server or gateway further on could read as a dot segment", () => {
    // Encoded again after the check: `;` cannot start a path parameter further on.
    expect(forward("/v1/secret/..;/x")).toBe("secret/..%3B/x");
    expect(forward("/v1/secret/100%2525/x")).toBe("secret/100%2525/x");
    // Overlong UTF-8, doubly encoded dots and slashes, dots with spaces: refused.
    for (const t of ["/v1/secret/%c0%ae%c0%ae/x", "/v1/secret/%252e%252e/x", "/v1/secret/%252E./x", "/v1/secret/a%252fb", "/v1/a/..%20", "/v1/a?x=%252e%252e"]) {
      expect(checkTarget(t), t).toMatchObject({ status: 400 });
    }
  });

  it("has nothing to forward for /v1 alone, whatever its query", () => {
    expect(forward("/v1")).toBeUndefined();
    expect(forward("/v1/")).toBeUndefined();
    expect(forward("/v1?list=true")).toBeUndefined();
    expect(forward("/v1/?x=1")).toBeUndefined();
  });
});

describe("checkNamespace", () => {
  it("holds each part of X-Vault-Namespace to the rules of a path segment", () => {
    for (const ok of [undefined, "team1", "team1/child/", "/team1", "a.b", "team-1_x"]) expect(checkNamespace(ok), ok).toBeUndefined();
    for (const bad of ["..", "../sys", "team1/..", "./x", "a\\b", "team1%2F..", "%2e%2e", "%252e%252e", "a\u0000b"]) {
      expect(checkNamespace(bad), bad).toMatch(/^X-Vault-Namespace: /);
    }
  });
});

describe("scanHeaders", () => {
  it("sees X-Forwarded-For and Forwarded in any case, even empty", () => {
    expect(scanHeaders(["X-Forwarded-For", "10.0.0.1"]).forwarded).toBe(true);
    expect(scanHeaders(["forwarded", ""]).forwarded).toBe(true);
    expect(scanHeaders(["X-Vault-Token", "t", "Host", "x"]).forwarded).toBe(false);
  });

  it("sees an announced body and Cache-Control: no-cache", () => {
    expect(scanHeaders(["Content-Length", "0"]).hasBody).toBe(true);
    expect(scanHeaders(["Transfer-Encoding", "chunked"]).hasBody).toBe(true);
    expect(scanHeaders(["Host", "x"]).hasBody).toBe(false);
    expect(scanHeaders(["Cache-Control", "max-age=0, No-Cache"]).noCache).toBe(true);
    expect(scanHeaders(["Cache-Control", "max-age=0"]).noCache).toBe(false);
  });
});

describe("caller token", () => {
  const token = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN";
  it("reads any of the three headers, Authorization bare or Bearer", () => {
    expect(callerToken(["X-Vault-Token", token])).toEqual({ token });
    expect(callerToken(["x-aws-parameters-secrets-token", token])).toEqual({ token });
    expect(callerToken(["Authorization", token])).toEqual({ token });
    expect(callerToken(["Authorization", `Bearer ${token}`])).toEqual({ token });
    expect(callerToken(["Accept", "*/*"])).toEqual({ token: undefined });
  });

  it("refuses the same header twice, and token headers that disagree", () => {
    expect(callerToken(["X-Vault-Token", token, "x-vault-token", token])).toMatchObject({ status: 400 });
    expect(callerToken(["X-Vault-Token", token, "Authorization", "other"])).toMatchObject({ status: 400 });
    expect(callerToken(["X-Vault-Token", token, "Authorization", `Bearer ${token}`])).toEqual({ token });
  });

  it("403 for a missing or wrong token; skipped when not required, but a conflict is still a 400", () => {
    expect(checkCallerToken([], token, true)?.status).toBe(403);
    expect(checkCallerToken(["X-Vault-Token", "nope"], token, true)?.status).toBe(403);
    expect(checkCallerToken(["X-Vault-Token", token], token, true)).toBeUndefined();
    expect(checkCallerToken(["X-Vault-Token", token], undefined, true)?.status).toBe(403);
    expect(checkCallerToken([], token, false)).toBeUndefined();
    expect(checkCallerToken(["X-Vault-Token", "a", "X-Vault-Token", "b"], token, false)?.status).toBe(400);
  });

  it("never echoes the token in a message", () => {
    const r = checkCallerToken(["X-Vault-Token", "wrong-token-value"], token, true);
    expect(JSON.stringify(r)).not.toContain("wrong-token-value");
    expect(JSON.stringify(r)).not.toContain(token);
  });

  it("compares tokens of different lengths without throwing", () => {
    expect(tokensEqual("a", "ab")).toBe(false);
    expect(tokensEqual(token, token)).toBe(true);
  });
});

describe("proxy cache control", () => {
  it("follows vault-lambda-extension's cache, recache and nocache", () => {
    expect(cacheControl(undefined, false)).toEqual({ lookup: false, store: false });
    expect(cacheControl(undefined, true)).toEqual({ lookup: true, store: true });
    expect(cacheControl("cache", false)).toEqual({ lookup: true, store: true });
    expect(cacheControl("recache", false)).toEqual({ lookup: false, store: true });
    expect(cacheControl("cache, nocache", true)).toEqual({ lookup: false, store: false });
    expect(cacheControl("NOCACHE", true)).toEqual({ lookup: false, store: false });
  });

  it("drops hop-by-hop headers and every caller token header", () => {
    const out = forwardHeaders(
      { connection: "keep-alive", "x-vault-token": "t", authorization: "a", "x-aws-parameters-secrets-token": "t", "x-vault-wrap-ttl": "60", "x-vault-namespace": "caller", host: "127.0.0.1:8200" },
      "team",
    );
    expect(out).toEqual({ "x-vault-wrap-ttl": "60" });
    expect(forwardHeaders({ "x-vault-namespace": "caller" }, undefined)).toEqual({ "x-vault-namespace": "caller" });
  });
});
