/**
 * The emulator's injected Extensions API failures (failRegister / failNext), used by the fault
 * matrix: an error or garbage instead of Lambda's answer, the extension's exit turned into the
 * error Lambda reports, and the environment initialised again on the next invoke.
 */
import { afterEach, describe, expect, it } from "vitest";
import { LambdaEmulator } from "./lambda/emulator.ts";
import { ESM_FUNCTION_DIR, makeFixtureLayer, type FixtureLayer } from "./lambda/fixtures/layer.ts";

const CREDENTIALS = { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator-secret-key", sessionToken: "emulator-session-token" };
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

function setup(opts: ConstructorParameters<typeof LambdaEmulator>[0] extends infer O ? Partial<O> : never = {}): LambdaEmulator {
  const layer: FixtureLayer = makeFixtureLayer({ ext: {} });
  const emu = new LambdaEmulator({ layerDir: layer.layerDir, functionDir: ESM_FUNCTION_DIR, handler: "index.handler", credentials: CREDENTIALS, ...opts });
  cleanups.push(() => emu.kill(), () => layer.cleanup());
  return emu;
}

describe("injected Extensions API failures", () => {
  it("failRegister: the register answer is the injected error; the extension exits unregistered (Extension.Crash), and the next invoke's init works", async () => {
    const emu = setup({ failRegister: { status: 500 } });
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error?.type).toBe("Extension.Crash");
    expect(emu.logs("ext").some((l) => l.includes('"register-failed"') && l.includes("Emulator.InjectedFailure"))).toBe(true);
    expect(emu.timeline.some((t) => t.source === "ext" && t.what === "register-failed")).toBe(true);
    const again = await emu.invoke({});
    expect(again.init?.ok).toBe(true);
    expect(again.ok).toBe(true);
  });

  it("failNext, set after init: the extension's next call after the INVOKE gets the injected answer, once", async () => {
    const emu = setup();
    expect((await emu.start()).ok).toBe(true);
    // The extension waits in next since init: that call gets the INVOKE; its following call gets this.
    emu.failNext({ status: 502, body: "<html>bad gateway</html>" });
    const r = await emu.invoke({});
    expect(r.ok).toBe(false);
    expect(r.error?.errorType).toBe("Extension.Crash");
    expect(emu.logs("ext").some((l) => l.includes('"next-failed"') && l.includes("bad gateway"))).toBe(true);
    expect(emu.timeline.filter((t) => t.what === "next-failed")).toHaveLength(1);
  });
});
