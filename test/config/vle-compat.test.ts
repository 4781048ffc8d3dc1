// HashiCorp vault-lambda-extension compatibility (docs/migration-from-vle.md): what maps is honoured
// through the variable it maps to, and the real parser understands the result; what differs is a
// warning that names what to set; a configuration that owes nothing to VLE gets no line at all.
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { vleCompat } from "../../src/config/vle-compat.ts";

type Env = Record<string, string | undefined>;
const SESSION_TOKEN = "SESSIONTOKEN-sentinel-IQoJb3JpZ2luX2Vj";
const BASE: Env = {
  VAULT_ADDR: "https://vault.example.com:8200",
  AWS_ACCESS_KEY_ID: "ASIAEXAMPLEEXAMPLE00",
  AWS_SECRET_ACCESS_KEY: "SECRETKEY-sentinel",
  AWS_SESSION_TOKEN: SESSION_TOKEN,
  AWS_REGION: "eu-west-1",
  AWS_LAMBDA_FUNCTION_NAME: "my-function",
};

function compat(extra: Env) {
  return vleCompat({ ...BASE, ...extra });
}

describe("a configuration of our own", () => {
  it("is passed through unchanged, with no warning and no notice", () => {
    const env = { ...BASE, VAULT_SECRET_PATH_DB: "database/creds/app", VAULT_DEFAULT_CACHE_ENABLED: "true", VAULT_DEFAULT_CACHE_TTL: "5m" };
    const r = vleCompat(env);
    expect(r).toEqual({ env, warnings: [], notices: [] });
    expect(r.env).not.toBe(env); // a new object: the input is never changed
  });
});

