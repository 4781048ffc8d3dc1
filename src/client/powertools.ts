/**
 * A Powertools for AWS Lambda Parameters provider backed by vault-lambda-agent.
 *
 *   import { VaultAgentProvider } from "vault-lambda-agent/client/powertools";
 *   const vault = new VaultAgentProvider();
 *   const db = await vault.get("db");                                   // the secret's data map
 *   const pw = await vault.get("db", { sdkOptions: { field: "password" } });
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

export class VaultAgentProvider extends BaseProvider {
  constructor(private readonly clientOptions: ClientOptions = {}) {
    super({});
  }

  /**
   * Powertools caches by name (and transform) only, not by `sdkOptions`: without this, `get("db")`
   * followed by `get("db", { sdkOptions: { field: "password" } })` would answer the cached data map.
   * A field read gets its own cache entry, keyed `<name>?field=<key>` (a `?` is never in a name).
   */
  override get(name: string, options?: VaultAgentGetOptions & BaseGetOptions): Promise<unknown> {
    const field = options?.sdkOptions?.field;
    return super.get(field ? `${name}${fieldSuffix(field)}` : name, options);
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
