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

export class VaultAgentProvider extends BaseProvider {
  constructor(private readonly clientOptions: ClientOptions = {}) {
    super({});
  }

  protected async _get(name: string, options?: VaultAgentGetOptions): Promise<unknown> {
    const field = options?.sdkOptions?.field;
    const refresh = options?.sdkOptions?.refresh ?? options?.forceFetch;
    if (field) return getField(name, field, { ...this.clientOptions, refresh });
    return (await getSecret(name, { ...this.clientOptions, refresh })).data;
  }

  protected async _getMultiple(): Promise<Record<string, unknown>> {
    throw new Error("vault-lambda-agent serves declared secrets by name; use get(name)");
  }
}
