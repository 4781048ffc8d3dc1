/**
 * `npm run sandbox [seed.json]`: the STS and Vault test servers on loopback, seeded from a JSON file
 * (default sandbox/seed.json). Prints ONE JSON line (vaultAddr, rootToken, stsEndpoint, identities
 * with their credentials) and runs until interrupted. Point the extension, or anything else that
 * speaks Vault's API, at it.
 */
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { StsTestServer, makeIdentity, type StsIdentity, type StsRoleDefinition } from "../test/peers/sts/server.ts";
import { VaultTestServer } from "../test/peers/vault/server.ts";
import { seedVault, type VaultSeed } from "../test/peers/vault/seed.ts";

export interface SandboxSeed {
  identities: Array<{ arn: string; account?: string }>;
  roles?: StsRoleDefinition[];
  vault: VaultSeed;
}

export interface Sandbox {
  sts: StsTestServer;
  vault: VaultTestServer;
  identities: StsIdentity[];
  close(): Promise<void>;
}

export async function startSandbox(seed: SandboxSeed): Promise<Sandbox> {
  const identities = seed.identities.map((i) => makeIdentity({ arn: i.arn, account: i.account }));
  const sts = await StsTestServer.start({ identities, roles: seed.roles ?? [] });
  const vault = await VaultTestServer.start({ defaultStsEndpoint: sts.url });
  // The seed cannot know the STS port: every aws auth mount forwards to this sandbox's STS.
  const vaultSeed: VaultSeed = {
    ...seed.vault,
    authMounts: (seed.vault.authMounts ?? []).map((m) => ({ ...m, config: { ...withoutEmpty(m.config ?? {}), sts_endpoint: sts.url } })),
  };
  await seedVault(vault.url, vault.rootToken, vaultSeed);
  return { sts, vault, identities, close: async () => void (await Promise.allSettled([vault.close(), sts.close()])) };
}

function withoutEmpty(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== ""));
}

export function loadSeed(file: string): SandboxSeed {
  return JSON.parse(fs.readFileSync(file, "utf8")) as SandboxSeed;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
  const seedFile = path.resolve(process.argv[2] ?? path.join(root, "sandbox/seed.json"));
  const sandbox = await startSandbox(loadSeed(seedFile));
  process.stdout.write(
    JSON.stringify({
      vaultAddr: sandbox.vault.url,
      rootToken: sandbox.vault.rootToken,
      stsEndpoint: sandbox.sts.url,
      identities: sandbox.identities.map((i) => ({ arn: i.arn, accessKeyId: i.accessKeyId, secretAccessKey: i.secretAccessKey, sessionToken: i.sessionToken })),
    }) + "\n",
  );
  const stop = async () => {
    await sandbox.close();
    process.exit(0);
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
