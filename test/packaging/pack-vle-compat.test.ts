/**
 * The shipped layer with a configuration written for HashiCorp's vault-lambda-extension, under the
 * emulator against the Vault test server: it starts, says at init what it maps and what differs
 * (docs/migration-from-vle.md), and its file holds the unwrapped KV v2 data the notice describes.
 * (The mapping of the unnamed secret to /tmp/vault/secret.json is checked against the parser in
 * test/config/vle-compat.test.ts: a test must not write to a fixed path on a shared machine.)
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { World, freePort } from "../integration/harness.ts";
import { LAYER_DIR, requireBuilt } from "./helpers.ts";

let world: World;
let dir: string;

beforeAll(async () => {
  requireBuilt(path.join(LAYER_DIR, "extensions", "vault-lambda-agent"));
  world = await World.start();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-vle-"));
});

afterAll(async () => {
  world?.leakScan();
  await world?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it("a VLE configuration starts, with one notice or warning per difference, and the file holds unwrapped KV v2 data", async () => {
  const port = await freePort();
  const file = path.join(dir, "vault", "secret.json");
  const fn = await world.lambda({
    VLE_VAULT_ADDR: world.vault.url,
    VAULT_ADDR: `http://127.0.0.1:${port}`, // the function's own Vault client on the proxy, as with VLE
    VAULT_AGENT_PORT: String(port),
    VAULT_AUTH_PROVIDER: "aws",
    VAULT_SECRET_PATH: "secret/data/app/config",
    VAULT_SECRET_FILE: file,
    VAULT_CACHE_TTL: "5m",
  });
  const init = await fn.start();
  expect(init.ok, JSON.stringify(init.error)).toBe(true);

  const lines = fn.logs("vault-lambda-agent").map((l) => {
    try {
      return JSON.parse(l) as { level: string; message: string };
    } catch {
      return { level: "", message: l };
    }
  });
  const said = (level: string, start: string) => lines.filter((l) => l.level.toLowerCase() === level && l.message.startsWith(start));
  expect(said("warn", "VAULT_CACHE_TTL: read as VAULT_DEFAULT_CACHE_TTL")).toHaveLength(1);
  expect(said("warn", "VAULT_ADDR points the function's Vault client at this extension's proxy")).toHaveLength(1);
  expect(said("info", "secret files hold")).toHaveLength(1);

  const content = JSON.parse(fs.readFileSync(file, "utf8")) as { name: string; data: Record<string, string> };
  expect(content.name).toBe("default");
  expect(content.data).toEqual({ api_key: "kv-api-key-7f3a9c", region: "eu-west-1" });
  expect(fs.statSync(file).mode & 0o777).toBe(0o600);
  await fn.shutdown();
});