describe("the unnamed secret (VAULT_SECRET_PATH)", () => {
  it("in default mode is written where HashiCorp's extension wrote it, and the parser puts it in /tmp/vault/secret.json", () => {
    const r = compat({ VAULT_SECRET_PATH: "secret/data/app" });
    expect(r.env.VAULT_SECRET_FILE).toBe("secret.json");
    expect(r.warnings).toEqual([]);
    expect(r.notices[0]).toMatch(/^VAULT_SECRET_PATH: the unnamed secret is written to \/tmp\/vault\/secret\.json, as HashiCorp's extension did/);
    expect(r.notices[0]).toContain("VAULT_SECRET_PATH_<NAME>");
    expect(r.notices[0]).toContain("VAULT_RUN_MODE=proxy");
    const config = parseConfig(r.env);
    expect(config.runMode).toBe("default");
    expect(config.secrets).toMatchObject([{ name: "default", path: "secret/data/app", file: "/tmp/vault/secret.json" }]);
  });

  it("keeps a file the user named, and writes none in proxy mode or for a named secret", () => {
    expect(compat({ VAULT_SECRET_PATH: "kv/x", VAULT_SECRET_FILE: "/tmp/mine.json" }).env.VAULT_SECRET_FILE).toBe("/tmp/mine.json");
    for (const mode of ["proxy", "PROXY", " proxy "]) {
      const r = compat({ VAULT_SECRET_PATH: "kv/x", VAULT_RUN_MODE: mode });
      expect(r.env.VAULT_SECRET_FILE).toBeUndefined();
      expect(parseConfig(r.env).secrets[0]?.file).toBeUndefined();
    }
    expect(compat({ VAULT_SECRET_PATH_DB: "kv/x" }).env.VAULT_SECRET_FILE).toBeUndefined();
    // Empty counts as unset, as the parser reads it.
    expect(compat({ VAULT_SECRET_PATH: "  " }).env.VAULT_SECRET_FILE).toBeUndefined();
    expect(compat({ VAULT_SECRET_PATH: "kv/x", VAULT_SECRET_FILE: "" }).env.VAULT_SECRET_FILE).toBe("secret.json");
  });

  it("file mode already writes it there: no mapping, only the note on the file's shape", () => {
    const r = compat({ VAULT_SECRET_PATH: "kv/x", VAULT_RUN_MODE: "file" });
    expect(r.env.VAULT_SECRET_FILE).toBeUndefined();
    expect(parseConfig(r.env).secrets[0]?.file).toBe("/tmp/vault/secret.json");
    expect(r.notices).toHaveLength(1);
    expect(r.notices[0]).toMatch(/^secret files hold .* KV v2 secret unwrapped into "data" \(HashiCorp's extension wrote Vault's raw answer, KV v2 under "data\.data"\)/);
  });
});

describe("the files' contents", () => {
  it("are described once when a file is written, and not otherwise", () => {
    expect(compat({ VAULT_SECRET_PATH_DB: "kv/db", VAULT_SECRET_FILE_DB: "db.json" }).notices.filter((n) => n.startsWith("secret files hold"))).toHaveLength(1);
    expect(compat({ VAULT_SECRET_PATH: "kv/x" }).notices.filter((n) => n.startsWith("secret files hold"))).toHaveLength(1);
    expect(compat({ VAULT_SECRET_PATH_DB: "kv/db" }).notices).toEqual([]);
    expect(compat({ VAULT_SECRET_PATH_DB: "kv/db", VAULT_SECRET_FILE_DB: "db.json", VAULT_RUN_MODE: "proxy" }).notices).toEqual([]);
  });
});

describe("AWS_STS_REGIONAL_ENDPOINTS", () => {
  it("regional: the login is signed for the function's region, as VLE (SDK v1) did; the parser takes it", () => {
    const r = compat({ AWS_STS_REGIONAL_ENDPOINTS: "Regional" });
    expect(r.env.VAULT_STS_ENDPOINT_REGION).toBe("eu-west-1");
    expect(r.notices).toEqual([
      "AWS_STS_REGIONAL_ENDPOINTS=regional: the Vault login is signed for sts.eu-west-1.amazonaws.com, as HashiCorp's extension did; set VAULT_STS_ENDPOINT_REGION=eu-west-1 to say so explicitly",
    ]);
    expect(parseConfig(r.env).stsRegion).toBe("eu-west-1");
  });

  it("never overrides VAULT_STS_ENDPOINT_REGION; legacy is the default already; anything else is ignored with a warning", () => {
    const explicit = compat({ AWS_STS_REGIONAL_ENDPOINTS: "regional", VAULT_STS_ENDPOINT_REGION: "us-west-2" });
    expect(explicit).toMatchObject({ warnings: [], notices: [] });
    expect(explicit.env.VAULT_STS_ENDPOINT_REGION).toBe("us-west-2");
    expect(compat({ AWS_STS_REGIONAL_ENDPOINTS: "legacy" })).toMatchObject({ warnings: [], notices: [] });
    expect(compat({ AWS_STS_REGIONAL_ENDPOINTS: "everywhere" }).warnings).toEqual([
      "AWS_STS_REGIONAL_ENDPOINTS=everywhere: ignored; to sign the Vault login for a regional STS endpoint set VAULT_STS_ENDPOINT_REGION",
    ]);
  });
});

describe("the proxy cache", () => {
  it("VAULT_CACHE_TTL is read as VAULT_DEFAULT_CACHE_TTL unless that is set", () => {
    const r = compat({ VAULT_CACHE_TTL: "5m" });
    expect(r.env.VAULT_DEFAULT_CACHE_TTL).toBe("5m");
    expect(r.warnings).toEqual(["VAULT_CACHE_TTL: read as VAULT_DEFAULT_CACHE_TTL, the name this extension and HashiCorp's read; rename it"]);
    expect(parseConfig(r.env).defaultCacheTtlMs).toBe(300_000);
    const both = compat({ VAULT_CACHE_TTL: "5m", VAULT_DEFAULT_CACHE_TTL: "1m" });
    expect(both.env.VAULT_DEFAULT_CACHE_TTL).toBe("1m");
    expect(both.warnings).toEqual(["VAULT_CACHE_TTL: ignored, VAULT_DEFAULT_CACHE_TTL is set; remove VAULT_CACHE_TTL"]);
  });

  it("VAULT_DEFAULT_CACHE_ENABLED=true without a TTL caches leased answers here (VLE cached nothing): a warning says what to set", () => {
    const r = compat({ VAULT_DEFAULT_CACHE_ENABLED: "TRUE" });
    expect(r.warnings).toHaveLength(1);
    expect(r.warnings[0]).toMatch(/^VAULT_DEFAULT_CACHE_ENABLED=true without VAULT_DEFAULT_CACHE_TTL: HashiCorp's extension cached nothing then/);
    expect(r.warnings[0]).toContain("set VAULT_DEFAULT_CACHE_ENABLED=false");
    expect(compat({ VAULT_DEFAULT_CACHE_ENABLED: "true", VAULT_DEFAULT_CACHE_TTL: "30s" }).warnings).toEqual([]);
    expect(compat({ VAULT_DEFAULT_CACHE_ENABLED: "false" }).warnings).toEqual([]);
    expect(compat({ VAULT_DEFAULT_CACHE_ENABLED: "true", VAULT_RUN_MODE: "file", VAULT_SECRET_PATH: "kv/x" }).warnings).toEqual([]);
  });
});

describe("the function's Vault client pointed at the proxy (VLE_VAULT_ADDR + VAULT_ADDR=localhost)", () => {
  it("warns that the proxy wants the caller token, naming the header and the opt-out", () => {
    for (const addr of ["http://127.0.0.1:8200", "http://localhost:8200/", "http://[::1]:8200"]) {
      const r = compat({ VLE_VAULT_ADDR: "https://vault.example.com", VAULT_ADDR: addr });
      expect(r.warnings, addr).toHaveLength(1);
      expect(r.warnings[0]).toMatch(/^VAULT_ADDR points the function's Vault client at this extension's proxy, which \(unlike HashiCorp's\) requires a caller token/);
      expect(r.warnings[0]).toContain("VAULT_AGENT_REQUIRE_TOKEN=false");
      expect(r.warnings[0]).not.toContain(SESSION_TOKEN);
    }
  });

  it("says nothing when the token check is off, the port is another, there is no proxy, or VAULT_ADDR is the real Vault", () => {
    const vle = { VLE_VAULT_ADDR: "https://vault.example.com", VAULT_ADDR: "http://127.0.0.1:8200" };
    expect(compat({ ...vle, VAULT_AGENT_REQUIRE_TOKEN: "false" }).warnings).toEqual([]);
    expect(compat({ ...vle, VAULT_AGENT_PORT: "8300" }).warnings).toEqual([]);
    expect(compat({ ...vle, VAULT_AGENT_PORT: "8300", VAULT_ADDR: "http://127.0.0.1:8300" }).warnings).toHaveLength(1);
    expect(compat({ ...vle, VAULT_RUN_MODE: "file" }).warnings).toEqual([]);
    expect(compat({ VLE_VAULT_ADDR: "https://vault.example.com" }).warnings).toEqual([]);
    expect(compat({ VLE_VAULT_ADDR: "https://vault.example.com", VAULT_ADDR: "not a url" }).warnings).toEqual([]);
  });
});
