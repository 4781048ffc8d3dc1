/**
 * The README's AWS SDK recipe, run in a function under the emulator with the built layer: the SDK's
 * `fromHttp` provider (pointed at /aws/credentials/<name>, the caller token passed in code) and the
 * package's `awsCredentials` both get the credentials Vault issued; the SDK's default provider chain
 * does not, even with AWS_CONTAINER_CREDENTIALS_FULL_URI set on the function, because the function's
 * own AWS_ACCESS_KEY_ID comes first in that chain (and Lambda does not expand $AWS_SESSION_TOKEN in a
 * variable's value).
 */
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { World } from "../integration/harness.ts";
import { CLIENT_DIR, LAYER_DIR, PACKAGING_FIXTURES, requireBuilt } from "./helpers.ts";

let world: World;

beforeAll(async () => {
  requireBuilt(path.join(CLIENT_DIR, "index.js"), path.join(LAYER_DIR, "extensions", "vault-lambda-agent"));
  world = await World.start();
});

afterAll(async () => {
  world?.leakScan();
  await world?.close();
});

it("fromHttp with the token from the environment and awsCredentials get Vault's credentials; the default chain keeps the function's own", async () => {
  const fn = await world.lambda(
    {
      VAULT_SECRET_PATH_DEPLOY: "aws/creds/deploy",
      // The recipe the README used to give: set on the function, it changes nothing.
      AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://127.0.0.1:8200/aws/credentials/deploy",
      AWS_CONTAINER_AUTHORIZATION_TOKEN: "$AWS_SESSION_TOKEN",
    },
    { functionDir: PACKAGING_FIXTURES, handler: "sdk-recipe.handler" },
  );
  const init = await fn.start();
  expect(init.ok, JSON.stringify(init.error)).toBe(true);
  const r = await fn.invoke({});
  expect(r.ok, JSON.stringify(r.error)).toBe(true);
  const out = r.response as { fromHttp: { accessKeyId: string; hasSecret: boolean; expiration: string }; awsCredentials: { accessKeyId: string }; defaultChain: { accessKeyId: string }; functionKey: string };
  const issued = world.vault.leases().find((l) => l.path === "aws/creds/deploy" && !l.revokedAt)!;
  const vaultKey = (issued.data as { access_key: string }).access_key;
  expect(out.fromHttp.accessKeyId).toBe(vaultKey);
  expect(out.fromHttp.hasSecret).toBe(true);
  expect(new Date(out.fromHttp.expiration).getTime()).toBeGreaterThan(Date.now());
  expect(out.awsCredentials.accessKeyId).toBe(vaultKey);
  expect(out.defaultChain.accessKeyId).toBe(out.functionKey);
  expect(out.defaultChain.accessKeyId).not.toBe(vaultKey);
  await fn.shutdown();
});
