/**
 * A Powertools for AWS Lambda Parameters provider backed by vault-lambda-agent.
 *
 *   import { VaultAgentProvider } from "vault-lambda-agent/client/powertools";
 *   const vault = new VaultAgentProvider();
 *   const db = await vault.get<{ username: string; password: string }>("db");   // the data map
 *   const pw = await vault.get("db", { sdkOptions: { field: "password" } });      // string | undefined
 *
 * The extension owns caching and freshness, so Powertools' own cache defaults to a short `maxAge`.
 * Each request has its own timeout (no shared abort controller that, once fired, aborts them all).
 */
import { BaseProvider } from "@aws-lambda-powertools/parameters/base";
import { getField, getSecret, type ClientOptions } from "./index.ts";

export interface VaultAgentGetOptions {
  maxAge?: number;
  forceFetch?: boolean;
  sdkOptions?: { field?: string; refresh?: boolean };
}

type BaseGetOptions = Parameters<BaseProvider["get"]>[1];

/** Options of a read of the whole secret (its `data` map). */
export type VaultAgentSecretOptions = VaultAgentGetOptions & BaseGetOptions;
/** Options of a read of one field (`sdkOptions.field`): the value comes back as a string. */
export type VaultAgentFieldOptions = VaultAgentSecretOptions & { sdkOptions: { field: string; refresh?: boolean } };

export class VaultAgentProvider extends BaseProvider {
  constructor(private readonly clientOptions: ClientOptions = {}) {
    super({});
  }

  /**
   * Powertools caches by name (and transform) only, not by `sdkOptions`: without this, `get("db")`
   * followed by `get("db", { sdkOptions: { field: "password" } })` would answer the cached data map.
   * A field read gets its own cache entry, keyed `<name>?field=<key>` (a `?` is never in a name).
   *
   * Typed like Powertools' own providers: the type argument says what the caller expects
   * (`get<string>(...)`, `get<DbCredentials>("db")`); undefined when Powertools' transform yields
   * nothing. Without one, a field read is a string and a secret its data map.
   */
  override get<T = string>(name: string, options: VaultAgentFieldOptions): Promise<T | undefined>;
  override get<T = Record<string, unknown>>(name: string, options?: VaultAgentSecretOptions): Promise<T | undefined>;
  override get<T>(name: string, options?: VaultAgentSecretOptions): Promise<T | undefined> {
    const field = options?.sdkOptions?.field;
    return super.get(field ? `${name}${fieldSuffix(field)}` : name, options) as Promise<T | undefined>;
  }

  protected async _get(name: string, options?: VaultAgentGetOptions): Promise<unknown> {
    const field = options?.sdkOptions?.field;
    const refresh = options?.sdkOptions?.refresh ?? options?.forceFetch;
    if (field) {
      const suffix = fieldSuffix(field);
      const secret = name.endsWith(suffix) ? name.slice(0, -suffix.length) : name;
      return getField(secret, field, { ...this.clientOptions, refresh });
    }
    return (await getSecret(name, { ...this.clientOptions, refresh })).data;
  }

  protected async _getMultiple(): Promise<Record<string, unknown>> {
    throw new Error("vault-lambda-agent serves declared secrets by name; use get(name)");
  }
}

function fieldSuffix(field: string): string {
  return `?field=${field}`;
}
