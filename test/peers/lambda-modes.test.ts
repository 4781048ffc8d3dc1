/**
 * The Lambda emulator's execution modes: what each gives the extensions (AWS_LAMBDA_INITIALIZATION_TYPE,
 * SnapStart's container-credentials endpoint instead of keys) and what it refuses (INVOKE on Managed
 * Instances).
 */
import { afterEach, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import path from "node:path";
import { LambdaEmulator, type EmulatorOptions } from "./lambda/emulator.ts";
import { ESM_FUNCTION_DIR, makeFixtureLayer, type FixtureBehavior, type FixtureLayer } from "./lambda/fixtures/layer.ts";

const CREDENTIALS = { accessKeyId: "ASIAEMULATORFIRST", secretAccessKey: "emulator-secret-key-first", sessionToken: "emulator-session-token-first" };

let emulators: LambdaEmulator[] = [];
let layers: FixtureLayer[] = [];

afterEach(async () => {
  await Promise.all(emulators.map((e) => e.kill()));
  for (const l of layers) l.cleanup();
  emulators = [];
  layers = [];
});

function setup(extensions: (root: string) => Record<string, FixtureBehavior>, opts: Partial<EmulatorOptions>): { emu: LambdaEmulator; root: string } {
  const layer = makeFixtureLayer(extensions);
  layers.push(layer);
  const emu = new LambdaEmulator({ layerDir: layer.layerDir, functionDir: ESM_FUNCTION_DIR, handler: "index.handler", credentials: CREDENTIALS, ...opts });
  emulators.push(emu);
  return { emu, root: layer.root };
}

function envDump(root: string): Record<string, string> {
  return JSON.parse(readFileSync(path.join(root, "env.json"), "utf8")) as Record<string, string>;
}

describe("lambda-managed-instances", () => {
  it("refuses an extension that registers INVOKE, with 403 Extension.InvalidEventType", async () => {
    const { emu } = setup(() => ({ "ext-a": { events: ["INVOKE", "SHUTDOWN"] } }), { mode: "lambda-managed-instances", initTimeoutMs: 5_000 });
    const rejected: string[] = [];
    emu.on("register-rejected", (_name: string, type: string) => rejected.push(type));
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(rejected).toEqual(["Extension.InvalidEventType"]);
    expect(emu.timeline.some((t) => t.what === "register-rejected" && /SHUTDOWN only/.test(t.detail ?? ""))).toBe(true);
  });

  it("accepts SHUTDOWN only, says the mode, never freezes, and runs invocations", async () => {
    const { emu, root } = setup((r) => ({ "ext-a": { events: ["SHUTDOWN"], envDumpFile: path.join(r, "env.json") } }), { mode: "lambda-managed-instances" });
    const init = await emu.start();
    expect(init.ok).toBe(true);
    expect(init.extensions[0]).toMatchObject({ name: "ext-a", events: ["SHUTDOWN"] });
    expect(envDump(root).AWS_LAMBDA_INITIALIZATION_TYPE).toBe("lambda-managed-instances");
    expect(emu.frozen).toBe(false);
    expect((await emu.invoke({ n: 1 })).ok).toBe(true);
    expect(emu.frozen).toBe(false);
    expect(emu.timeline.some((t) => t.what === "freeze")).toBe(false);
  });
});

describe("lambda-managed-instances: concurrent invocations", () => {
  it("runs as many invocations at once as the runtime has workers (AWS_LAMBDA_MAX_CONCURRENCY, runtime only), each answered to its caller", async () => {
    const { emu, root } = setup((r) => ({ "ext-a": { events: ["SHUTDOWN"], envDumpFile: path.join(r, "env.json") } }), { mode: "lambda-managed-instances", maxConcurrency: 4, timeoutMs: 30_000 });
    expect((await emu.start()).ok).toBe(true);
    expect(envDump(root)).not.toHaveProperty("AWS_LAMBDA_MAX_CONCURRENCY");
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => emu.invoke({ echo: i, sleepMs: 1_500, envKeys: ["AWS_LAMBDA_MAX_CONCURRENCY"] })));
    expect(results.map((r) => r.ok)).toEqual(Array(6).fill(true));
    expect(results.map((r) => (r.response as { echo: number }).echo)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(new Set(results.map((r) => r.requestId)).size).toBe(6);
    const peaks = results.map((r) => (r.response as { peak: number }).peak);
    // Several ran at once, never more than the workers.
    expect(Math.max(...peaks)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...peaks)).toBeLessThanOrEqual(4);
    expect((results[0]!.response as { env: Record<string, string> }).env.AWS_LAMBDA_MAX_CONCURRENCY).toBe("4");
    expect(emu.timeline.some((t) => t.what === "freeze")).toBe(false);
    expect((await emu.shutdown()).killed).toEqual([]);
  });
});

describe("snap-start", () => {
  it("gives no keys, but a container-credentials endpoint that answers the current key pair to the raw token only", async () => {
    const { emu, root } = setup((r) => ({ "ext-a": { envDumpFile: path.join(r, "env.json") } }), { mode: "snap-start" });
    expect((await emu.start()).ok).toBe(true);
    const env = envDump(root);
    expect(env.AWS_LAMBDA_INITIALIZATION_TYPE).toBe("snap-start");
    for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) expect(env, name).not.toHaveProperty(name);
    expect(env.AWS_CONTAINER_CREDENTIALS_FULL_URI).toBe(`http://${emu.runtimeApi}/2021-04-23/credentials`);
    expect(env.AWS_CONTAINER_AUTHORIZATION_TOKEN).toMatch(/^[0-9a-f-]{36}$/);

    const ask = (token: string) => fetch(env.AWS_CONTAINER_CREDENTIALS_FULL_URI!, { headers: { authorization: token } });
    const first = await ask(env.AWS_CONTAINER_AUTHORIZATION_TOKEN!);
    expect(first.status).toBe(200);
    const body = (await first.json()) as Record<string, string>;
    expect(body).toMatchObject({ AccessKeyId: CREDENTIALS.accessKeyId, SecretAccessKey: CREDENTIALS.secretAccessKey, Token: CREDENTIALS.sessionToken });
    expect(new Date(body.Expiration!).getTime()).toBeGreaterThan(Date.now());

    const wrong = await ask(`Bearer ${env.AWS_CONTAINER_AUTHORIZATION_TOKEN}`);
    expect(wrong.status).toBe(404);
    expect(await wrong.text()).toContain("cannot get credentials for the provided token");

    // A restore hands out new credentials.
    emu.setCredentials({ accessKeyId: "ASIAEMULATORSECOND", secretAccessKey: "emulator-secret-key-second", expiresAt: Date.UTC(2030, 0, 1) });
    const second = (await (await ask(env.AWS_CONTAINER_AUTHORIZATION_TOKEN!)).json()) as Record<string, string>;
    expect(second).toMatchObject({ AccessKeyId: "ASIAEMULATORSECOND", Token: "", Expiration: "2030-01-01T00:00:00.000Z" });
  });

  it("on demand there is no such endpoint, and the keys are in the environment", async () => {
    const { emu, root } = setup((r) => ({ "ext-a": { envDumpFile: path.join(r, "env.json") } }), {});
    expect((await emu.start()).ok).toBe(true);
    const env = envDump(root);
    expect(env.AWS_LAMBDA_INITIALIZATION_TYPE).toBe("on-demand");
    expect(env.AWS_ACCESS_KEY_ID).toBe(CREDENTIALS.accessKeyId);
    expect(env).not.toHaveProperty("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    expect((await fetch(`http://${emu.runtimeApi}/2021-04-23/credentials`)).status).toBe(404);
  });
});
