/**
 * A KV v2 path without `data/`: Vault (and OpenBao, see test/real/conformance.test.ts) answers 404
 * with no error but a warning that names the right endpoint. The peer answers so, and the extension
 * carries that warning into the message its user sees, instead of a bare "404".
 */
import { describe, expect, it } from "vitest";
import { World, requireLayerBuilt, useWorld } from "../integration/harness.ts";

const HINT = "Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv get' for this operation.";

let world: World;
useWorld((w) => (world = w));

describe("a KV v2 path without data/", () => {
  it("the extension's init error names Vault's hint", async () => {
    requireLayerBuilt();
    const fn = await world.lambda({ VAULT_SECRET_PATH_CONFIG: "secret/app/config" });
    const init = await fn.start();
    expect(init.ok).toBe(false);
    expect(init.error?.type).toBe("Extension.SecretReadFailed");
    expect(init.error?.message).toBe(`VAULT_SECRET_PATH_CONFIG: reading "secret/app/config" failed: no secret at secret/app/config (Vault warned: ${HINT})`);
    await fn.kill();
  });
});
