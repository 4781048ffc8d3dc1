/**
 * The Vault test server's AWS IAM login: Vault's validation rules in Vault's order with Vault's
 * exact error strings (vault-wire-protocol.md §1.2), forwarding to the real STS test server
 * (§1.3), ARN canonicalisation and binding (§1.4–1.5), and the response shape (§1.7). Logins are
 * signed with the independent `aws4` signer.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeIdentity, StsTestServer } from "./sts/server.ts";
import { seedVault } from "./vault/seed.ts";
import { VaultTestServer } from "./vault/server.ts";
import { b64, encodeHeaders, GCI_BODY, login, loginBody, signGetCallerIdentity, vault } from "./vault/testing.ts";

const ACCOUNT = "123456789012";
const FN_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/fn-role`;
const FN_SESSION_ARN = `arn:aws:sts::${ACCOUNT}:assumed-role/fn-role/orders-api`;
const fn = makeIdentity({ arn: FN_SESSION_ARN });
const alice = makeIdentity({ arn: `arn:aws:iam::${ACCOUNT}:user/team/alice` });
const federated = makeIdentity({ arn: `arn:aws:sts::${ACCOUNT}:federated-user/bob` });
const fnRole = { bound_iam_principal_arn: [FN_ROLE_ARN], token_policies: ["app"], token_ttl: 3600, token_max_ttl: "4h" };

/** A programmable HTTP front for the STS test server, to observe and disturb the forwarding. */
class StsProxy {
  readonly seen: Array<{ method: string; url: string; headers: IncomingHttpHeaders; body: string }> = [];
  /** Each entry answers one request instead of forwarding it. */
  script: Array<{ status: number; contentType: string; body: string }> = [];
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<StsProxy> {
    let proxy: StsProxy | undefined;
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        proxy?.seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
        const canned = proxy?.script.shift();
        if (canned) {
          res.writeHead(canned.status, { "Content-Type": canned.contentType });
          res.end(canned.body);
          return;
        }
        const upstream = new URL(target);
        const fwd = httpRequest(
          { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
          (up) => {
            res.writeHead(up.statusCode ?? 502, up.headers);
            up.pipe(res);
          },
        );
        fwd.on("error", () => res.destroy());
        fwd.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
    proxy = new StsProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  reset(): void {
    this.seen.length = 0;
    this.script = [];
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let sts: StsTestServer;
let server: VaultTestServer;
let proxy: StsProxy;
let addr: string;

beforeAll(async () => {
  sts = await StsTestServer.start({ identities: [fn, alice, federated] });
  proxy = await StsProxy.start(sts.url);
  server = await VaultTestServer.start({ defaultStsEndpoint: sts.url });
  addr = server.url;
  const euWest1 = await sts.endpoint("eu-west-1");
  await seedVault(addr, server.rootToken, {
    authMounts: [
      {
        path: "aws",
        config: { sts_endpoint: sts.url },
        roles: {
          "fn-role": fnRole,
          glob: { bound_iam_principal_arn: `arn:aws:iam::${ACCOUNT}:role/fn-*`, token_policies: "Other, app" },
          users: { bound_iam_principal_arn: [`arn:aws:iam::${ACCOUNT}:user/alice`] },
          other: { bound_iam_principal_arn: [`arn:aws:iam::${ACCOUNT}:role/someone-else`] },
          ec2role: { auth_type: "ec2", bound_ami_id: "ami-0123456789" },
          "cidr-elsewhere": { ...fnRole, token_bound_cidrs: "10.0.0.0/8" },
          "cidr-local": { ...fnRole, token_bound_cidrs: ["10.0.0.0/8", "127.0.0.0/8"] },
        },
      },
      {
        path: "aws-meta",
        config: { sts_endpoint: sts.url },
        identity: { iam_metadata: ["default", "canonical_arn", "client_arn", "client_user_id"] },
        roles: { "fn-role": fnRole },
      },
      { path: "aws-sid", config: { sts_endpoint: sts.url, iam_server_id_header_value: "vault.example.com" }, roles: { "fn-role": fnRole } },
      { path: "aws-default", roles: { "fn-role": fnRole } },
      { path: "aws-regional", config: { sts_endpoint: euWest1 }, roles: { "fn-role": fnRole } },
      { path: "aws-proxy", config: { sts_endpoint: proxy.url }, roles: { "fn-role": fnRole } },
    ],
  });
});

afterAll(async () => {
  await Promise.allSettled([server?.close(), proxy?.close(), sts?.close()]);
});

async function loginAt(mount: string, body: Record<string, unknown>) {
  return vault(addr, "POST", `auth/${mount}/login`, { body });
}

function withoutKey(o: Record<string, unknown>, key: string): Record<string, unknown> {
  const copy = { ...o };
  delete copy[key];
  return copy;
}

describe("IAM login validation (§1.2): Vault's exact errors, in Vault's order", () => {
  const base = () => loginBody(fn, { role: "fn-role" });
  const signedWith = (extra: Record<string, string>) => ({
    ...base(),
    iam_request_headers: encodeHeaders({ ...signGetCallerIdentity(fn), ...extra }),
  });
  const cases: Array<[string, () => Record<string, unknown>, string]> = [
    ["empty body", () => ({}), "didn't supply required authentication values"],
    ["only a role", () => ({ role: "fn-role" }), "didn't supply required authentication values"],
    ["ec2 and iam fields", () => ({ ...base(), pkcs7: "MIAG" }), "supplied auth values for both ec2 and iam auth types"],
    ["half of the ec2 fields", () => ({ identity: "e30=" }), "supplied some of the auth values for the ec2 auth type but not all"],
    ["three of four iam fields", () => withoutKey(base(), "iam_request_body"), "supplied some of the auth values for the iam auth type but not all"],
    ["empty method", () => ({ ...base(), iam_http_request_method: "" }), "missing iam_http_request_method"],
    ["GET method", () => ({ ...base(), iam_http_request_method: "GET" }), "invalid iam_http_request_method; currently only 'POST' is supported"],
    ["empty URL", () => ({ ...base(), iam_request_url: "" }), "missing iam_request_url"],
    ["URL not base64", () => ({ ...base(), iam_request_url: "https://sts.amazonaws.com/" }), "failed to base64 decode iam_request_url"],
    ["URL base64url alphabet", () => ({ ...base(), iam_request_url: "aHR0cHM6Ly9zdHMuYW1hem9uYXdzLmNvbS8_-" }), "failed to base64 decode iam_request_url"],
    ["URL does not parse", () => ({ ...base(), iam_request_url: b64("https://[::1/") }), "error parsing iam_request_url"],
    ["URL with a query", () => ({ ...base(), iam_request_url: b64("https://sts.amazonaws.com/?Action=GetCallerIdentity") }), "invalid request"],
    ["empty body field", () => ({ ...base(), iam_request_body: "" }), "missing iam_request_body"],
    ["body not base64", () => ({ ...base(), iam_request_body: GCI_BODY }), "failed to base64 decode iam_request_body"],
    ["body with another key", () => ({ ...base(), iam_request_body: b64(`${GCI_BODY}&RoleArn=x`) }), "iam request body is invalid"],
    ["body with two Actions", () => ({ ...base(), iam_request_body: b64(`Action=GetCallerIdentity&${GCI_BODY}`) }), "iam request body is invalid"],
    ["body with another Action", () => ({ ...base(), iam_request_body: b64("Action=AssumeRole&Version=2011-06-15") }), "iam request body is invalid"],
    ["body with a bad escape", () => ({ ...base(), iam_request_body: b64("Action=%zz") }), 'invalid URL escape "%zz"'],
    ["empty header map", () => ({ ...base(), iam_request_headers: {} }), "missing iam_request_headers"],
    ["an X-Amz header not allowed", () => signedWith({ "X-Amz-User-Agent": "aws-sdk-js/3" }), "invalid request header: X-Amz-User-Agent"],
    ["the same, lower-case (canonicalised)", () => signedWith({ "x-amz-user-agent": "aws-sdk-js/3" }), "invalid request header: X-Amz-User-Agent"],
    ["unknown role", () => loginBody(fn, { role: "nope" }), "entry for role nope not found"],
    ["ec2 role", () => loginBody(fn, { role: "ec2role" }), "auth method iam not allowed for role ec2role"],
    ["unbound ARN", () => loginBody(fn, { role: "other" }), `IAM Principal "${FN_SESSION_ARN}" does not belong to the role "other"`],
    [
      "unparseable caller ARN",
      () => loginBody(federated, { role: "fn-role" }),
      `error parsing arn "arn:aws:sts::${ACCOUNT}:federated-user/bob": unrecognized principal type: "federated-user"`,
    ],
  ];
  it.each(cases)("%s", async (_name, body, message) => {
    const res = await loginAt("aws", body());
    expect(res.status).toBe(400);
    expect(res.json).toEqual({ errors: [message] });
  });

  it("reports a header field that cannot be decoded as a field validation failure", async () => {
    const res = await loginAt("aws", { ...base(), iam_request_headers: "{not json" });
    expect(res.status).toBe(400);
    expect(res.json.errors[0]).toMatch(/^Field validation failed: error converting input for field "iam_request_headers": /);
  });

  const ordered: Array<[string, () => Record<string, unknown>, string]> = [
    ["both auth types before a missing method", () => ({ ...base(), pkcs7: "x", iam_http_request_method: "" }), "supplied auth values for both ec2 and iam auth types"],
    ["method before URL", () => ({ ...base(), iam_http_request_method: "GET", iam_request_url: "" }), "invalid iam_http_request_method; currently only 'POST' is supported"],
    ["URL query before body", () => ({ ...base(), iam_request_url: b64("https://sts.amazonaws.com/?x=1"), iam_request_body: b64("Action=AssumeRole") }), "invalid request"],
    ["body before headers", () => ({ ...base(), iam_request_body: b64("Foo=1"), iam_request_headers: {} }), "iam request body is invalid"],
    ["headers before the role", () => ({ ...base(), role: "nope", iam_request_headers: {} }), "missing iam_request_headers"],
    ["header allow-list before STS (bad signature too)", () => ({ ...signedWith({ "X-Amz-Foo": "1", Authorization: "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host, Signature=00" }) }), "invalid request header: X-Amz-Foo"],
    ["STS answer before the role", () => ({ ...loginBody(fn, { role: "nope" }), iam_request_headers: encodeHeaders({ ...signGetCallerIdentity(fn), Authorization: "AWS4-HMAC-SHA256 Credential=AKIA/20200101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=00" }) }), "error making upstream request: received error code"],
  ];
  it.each(ordered)("%s", async (_name, body, message) => {
    const res = await loginAt("aws", body());
    expect(res.status).toBe(400);
    expect(res.json.errors).toHaveLength(1);
    expect(res.json.errors[0].startsWith(message)).toBe(true);
  });

  it("checks the server-ID header before the X-Amz allow-list", async () => {
    const res = await loginAt("aws-sid", { ...loginBody(fn, { role: "fn-role", unsignedHeaders: { "X-Amz-Foo": "1" } }) });
    expect(res.json).toEqual({ errors: ['error validating X-Vault-AWS-IAM-Server-ID header: missing header "X-Vault-AWS-IAM-Server-ID"'] });
  });
});

describe("IAM login headers: every encoding Vault accepts (§1.1)", () => {
  const headers = () => signGetCallerIdentity(fn);
  const encodings: Array<[string, () => unknown]> = [
    ["base64 of JSON with one-element arrays", () => encodeHeaders(headers())],
    ["raw JSON string", () => JSON.stringify(Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k, [v]])))],
    ["JSON object with string values", () => headers()],
    ["lower-case names", () => Object.fromEntries(Object.entries(headers()).map(([k, v]) => [k.toLowerCase(), [v]]))],
    ["Content-Length as a number", () => ({ ...headers(), "Content-Length": Buffer.byteLength(GCI_BODY) })],
    ["list of Name:value strings", () => Object.entries(headers()).map(([k, v]) => `${k}:${v}`)],
  ];
  it.each(encodings)("%s", async (_name, encoded) => {
    const res = await loginAt("aws", { ...loginBody(fn, { role: "fn-role" }), iam_request_headers: encoded() });
    expect(res.status, res.text).toBe(200);
  });
});

describe("IAM login end to end through the STS test server", () => {
  it("answers with the §1.7 response shape", async () => {
    const { response, token } = await login(addr, fn, { role: "fn-role" });
    const body = response.json;
    expect(Object.keys(body).sort()).toEqual(["auth", "data", "lease_duration", "lease_id", "mount_type", "renewable", "request_id", "warnings", "wrap_info"]);
    expect(body).toMatchObject({ lease_id: "", renewable: false, lease_duration: 0, data: null, wrap_info: null, warnings: null, mount_type: "aws" });
    expect(body.request_id).toMatch(/^[0-9a-f-]{36}$/);
    const auth = body.auth;
    expect(auth.client_token).toMatch(/^hvs\./);
    expect(auth.accessor).toMatch(/^[A-Za-z0-9]{24}$/);
    expect(auth.policies).toEqual(["app", "default"]);
    expect(auth.token_policies).toEqual(["app", "default"]);
    expect(Object.keys(auth.metadata).sort()).toEqual(["account_id", "auth_type", "role_id"]);
    expect(auth.metadata).toMatchObject({ account_id: ACCOUNT, auth_type: "iam" });
    expect(auth.metadata.role_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(auth).toMatchObject({ lease_duration: 3600, renewable: true, token_type: "service", orphan: true, mfa_requirement: null, num_uses: 0 });
    expect(auth.entity_id).toMatch(/^[0-9a-f-]{36}$/);
    const self = await vault(addr, "GET", "auth/token/lookup-self", { token });
    expect(self.json.data).toMatchObject({ display_name: "aws-fn-role/orders-api", path: "auth/aws/login", policies: ["app", "default"] });
    const again = await login(addr, fn, { role: "fn-role" });
    expect(again.response.json.auth.entity_id).toBe(auth.entity_id);
    expect(server.logins.at(-1)).toMatchObject({ ok: true, mount: "aws", role: "fn-role", arn: FN_SESSION_ARN, accessor: again.accessor });
  });

  it("warns about request fields it does not know, as Vault's framework does", async () => {
    const res = await loginAt("aws", { ...loginBody(fn, { role: "fn-role" }), zeta: 1, alpha: "x" });
    expect(res.status).toBe(200);
    expect(res.json.warnings).toEqual(["Endpoint ignored these unrecognized parameters: [alpha zeta]"]);
  });

  it("rejects a tampered signature with STS's 403 wrapped in a 400", async () => {
    const headers = signGetCallerIdentity(fn);
    const authz = headers["Authorization"] as string;
    const last = authz.at(-1) === "0" ? "1" : "0";
    headers["Authorization"] = authz.slice(0, -1) + last;
    const res = await loginAt("aws", { ...loginBody(fn, { role: "fn-role" }), iam_request_headers: encodeHeaders(headers) });
    expect(res.status).toBe(400);
    expect(res.json.errors).toHaveLength(1);
    expect(res.json.errors[0].startsWith("error making upstream request: received error code 403 from STS: ")).toBe(true);
    expect(res.json.errors[0]).toContain("SignatureDoesNotMatch");
    expect(server.logins.at(-1)).toMatchObject({ ok: false, role: "fn-role" });
  });

  it("uses defaultStsEndpoint when the mount has no config/client", async () => {
    const res = await loginAt("aws-default", loginBody(fn, { role: "fn-role" }));
    expect(res.status, res.text).toBe(200);
  });

  it("forwards to a regional sts_endpoint, which only accepts signatures for its region", async () => {
    const ok = await loginAt("aws-regional", loginBody(fn, { role: "fn-role", host: "sts.eu-west-1.amazonaws.com", region: "eu-west-1" }));
    expect(ok.status, ok.text).toBe(200);
    const wrongRegion = await loginAt("aws-regional", loginBody(fn, { role: "fn-role" }));
    expect(wrongRegion.status).toBe(400);
    expect(wrongRegion.json.errors[0]).toMatch(/^error making upstream request: received error code 403 from STS: /);
  });
});

describe("X-Vault-AWS-IAM-Server-ID (§1.2 step 6)", () => {
  const prefix = "error validating X-Vault-AWS-IAM-Server-ID header: ";
  it("accepts the configured value when it is signed", async () => {
    const res = await loginAt("aws-sid", loginBody(fn, { role: "fn-role", serverId: "vault.example.com" }));
    expect(res.status, res.text).toBe(200);
  });
  it("requires the header", async () => {
    const res = await loginAt("aws-sid", loginBody(fn, { role: "fn-role" }));
    expect(res.json).toEqual({ errors: [`${prefix}missing header "X-Vault-AWS-IAM-Server-ID"`] });
  });
  it("requires it to be signed", async () => {
    const res = await loginAt("aws-sid", loginBody(fn, { role: "fn-role", unsignedHeaders: { "X-Vault-AWS-IAM-Server-ID": "vault.example.com" } }));
    expect(res.json).toEqual({ errors: [`${prefix}vault header wasn't signed`] });
  });
  it("requires the configured value", async () => {
    const res = await loginAt("aws-sid", loginBody(fn, { role: "fn-role", serverId: "other.example.com" }));
    expect(res.json).toEqual({ errors: [`${prefix}expected "vault.example.com" but got "other.example.com"`] });
  });
  it("requires an Authorization header", async () => {
    const headers = signGetCallerIdentity(fn, { serverId: "vault.example.com" });
    delete headers["Authorization"];
    const res = await loginAt("aws-sid", { ...loginBody(fn, { role: "fn-role" }), iam_request_headers: encodeHeaders(headers) });
    expect(res.json).toEqual({ errors: [`${prefix}missing Authorization header`] });
  });
});

describe("role resolution and binding (§1.4–1.5)", () => {
  it("matches a `*` binding against the canonical ARN", async () => {
    const { response } = await login(addr, fn, { role: "glob" });
    expect(response.json.auth.policies).toEqual(["app", "default", "other"]);
  });
  it("canonicalises an IAM user ARN by dropping its path", async () => {
    const { token } = await login(addr, alice, { role: "users" });
    const self = await vault(addr, "GET", "auth/token/lookup-self", { token });
    expect(self.json.data.display_name).toBe("aws-alice");
  });
  it("uses the friendly name of the caller as the role when none is given", async () => {
    const roleId = (await vault(addr, "GET", "auth/aws/role/fn-role", { token: server.rootToken })).json.data.role_id;
    const { response } = await login(addr, fn);
    expect(response.json.auth.metadata.role_id).toBe(roleId);
    expect(server.logins.at(-1)).toMatchObject({ ok: true, role: "fn-role" });
  });
  it("looks roles up case-insensitively but reports the name as given", async () => {
    expect((await loginAt("aws", loginBody(fn, { role: "FN-Role" }))).status).toBe(200);
    expect((await loginAt("aws", loginBody(fn, { role: "No-Such" }))).json).toEqual({ errors: ["entry for role No-Such not found"] });
  });
  it("refuses callers outside token_bound_cidrs with 403", async () => {
    const outside = await loginAt("aws", loginBody(fn, { role: "cidr-elsewhere" }));
    expect(outside.status).toBe(403);
    expect(outside.json).toEqual({ errors: ["permission denied"] });
    expect((await loginAt("aws", loginBody(fn, { role: "cidr-local" }))).status).toBe(200);
  });
  it("adds the metadata chosen in config/identity", async () => {
    const res = await loginAt("aws-meta", loginBody(fn, { role: "fn-role" }));
    expect(res.json.auth.metadata).toEqual({
      role_id: expect.any(String),
      account_id: ACCOUNT,
      auth_type: "iam",
      canonical_arn: FN_ROLE_ARN,
      client_arn: FN_SESSION_ARN,
      client_user_id: fn.userId.split(":")[0],
    });
  });
  it("matches globs against the full ARN when a resolver provides it", async () => {
    const withPaths = await VaultTestServer.start({
      defaultStsEndpoint: sts.url,
      resolveFullArn: (canonical) => canonical.replace(":role/", ":role/lambda/"),
    });
    try {
      await seedVault(withPaths.url, withPaths.rootToken, {
        authMounts: [{ path: "aws", roles: { fn: { bound_iam_principal_arn: `arn:aws:iam::${ACCOUNT}:role/lambda/*` } } }],
      });
      expect((await vault(withPaths.url, "POST", "auth/aws/login", { body: loginBody(fn, { role: "fn" }) })).status).toBe(200);
    } finally {
      await withPaths.close();
    }
  });
});

describe("use_sts_region_from_client (§1.2 step 7)", () => {
  let regional: VaultTestServer;
  beforeAll(async () => {
    const endpoints = new Map([["eu-west-1", await sts.endpoint("eu-west-1")]]);
    regional = await VaultTestServer.start({ defaultStsEndpoint: sts.url, stsEndpointForRegion: (r) => endpoints.get(r) });
    await seedVault(regional.url, regional.rootToken, {
      authMounts: [{ path: "aws", config: { use_sts_region_from_client: true, sts_endpoint: "http://127.0.0.1:1" }, roles: { "fn-role": fnRole } }],
    });
  });
  afterAll(async () => {
    await regional?.close();
  });
  const post = (body: Record<string, unknown>) => vault(regional.url, "POST", "auth/aws/login", { body });

  it("forwards to the endpoint of the region in the Authorization header (overriding sts_endpoint)", async () => {
    const res = await post(loginBody(fn, { role: "fn-role", host: "sts.eu-west-1.amazonaws.com", region: "eu-west-1" }));
    expect(res.status, res.text).toBe(200);
  });
  it("rejects a region it cannot resolve", async () => {
    const res = await post(loginBody(fn, { role: "fn-role", region: "mars-1" }));
    expect(res.json).toEqual({ errors: ["unable to get regional STS endpoint for region: mars-1"] });
  });
  it("rejects an Authorization header without a credential scope", async () => {
    const headers = { ...signGetCallerIdentity(fn), Authorization: "AWS4-HMAC-SHA256 SignedHeaders=host, Signature=00" };
    const res = await post({ ...loginBody(fn, { role: "fn-role" }), iam_request_headers: encodeHeaders(headers) });
    expect(res.json).toEqual({ errors: ["region missing from Authorization header"] });
  });
});

describe("forwarding to STS (§1.3)", () => {
  const configure = (body: Record<string, unknown>) => vault(addr, "POST", "auth/aws-proxy/config/client", { token: server.rootToken, body });
  const post = () => loginAt("aws-proxy", loginBody(fn, { role: "fn-role" }));
  const xml = "text/xml";

  it("sends <endpoint>//, the client's Host, headers and body", async () => {
    proxy.reset();
    expect((await post()).status).toBe(200);
    expect(proxy.seen).toHaveLength(1);
    const seen = proxy.seen[0]!;
    expect(seen.method).toBe("POST");
    expect(seen.url).toBe("//");
    expect(seen.headers.host).toBe("sts.amazonaws.com");
    expect(seen.body).toBe(GCI_BODY);
    expect(seen.headers["content-length"]).toBe(String(GCI_BODY.length));
    expect(seen.headers["x-amz-security-token"]).toBe(fn.sessionToken);
    expect(seen.headers["authorization"]).toMatch(/^AWS4-HMAC-SHA256 Credential=/);
  });

  it("retries 5xx answers and succeeds when STS recovers", async () => {
    proxy.reset();
    proxy.script = [
      { status: 500, contentType: xml, body: "<ErrorResponse/>" },
      { status: 503, contentType: xml, body: "<ErrorResponse/>" },
    ];
    expect((await post()).status).toBe(200);
    expect(proxy.seen).toHaveLength(3);
  });

  it("gives up after max_retries (-1 → 3 retries) with go-retryablehttp's message", async () => {
    proxy.reset();
    proxy.script = Array.from({ length: 4 }, () => ({ status: 500, contentType: xml, body: "<ErrorResponse/>" }));
    const res = await post();
    expect(proxy.seen).toHaveLength(4);
    expect(res.json).toEqual({
      errors: [`error making upstream request: error making request: POST ${proxy.url}// giving up after 4 attempt(s): unexpected HTTP status 500 Internal Server Error`],
    });
  });

  it("honours max_retries 0 and does not retry 501", async () => {
    await configure({ max_retries: 0 });
    try {
      proxy.reset();
      proxy.script = [{ status: 429, contentType: xml, body: "<ErrorResponse/>" }];
      expect((await post()).json).toEqual({ errors: [`error making upstream request: error making request: POST ${proxy.url}// giving up after 1 attempt(s)`] });
      expect(proxy.seen).toHaveLength(1);
      await configure({ max_retries: 2 });
      proxy.reset();
      proxy.script = [{ status: 501, contentType: xml, body: "<NotImplemented/>" }];
      expect((await post()).json).toEqual({ errors: ["error making upstream request: received error code 501 from STS: <NotImplemented/>"] });
      expect(proxy.seen).toHaveLength(1);
    } finally {
      await configure({ max_retries: -1 });
    }
  });

  it("checks the Content-Type first, then the status, then the XML", async () => {
    proxy.reset();
    proxy.script = [{ status: 403, contentType: "application/xml", body: "<ErrorResponse/>" }];
    expect((await post()).json).toEqual({ errors: ["error making upstream request: body of GetCallerIdentity is invalid"] });
    proxy.script = [{ status: 200, contentType: xml, body: "<html>not STS</html>" }];
    expect((await post()).json).toEqual({ errors: ["error making upstream request: error parsing STS response"] });
    proxy.script = [{ status: 200, contentType: xml, body: "<?xml version=\"1.0\"?><Other/>" }];
    expect((await post()).json).toEqual({ errors: ["error making upstream request: error parsing STS response"] });
  });

  it("reports a refused connection after its retries", async () => {
    await configure({ sts_endpoint: "http://127.0.0.1:1", max_retries: 1 });
    try {
      const res = await post();
      expect(res.json.errors[0]).toBe(
        'error making upstream request: error making request: POST http://127.0.0.1:1// giving up after 2 attempt(s): Post "http://127.0.0.1:1//": dial tcp 127.0.0.1:1: connect: connection refused',
      );
    } finally {
      await configure({ sts_endpoint: proxy.url, max_retries: -1 });
    }
  });
});
