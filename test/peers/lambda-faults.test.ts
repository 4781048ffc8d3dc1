/**
 * The Lambda emulator's faults (README beside it, "Faults"): an Extensions API call answered with an
 * error or garbage on purpose, and a signal sent to one process.
 */
import { describe, expect, it } from "vitest";
import type { LambdaEmulator } from "./lambda/emulator.ts";
import { fixtureEmulators } from "./lambda/fixtures/emulators.ts";
import type { FixtureBehavior } from "./lambda/fixtures/layer.ts";

const emulator = fixtureEmulators();

function setup(behavior: FixtureBehavior = {}): LambdaEmulator {
  return emulator({ "ext-a": behavior }, { initTimeoutMs: 5_000 });
}

/** The fixture extension's JSON lines of one kind. */
function seen(emu: LambdaEmulator, kind: string): Array<Record<string, unknown>> {
  return emu
    .logs("ext-a")
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.kind === kind);
}

describe("Extensions API faults", () => {
  it("register answering 500: the body as given, nothing registered, the extension's exit is a crash before registering", async () => {
    const emu = setup();
    emu.addFault({ route: "register", status: 500, body: "no" });
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error).toMatchObject({ type: "Extension.Crash", message: expect.stringContaining("exited before registering") });
    for (let i = 0; i < 300 && seen(emu, "register-failed").length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen(emu, "register-failed")).toMatchObject([{ status: 500, body: "no" }]);
    expect(init.extensions[0]!.events).toEqual([]);
    expect(emu.timeline.some((t) => t.what === "fault" && t.detail === "register answered 500")).toBe(true);
  });

  it("event/next answering garbage after `skip` calls, `times` times: the calls before it are served", async () => {
    const emu = setup();
    emu.addFault({ route: "event/next", skip: 1 });
    expect((await emu.start()).ok).toBe(true);
    const invoked = await emu.invoke({ n: 1 });
    // The fixture extension logs what its second `next` got (garbage, at once) and asks again; the
    // third is served as usual, so the invoke ends when it waits there.
    expect(invoked.ok).toBe(true);
    // Its output is read through a pipe: the lines may come a moment after its requests.
    for (let i = 0; i < 300 && seen(emu, "event").length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(seen(emu, "event").map((e) => e.event)).toEqual([expect.objectContaining({ eventType: "INVOKE" }), "<html>bad gateway</html>"]);
    expect(emu.timeline.filter((t) => t.what === "fault")).toHaveLength(1);
  });
});

describe("signals", () => {
  it("signal() thaws the environment and signals one process; its exit before SHUTDOWN is a crash", async () => {
    const emu = setup();
    expect((await emu.start()).ok).toBe(true);
    expect(emu.frozen).toBe(true);
    expect(emu.signal("ext-a", "SIGTERM")).toBe(true);
    expect(emu.frozen).toBe(false);
    for (let i = 0; i < 300 && emu.extensionInfo()[0]!.exitCode === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    expect(emu.timeline.some((t) => t.source === "ext-a" && t.what === "SIGTERM")).toBe(true);
    expect(emu.timeline.some((t) => t.source === "ext-a" && t.what === "exit" && t.detail === "code=null signal=SIGTERM")).toBe(true);
    expect(emu.signal("ext-a", "SIGTERM")).toBe(false);
    expect(emu.signal("nobody", "SIGTERM")).toBe(false);
  });
});
