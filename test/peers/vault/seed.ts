/**
 * Seeds a Vault through its HTTP API only (sys/auth, sys/mounts, sys/namespaces, config and role
 * endpoints, KV writes), so the same seed works against the Vault test server and a real Vault.
 *
 * Existing mounts of the right type are reused (the test server pre-enables `secret/` as KV v2,
 * like `vault server -dev`); a mount of another type or KV version at the same path is an error.
 * Against a real Vault, a database role needs a working connection: pass it in
 * `database.connections` (the test server accepts any connection without contacting a database).
 */

/** A duration as Vault accepts it: seconds, or a Go duration string ("90s", "1m30s", "1h"). */
export type VaultDuration = number | string;

/** Fields of `auth/<mount>/config/client`. */
export interface AwsAuthClientConfigSeed {
  sts_endpoint?: string;
  sts_region?: string;
  use_sts_region_from_client?: boolean;
  iam_server_id_header_value?: string;
  allowed_sts_header_values?: string[] | string;
  max_retries?: number;
  [field: string]: unknown;
}

/** Fields of `auth/<mount>/role/<name>` (any other Vault field is passed through). */
export interface AwsAuthRoleSeed {
  auth_type?: string;
  bound_iam_principal_arn?: string[] | string;
  resolve_aws_unique_ids?: boolean;
  token_ttl?: VaultDuration;
  token_max_ttl?: VaultDuration;
  token_period?: VaultDuration;
  token_policies?: string[] | string;
  token_type?: string;
  token_no_default_policy?: boolean;
  [field: string]: unknown;
}

export interface AwsAuthMountSeed {
  /** Mount path without "auth/", e.g. "aws". */
  path: string;
  config?: AwsAuthClientConfigSeed;
  /** `auth/<mount>/config/identity` (iam_alias, iam_metadata). */
  identity?: Record<string, unknown>;
  roles?: Record<string, AwsAuthRoleSeed>;
}

export interface KvSeed {
  mount: string;
  version: 1 | 2;
  /** Secret path (relative to the mount) → key/value data. */
  secrets: Record<string, Record<string, unknown>>;
}

export interface DatabaseRoleSeed {
  default_ttl: VaultDuration;
  max_ttl: VaultDuration;
  [field: string]: unknown;
}

export interface AwsSecretsRoleSeed {
  credential_type: string;
  [field: string]: unknown;
}

export interface VaultSeed {
  /** Namespace to seed into (created, level by level, if missing). Default: root. */
  namespace?: string;
  authMounts?: AwsAuthMountSeed[];
  kv?: KvSeed[];
  database?: {
    mount?: string;
    /** `database/config/<name>` bodies, written before the roles. */
    connections?: Record<string, Record<string, unknown>>;
    roles: Record<string, DatabaseRoleSeed>;
  };
  aws?: {
    mount?: string;
    /** `aws/config/root` body. */
    root?: Record<string, unknown>;
    /** `aws/config/lease`: Go durations with a unit, e.g. { lease: "1h", lease_max: "24h" }. */
    lease?: { lease: string; lease_max: string };
    roles: Record<string, AwsSecretsRoleSeed>;
  };
}

class SeedClient {
  constructor(
    private readonly addr: string,
    private readonly token: string,
    readonly namespace: string,
  ) {}

  withNamespace(namespace: string): SeedClient {
    return new SeedClient(this.addr, this.token, namespace);
  }

  async call(method: string, path: string, body?: unknown, allow404 = false): Promise<Record<string, unknown> | undefined> {
    const headers: Record<string, string> = { "X-Vault-Token": this.token, "X-Vault-Request": "true" };
    if (this.namespace !== "") headers["X-Vault-Namespace"] = this.namespace;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${this.addr.replace(/\/+$/, "")}/v1/${path}`, {
      method,
      headers,
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (res.status === 404 && allow404) return undefined;
    if (res.status >= 300) {
      let errors = text;
      try {
        errors = JSON.stringify((JSON.parse(text) as { errors?: unknown }).errors ?? text);
      } catch {
        // keep the raw text
      }
      throw new Error(`seedVault: ${method} ${path}${this.namespace ? ` (namespace ${this.namespace})` : ""} → ${res.status} ${errors}`);
    }
    return text === "" ? {} : (JSON.parse(text) as Record<string, unknown>);
  }

  async data(path: string): Promise<Record<string, Record<string, unknown>>> {
    const res = await this.call("GET", path);
    return (res?.["data"] ?? {}) as Record<string, Record<string, unknown>>;
  }
}

function trimSlashes(p: string): string {
  return p.replace(/^\/+|\/+$/g, "");
}

async function ensureNamespace(root: SeedClient, namespace: string): Promise<void> {
  let parent = "";
  for (const segment of trimSlashes(namespace).split("/")) {
    const client = root.withNamespace(parent);
    const existing = await client.call("GET", `sys/namespaces/${segment}`, undefined, true);
    if (!existing) await client.call("POST", `sys/namespaces/${segment}`, {});
    parent = parent === "" ? segment : `${parent}/${segment}`;
  }
}

async function ensureSecretsMount(client: SeedClient, mounts: Record<string, Record<string, unknown>>, mount: string, type: string, version?: 1 | 2): Promise<void> {
  const path = `${trimSlashes(mount)}/`;
  const existing = mounts[path];
  if (existing) {
    const existingVersion = String((existing["options"] as Record<string, unknown> | null)?.["version"] ?? "1");
    if (existing["type"] !== type || (version !== undefined && existingVersion !== String(version))) {
      throw new Error(`seedVault: ${path} is already mounted as ${String(existing["type"])} (version ${existingVersion}), wanted ${type}${version ? ` v${version}` : ""}`);
    }
    return;
  }
  const body: Record<string, unknown> = { type };
  if (version !== undefined) body["options"] = { version: String(version) };
  await client.call("POST", `sys/mounts/${trimSlashes(mount)}`, body);
  mounts[path] = { type, options: version !== undefined ? { version: String(version) } : null };
}

/** Applies `seed` to the Vault at `vaultAddr` with `rootToken`, through Vault's HTTP API only. */
export async function seedVault(vaultAddr: string, rootToken: string, seed: VaultSeed): Promise<void> {
  const root = new SeedClient(vaultAddr, rootToken, "");
  const namespace = seed.namespace ? trimSlashes(seed.namespace) : "";
  if (namespace !== "") await ensureNamespace(root, namespace);
  const client = root.withNamespace(namespace);

  if (seed.authMounts && seed.authMounts.length > 0) {
    const auths = await client.data("sys/auth");
    for (const m of seed.authMounts) {
      const path = trimSlashes(m.path);
      const existing = auths[`${path}/`];
      if (!existing) await client.call("POST", `sys/auth/${path}`, { type: "aws" });
      else if (existing["type"] !== "aws") throw new Error(`seedVault: auth/${path}/ is already enabled as ${String(existing["type"])}`);
      if (m.config) await client.call("POST", `auth/${path}/config/client`, m.config);
      if (m.identity) await client.call("POST", `auth/${path}/config/identity`, m.identity);
      for (const [name, role] of Object.entries(m.roles ?? {})) {
        await client.call("POST", `auth/${path}/role/${name}`, role);
      }
    }
  }

  const needsMounts = (seed.kv?.length ?? 0) > 0 || seed.database !== undefined || seed.aws !== undefined;
  const mounts = needsMounts ? await client.data("sys/mounts") : {};

  for (const kv of seed.kv ?? []) {
    await ensureSecretsMount(client, mounts, kv.mount, "kv", kv.version);
    const mount = trimSlashes(kv.mount);
    for (const [path, data] of Object.entries(kv.secrets)) {
      const p = trimSlashes(path);
      if (kv.version === 2) await client.call("POST", `${mount}/data/${p}`, { data });
      else await client.call("POST", `${mount}/${p}`, data);
    }
  }

  if (seed.database) {
    const mount = trimSlashes(seed.database.mount ?? "database");
    await ensureSecretsMount(client, mounts, mount, "database");
    for (const [name, body] of Object.entries(seed.database.connections ?? {})) {
      await client.call("POST", `${mount}/config/${name}`, body);
    }
    for (const [name, role] of Object.entries(seed.database.roles)) {
      await client.call("POST", `${mount}/roles/${name}`, role);
    }
  }

  if (seed.aws) {
    const mount = trimSlashes(seed.aws.mount ?? "aws");
    await ensureSecretsMount(client, mounts, mount, "aws");
    if (seed.aws.root) await client.call("POST", `${mount}/config/root`, seed.aws.root);
    if (seed.aws.lease) await client.call("POST", `${mount}/config/lease`, seed.aws.lease);
    for (const [name, role] of Object.entries(seed.aws.roles)) {
      await client.call("POST", `${mount}/roles/${name}`, role);
    }
  }
}
