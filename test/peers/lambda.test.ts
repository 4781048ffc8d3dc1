/**
 * The Lambda emulator against Lambda's rules: init order and limits, the Extensions and Runtime
 * APIs, the environment each process gets, a real SIGSTOP freeze, invoke accounting, shutdown
 * deadlines, function timeouts and resets.
 */
import { afterEach, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import { LambdaEmulator, type EmulatorOptions, type TimelineEntry } from "./lambda/emulator.ts";
import {
  CJS_FUNCTION_DIR,
  ESM_FUNCTION_DIR,
  INIT_ERROR_FUNCTION_DIR,
  PYTHON_FUNCTION_DIR,
  makeFixtureLayer,
  type FixtureBehavior,
  type FixtureLayer,
} from "./lambda/fixtures/layer.ts";

const CREDENTIALS = { accessKeyId: "AKIDEMULATOR", secretAccessKey: "emulator-secret-key", sessionToken: "emulator-session-token" };

let emulators: LambdaEmulator[] = [];
let layers: FixtureLayer[] = [];

afterEach(async () => {
  await Promise.all(emulators.map((e) => e.kill()));
  for (const l of layers) l.cleanup();
  emulators = [];
  layers = [];
});

/** A fixture layer and an emulator on it; both functions get the layer's temp root for state files. */
function setup(
  extensions: Record<string, FixtureBehavior> | ((root: string) => Record<string, FixtureBehavior>),
  opts: Partial<EmulatorOptions> | ((root: string) => Partial<EmulatorOptions>) = {},
): { emu: LambdaEmulator; layer: FixtureLayer } {
  const layer = makeFixtureLayer(extensions);
  layers.push(layer);
  const emu = new LambdaEmulator({
    layerDir: layer.layerDir,
    functionDir: ESM_FUNCTION_DIR,
    handler: "index.handler",
    credentials: CREDENTIALS,
    ...(typeof opts === "function" ? opts(layer.root) : opts),
  });
  emulators.push(emu);
  return { emu, layer };
}

interface FixtureLine {
  ext: string;
  kind: string;
  [key: string]: unknown;
}

/** The JSON lines a fixture extension printed, optionally of one kind. */
function reports(emu: LambdaEmulator, ext: string, kind?: string): FixtureLine[] {
  return emu
    .logs(ext)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as FixtureLine];
      } catch {
        return [];
      }
    })
    .filter((l) => kind === undefined || l.kind === kind);
}

function eventsOf(emu: LambdaEmulator, ext: string): Array<Record<string, unknown>> {
  return reports(emu, ext, "event").map((l) => l.event as Record<string, unknown>);
}

function indexOf(timeline: TimelineEntry[], source: string, what: string): number {
  const i = timeline.findIndex((t) => t.source === source && t.what === what);
  expect(i, `${source} ${what} in the timeline`).toBeGreaterThanOrEqual(0);
  return i;
}

function psState(pid: number): string {
  return execFileSync("ps", ["-o", "stat=", "-p", String(pid)]).toString().trim();
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ticks(file: string): number {
  return existsSync(file) ? readFileSync(file, "utf8").split("\n").filter(Boolean).length : 0;
}

function httpGet(port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/", agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body += c));
      res.on("end", () => resolve(body));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

describe("LambdaEmulator: lifecycle", () => {
  it("runs init, two invokes and a shutdown in Lambda's order", async () => {
    const { emu: emu2, layer } = setup({ "ext-a": { acceptAccountId: true } }, (root) => ({ functionName: "life-fn", logDir: path.join(root, "logs") }));
    const logDir = path.join(layer.root, "logs");

    const registered: string[] = [];
    emu2.on("register", (name: string) => registered.push(name));
    const init = await emu2.start();
    expect(init.ok).toBe(true);
    expect(init.error).toBeUndefined();
    expect(registered).toEqual(["ext-a"]);
    expect(init.extensions).toHaveLength(1);
    const info = init.extensions[0]!;
    expect(info).toMatchObject({ name: "ext-a", events: ["INVOKE", "SHUTDOWN"] });
    expect(info.registeredAt).toBeLessThanOrEqual(init.runtimeInitStartedAt!);
    expect(init.initDoneAt! - init.startedAt).toBeCloseTo(init.durationMs, 5);

    // register → runtime init → both in next → init done
    const tl = emu2.timeline;
    const reg = indexOf(tl, "ext-a", "register");
    const rtStart = indexOf(tl, "runtime", "runtime-init-start");
    const rtNext = indexOf(tl, "runtime", "runtime-next");
    const extNext = indexOf(tl, "ext-a", "next");
    const done = indexOf(tl, "lambda", "init-done");
    expect(reg).toBeLessThan(rtStart);
    expect(rtStart).toBeLessThan(rtNext);
    expect(Math.max(rtNext, extNext)).toBeLessThan(done);

    // the register answer
    const regReport = reports(emu2, "ext-a", "registered")[0]!;
    expect(regReport.body).toEqual({ functionName: "life-fn", functionVersion: "$LATEST", handler: "index.handler", accountId: "123456789012" });
    expect(regReport.id).toMatch(/^[0-9a-f-]{36}$/);

    const r1 = await emu2.invoke({ echo: "one" });
    const r2 = await emu2.invoke({ echo: "two" });
    for (const [r, echo] of [[r1, "one"], [r2, "two"]] as const) {
      expect(r.ok).toBe(true);
      expect(r.timedOut).toBe(false);
      expect(r.response).toMatchObject({ ok: true, kind: "esm", echo });
      expect(r.runtimeDoneAt!).toBeGreaterThanOrEqual(r.startedAt);
      expect(r.doneAt).toBeGreaterThanOrEqual(r.runtimeDoneAt!);
      expect(r.durationMs).toBeCloseTo(r.runtimeDoneAt! - r.startedAt, 5);
    }
    const resp = r1.response as { context: Record<string, unknown>; traceId: string };
    expect(resp.context).toMatchObject({
      awsRequestId: r1.requestId,
      functionName: "life-fn",
      functionVersion: "$LATEST",
      invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:life-fn",
      memoryLimitInMB: "128",
      logGroupName: "/aws/lambda/life-fn",
    });
    // the handler sees the deadline of its own invoke: some time left, never more than the timeout
    expect(resp.context.remainingMs).toBeGreaterThan(0);
    expect(resp.context.remainingMs).toBeLessThanOrEqual(3000);

    // both INVOKE events reached the extension, with the same request id and trace as the runtime
    const invokes = eventsOf(emu2, "ext-a").filter((e) => e.eventType === "INVOKE");
    expect(invokes.map((e) => e.requestId)).toEqual([r1.requestId, r2.requestId]);
    expect(invokes[0]).toMatchObject({
      invokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:life-fn",
      tracing: { type: "X-Amzn-Trace-Id", value: resp.traceId },
    });
    expect(invokes[0]!.deadlineMs as number).toBeGreaterThan(Date.now() - 60_000);

    // the handler's console output, in the Node runtime's format
    expect(emu2.logs("runtime")).toContainEqual(expect.stringMatching(new RegExp(`^\\S+Z\\t${r1.requestId}\\tINFO\\thandling ${r1.requestId}$`)));
    expect(emu2.logs("runtime")).toContainEqual(expect.stringMatching(/\tundefined\tINFO\tfunction init$/));

    const sd = await emu2.shutdown();
    expect(sd.reason).toBe("spindown");
    expect(sd.exitCodes["ext-a"]).toBe(0);
    expect(sd.killed).toEqual([]);
    expect(sd.killedUnsubscribed).toEqual([]);
    expect(sd.exitSignals.runtime).toBe("SIGTERM");
    const shutdownEvent = eventsOf(emu2, "ext-a").at(-1)!;
    expect(shutdownEvent).toEqual({ eventType: "SHUTDOWN", shutdownReason: "spindown", deadlineMs: sd.deadlineMs });
    expect(reports(emu2, "ext-a", "shutdown-done")).toHaveLength(1);
    expect(indexOf(emu2.timeline, "runtime", "SIGTERM")).toBeLessThan(emu2.timeline.findIndex((t) => t.source === "ext-a" && t.what === "event" && t.detail === "SHUTDOWN"));

    // every captured line also went to logDir
    const runtimeLog = readFileSync(path.join(logDir, "runtime.log"), "utf8");
    expect(runtimeLog).toContain(`handling ${r2.requestId}`);
    expect(readFileSync(path.join(logDir, "ext-a.log"), "utf8")).toContain('"kind":"shutdown-done"');
    expect(emu2.pids()).toEqual([]);
  });

  it("starts runtime init only after every extension registered", async () => {
    const { emu } = setup({ "a-fast": {}, "b-slow": { registerDelayMs: 200 } });
    const init = await emu.start();
    expect(init.ok).toBe(true);
    const slow = init.extensions.find((e) => e.name === "b-slow")!;
    const fast = init.extensions.find((e) => e.name === "a-fast")!;
    expect(slow.registeredAt! - init.startedAt).toBeGreaterThanOrEqual(200);
    expect(init.runtimeInitStartedAt!).toBeGreaterThanOrEqual(slow.registeredAt!);
    expect(init.runtimeInitStartedAt!).toBeGreaterThanOrEqual(fast.registeredAt!);
    // alphabetical spawn order
    const spawns = emu.timeline.filter((t) => t.what === "spawn").map((t) => t.source);
    expect(spawns).toEqual(["a-fast", "b-slow", "runtime"]);
    // the function's module (its init code) was loaded after the last register
    const r = await emu.invoke();
    expect((r.response as { loadedAt: number }).loadedAt).toBeGreaterThan(slow.registeredAt!);
  });

  it("runs a CommonJS (callback) handler, and can run unfrozen", async () => {
    const { emu } = setup({ ext: {} }, { functionDir: CJS_FUNCTION_DIR, freezeBetweenInvokes: false });
    expect((await emu.start()).ok).toBe(true);
    expect(emu.frozen).toBe(false);
    const r = await emu.invoke({ echo: 42 });
    expect(r.ok).toBe(true);
    expect(r.response).toEqual({ ok: true, kind: "cjs", echo: 42, requestId: r.requestId });
    expect(emu.frozen).toBe(false);
    for (const pid of emu.pids()) expect(psState(pid)).not.toMatch(/^T/);
  });

  it("reports a function error without resetting the environment", async () => {
    const { emu } = setup({ ext: {} });
    await emu.start();
    const pids = emu.pids();
    const r = await emu.invoke({ throw: "bad input" });
    expect(r.ok).toBe(false);
    expect(r.error).toEqual({ errorType: "FixtureError", errorMessage: "bad input" });
    expect(r.reset).toBeUndefined();
    expect(emu.pids()).toEqual(pids);
    expect((await emu.invoke({ echo: 1 })).ok).toBe(true);
  });
});

describe("LambdaEmulator: environment", () => {
  it("gives extensions the Lambda environment without the runtime-only variables", async () => {
    const { emu, layer } = setup(
      (root) => ({ ext: { envDumpFile: path.join(root, "ext.env.json") } }),
      { env: { MY_SETTING: "on" }, region: "eu-west-3", functionName: "env-fn", memoryMb: 512 },
    );
    const dump = path.join(layer.root, "ext.env.json");
    expect((await emu.start()).ok).toBe(true);

    const extEnv = JSON.parse(readFileSync(dump, "utf8")) as Record<string, string>;
    expect(extEnv).toMatchObject({
      AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId,
      AWS_ACCESS_KEY: CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey,
      AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
      AWS_REGION: "eu-west-3",
      AWS_DEFAULT_REGION: "eu-west-3",
      AWS_LAMBDA_FUNCTION_NAME: "env-fn",
      AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: "512",
      AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
      AWS_LAMBDA_RUNTIME_API: emu.runtimeApi,
      TZ: ":UTC",
      LANG: "en_US.UTF-8",
      MY_SETTING: "on",
    });
    expect(extEnv.PATH!.split(":")[0]).toBe(path.dirname(process.execPath));
    for (const hidden of ["_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_XRAY_DAEMON_ADDRESS", "_AWS_XRAY_DAEMON_ADDRESS"]) {
      expect(extEnv, hidden).not.toHaveProperty(hidden);
    }
    // nothing leaks from the host's environment
    expect(extEnv).not.toHaveProperty("VITEST");
    expect(extEnv).not.toHaveProperty("HOME");

    const r = await emu.invoke({ envKeys: ["_HANDLER", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_EXECUTION_ENV", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_SESSION_TOKEN", "AWS_REGION", "MY_SETTING", "TZ"] });
    const runtimeEnv = (r.response as { env: Record<string, string | null> }).env;
    expect(runtimeEnv).toMatchObject({
      _HANDLER: "index.handler",
      LAMBDA_TASK_ROOT: ESM_FUNCTION_DIR,
      AWS_EXECUTION_ENV: `AWS_Lambda_nodejs${process.versions.node.split(".")[0]}.x`,
      AWS_LAMBDA_LOG_GROUP_NAME: "/aws/lambda/env-fn",
      AWS_SESSION_TOKEN: CREDENTIALS.sessionToken,
      AWS_REGION: "eu-west-3",
      MY_SETTING: "on",
      TZ: ":UTC",
    });
    expect(runtimeEnv.LAMBDA_RUNTIME_DIR).toBeTruthy();
  });

  it("rejects reserved names in the function's environment, as Lambda's API does", () => {
    const layer = makeFixtureLayer({});
    layers.push(layer);
    expect(
      () => new LambdaEmulator({ layerDir: layer.layerDir, functionDir: ESM_FUNCTION_DIR, handler: "index.handler", credentials: CREDENTIALS, env: { AWS_REGION: "x" } }),
    ).toThrow(/reserved keys.*AWS_REGION/);
  });
});

describe("LambdaEmulator: Extensions API rules", () => {
  it("answers invalid calls with 403 and Lambda's error types", async () => {
    const { emu } = setup({ prober: { probes: true } });
    expect((await emu.start()).ok).toBe(true);
    const probes: Record<string, { status: unknown; body: unknown }> = Object.fromEntries(
      reports(emu, "prober", "probe").map((p) => [String(p.probe), { status: p.status, body: p.body }]),
    );
    expect(Object.keys(probes)).toHaveLength(5);
    expect(probes["register-again"]).toMatchObject({ status: 403, body: { errorType: "Extension.AlreadyRegistered" } });
    expect(probes["bad-event"]).toMatchObject({ status: 403, body: { errorType: "Extension.InvalidEventType" } });
    expect(probes["next-unknown-id"]).toMatchObject({ status: 403, body: { errorType: "Extension.UnknownExtensionIdentifier" } });
    expect(probes["next-no-id"]).toMatchObject({ status: 403, body: { errorType: "Extension.MissingExtensionIdentifier" } });
    expect(probes["init-error-no-type"]).toMatchObject({ status: 403, body: { errorType: "Extension.MissingHeader" } });
    for (const p of Object.values(probes)) expect(typeof (p.body as { errorMessage: unknown }).errorMessage).toBe("string");
  });

  it("rejects a register whose name is not the executable's file name", async () => {
    const { emu } = setup({ "vault-lambda-agent": { registerName: "vault-agent" } });
    const init = await emu.start();
    const failed = reports(emu, "vault-lambda-agent", "register-failed")[0]!;
    expect(failed.status).toBe(403);
    expect(failed.body).toMatchObject({ errorType: "Extension.InvalidExtensionName" });
    expect((failed.body as { errorMessage: string }).errorMessage).toContain("vault-agent");
    expect(init.ok).toBe(false);
    expect(init.error).toMatchObject({ source: "vault-lambda-agent", type: "Extension.Crash" });
    expect(init.runtimeInitStartedAt).toBeUndefined();
  });

  it("fails init with the type and message an extension reports through init/error", async () => {
    const initErrors: unknown[] = [];
    const { emu } = setup({ agent: { initError: { type: "Extension.ConfigInvalid", message: "VAULT_ADDR is not set" } } });
    emu.on("init-error", (...args: unknown[]) => initErrors.push(args));
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error).toEqual({ source: "agent", type: "Extension.ConfigInvalid", message: "VAULT_ADDR is not set" });
    expect(initErrors).toEqual([["agent", "Extension.ConfigInvalid", "VAULT_ADDR is not set"]]);
    expect(init.extensions[0]!.initError).toEqual({ type: "Extension.ConfigInvalid", message: "VAULT_ADDR is not set" });
    expect(reports(emu, "agent", "init-error-sent")[0]).toMatchObject({ status: 202 });
    // after init/error, further calls are refused
    expect(reports(emu, "agent", "next-after-init-error")[0]).toMatchObject({ status: 403, body: { errorType: "Extension.InvalidExtensionState" } });
    expect(init.reset?.reason).toBe("failure");
    expect(init.reset?.exitCodes.agent).toBe(1);
    expect(emu.pids()).toEqual([]);
  });

  it("enforces the init time limit on an extension that never registers", async () => {
    const { emu } = setup({ "ok-ext": {}, silent: { neverRegister: true } }, { initTimeoutMs: 400 });
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error).toMatchObject({ source: "silent", type: "Sandbox.Timedout" });
    expect(init.durationMs).toBeGreaterThanOrEqual(395);
    expect(init.runtimeInitStartedAt).toBeUndefined();
    expect(init.reset?.killedUnsubscribed).toContain("silent");
    expect(emu.pids()).toEqual([]);
  });

  it("allows at most 10 extensions", async () => {
    const eleven = Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`ext-${String(i).padStart(2, "0")}`, {}]));
    const { emu } = setup(eleven);
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error).toMatchObject({ source: "lambda", type: "Extension.TooManyExtensions" });
    expect(emu.timeline.filter((t) => t.what === "spawn")).toEqual([]);
  });

  it("fails init when an extension exits before registering", async () => {
    const { emu } = setup({ quitter: { exitBeforeRegister: 2 } });
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error).toMatchObject({ source: "quitter", type: "Extension.Crash" });
    expect(init.error!.message).toMatch(/before registering.*exit status 2/);
  });

  it("reports a runtime init error, and retries init on the next invoke", async () => {
    const { emu } = setup({ ext: {} }, { functionDir: INIT_ERROR_FUNCTION_DIR });
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error).toEqual({ source: "runtime", type: "TypeError", message: "cannot read the configuration" });
    // the extension was told to shut down (reason failure) and exited cleanly
    expect(eventsOf(emu, "ext").at(-1)).toMatchObject({ eventType: "SHUTDOWN", shutdownReason: "failure" });
    const r = await emu.invoke();
    expect(r.ok).toBe(false);
    expect(r.init?.ok).toBe(false);
    expect(r.error?.errorType).toBe("TypeError");
  });
});

describe("LambdaEmulator: freeze", () => {
  it("really stops every process between invokes", async () => {
    const { emu, layer } = setup((root) => ({
      ticker: { tickFile: path.join(root, "ticks"), tickMs: 10, httpPortFile: path.join(root, "port"), invokeWorkMs: 80 },
    }));
    const tickFile = path.join(layer.root, "ticks");
    const portFile = path.join(layer.root, "port");

    const frozenEvents: number[] = [];
    emu.on("frozen", () => frozenEvents.push(Date.now()));
    expect((await emu.start()).ok).toBe(true);
    expect(emu.frozen).toBe(true);
    expect(frozenEvents).toHaveLength(1);
    const pids = emu.pids();
    expect(pids).toHaveLength(2);
    for (const pid of pids) expect(psState(pid)).toMatch(/^T/);

    const before = ticks(tickFile);
    await emu.idle(300);
    expect(ticks(tickFile)).toBe(before);

    // a server inside the frozen process does not answer...
    const port = Number(readFileSync(portFile, "utf8"));
    const answer = httpGet(port, 10_000);
    const early = await Promise.race([answer, new Promise((r) => setTimeout(() => r("pending"), 200))]);
    expect(early).toBe("pending");

    // ...until the next event thaws it; ticks resume too
    const thawed: number[] = [];
    emu.on("thawed", () => thawed.push(Date.now()));
    const r = await emu.invoke();
    expect(r.ok).toBe(true);
    expect(thawed).toHaveLength(1);
    expect(await answer).toBe("pong");
    expect(ticks(tickFile)).toBeGreaterThan(before);

    // frozen again after the invoke
    expect(emu.frozen).toBe(true);
    for (const pid of pids) expect(psState(pid)).toMatch(/^T/);
    const after = ticks(tickFile);
    await emu.idle(100);
    expect(ticks(tickFile)).toBe(after);
    const kinds = emu.timeline.map((t) => t.what);
    expect(kinds.filter((k) => k === "freeze")).toHaveLength(2);
  });

  it("kill() leaves no process behind, stopped or not", async () => {
    const { emu } = setup({ ext: {} });
    await emu.start();
    const pids = emu.pids();
    expect(pids.length).toBe(2);
    await emu.kill();
    await emu.kill(); // idempotent
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
    expect(() => emu.runtimeApi).not.toThrow();
    await expect(fetch(`http://${emu.runtimeApi}/2018-06-01/runtime/invocation/next`)).rejects.toThrow();
  });
});

describe("LambdaEmulator: invoke accounting and limits", () => {
  it("measures the time extensions spend after the runtime answered", async () => {
    const { emu } = setup({ worker: { invokeWorkMs: 100 } });
    await emu.start();
    const r = await emu.invoke();
    expect(r.ok).toBe(true);
    // the extension got the event with the runtime and worked 100 ms before calling next
    expect(r.doneAt - r.startedAt).toBeGreaterThanOrEqual(100);
    expect(r.extensionOverheadMs).toBeGreaterThanOrEqual(100 - r.durationMs - 5);
    expect(r.extensionOverheadMs).toBeGreaterThan(50);
    // the overhead lies between the runtime's response and the end of the invoke
    expect(r.extensionOverheadMs).toBeLessThanOrEqual(r.doneAt - r.runtimeDoneAt!);
  });

  it("refuses a response over Lambda's 6 MB limit", async () => {
    const { emu } = setup({});
    await emu.start();
    for (const bytes of [6_500_000, 8_000_000]) {
      const r = await emu.invoke({ responseBytes: bytes });
      expect(r.ok).toBe(false);
      expect(r.error?.errorType).toBe("Function.ResponseSizeTooLarge");
    }
    const small = await emu.invoke({ responseBytes: 10 });
    expect(small.response).toBe("xxxxxxxxxx");
    // without extensions Lambda spends no time on a graceful shutdown: the runtime is SIGKILLed
    const sd = await emu.shutdown();
    expect(sd).toMatchObject({ killed: ["runtime"], deadlineMs: 0, exitSignals: { runtime: "SIGKILL" } });
  });

  it("times the function out, resets the environment, and re-initialises on the next invoke", async () => {
    const { emu } = setup({ ext: {} }, { timeoutMs: 300 });
    await emu.start();
    const firstPids = emu.pids();
    const r = await emu.invoke({ sleepMs: 2000 });
    expect(r.timedOut).toBe(true);
    expect(r.ok).toBe(false);
    expect(r.error?.errorType).toBe("Sandbox.Timedout");
    expect(r.error?.errorMessage).toContain("Task timed out after 0.30 seconds");
    expect(r.doneAt - r.startedAt).toBeGreaterThanOrEqual(295);
    expect(r.reset?.reason).toBe("timeout");
    expect(eventsOf(emu, "ext").at(-1)).toMatchObject({ eventType: "SHUTDOWN", shutdownReason: "timeout" });
    for (const pid of firstPids) expect(isAlive(pid)).toBe(false);

    const again = await emu.invoke({ echo: "after reset" });
    expect(again.init?.ok).toBe(true);
    expect(again.ok).toBe(true);
    expect(again.response).toMatchObject({ echo: "after reset" });
    expect(emu.pids().some((p) => firstPids.includes(p))).toBe(false);
  });

  it("fails the invoke with the error an extension reports through exit/error", async () => {
    const exitErrors: unknown[] = [];
    const { emu } = setup({ reporter: { exitErrorOnInvoke: { type: "Extension.VaultUnreachable", message: "connection refused" } } });
    emu.on("exit-error", (...args: unknown[]) => exitErrors.push(args));
    await emu.start();
    const r = await emu.invoke();
    expect(r.ok).toBe(false);
    expect(r.error).toEqual({ errorType: "Extension.VaultUnreachable", errorMessage: "connection refused" });
    expect(exitErrors).toEqual([["reporter", "Extension.VaultUnreachable", "connection refused"]]);
    expect(reports(emu, "reporter", "exit-error-sent")[0]).toMatchObject({ status: 202 });
    expect(r.reset?.reason).toBe("failure");
  });

  it("fails the invoke and resets when an extension crashes during it", async () => {
    const { emu } = setup({ crasher: { crashOnInvoke: true } });
    await emu.start();
    const r = await emu.invoke();
    expect(r.ok).toBe(false);
    expect(r.timedOut).toBe(false);
    expect(r.error?.errorType).toBe("Extension.Crash");
    expect(r.reset?.reason).toBe("failure");
    expect(emu.pids()).toEqual([]);
  });
});

describe("LambdaEmulator: shutdown", () => {
  it("SIGKILLs at the deadline what ignores SHUTDOWN, and at once what did not subscribe", async () => {
    const { emu } = setup(
      { "a-good": {}, "b-stubborn": { ignoreShutdown: true }, "c-invoke-only": { events: ["INVOKE"] } },
      { shutdownBudgetMs: 500 },
    );
    expect((await emu.start()).ok).toBe(true);
    await emu.invoke();
    const sd = await emu.shutdown();
    expect(sd.killed).toEqual(["b-stubborn"]);
    expect(sd.killedUnsubscribed).toEqual(["c-invoke-only"]);
    expect(sd.exitCodes["a-good"]).toBe(0);
    expect(sd.exitSignals["b-stubborn"]).toBe("SIGKILL");
    expect(sd.exitSignals["c-invoke-only"]).toBe("SIGKILL");
    expect(sd.durationMs).toBeGreaterThanOrEqual(490);
    expect(sd.runtimeMs + sd.extensionsMs).toBeLessThanOrEqual(sd.durationMs + 1);
    // the runtime went first, ended by its SIGTERM; then SHUTDOWN; the stubborn one was
    // SIGKILLed only at the deadline, after the good one exited by itself
    expect(sd.exitSignals.runtime).toBe("SIGTERM");
    const tl = emu.timeline;
    const at = (source: string, what: string, detail?: string): number =>
      tl.findIndex((t) => t.source === source && t.what === what && (detail === undefined || t.detail === detail));
    expect(at("runtime", "exit")).toBeGreaterThanOrEqual(0);
    expect(at("runtime", "exit")).toBeLessThan(at("a-good", "event", "SHUTDOWN"));
    expect(at("a-good", "exit")).toBeLessThan(at("b-stubborn", "SIGKILL"));
    expect(reports(emu, "b-stubborn", "ignoring-shutdown")).toHaveLength(1);
    expect(eventsOf(emu, "c-invoke-only").some((e) => e.eventType === "SHUTDOWN")).toBe(false);
    await expect(emu.invoke()).rejects.toThrow(/shutdown/);
  });
});

describe("LambdaEmulator: the python runtime", () => {
  it("runs a Python handler: init, invokes, a handler error, Lambda's python environment with no node on PATH", async () => {
    const { emu } = setup({}, { runtime: "python", functionDir: PYTHON_FUNCTION_DIR, handler: "app.handler", functionName: "py-fn" });
    const init = await emu.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    expect(emu.frozen).toBe(true);
    const r = await emu.invoke({ echo: "one", envKeys: ["AWS_EXECUTION_ENV", "_HANDLER", "LAMBDA_TASK_ROOT", "AWS_LAMBDA_FUNCTION_NAME"], which: ["node", "python3"] });
    expect(r.ok).toBe(true);
    const resp = r.response as { kind: string; echo: string; requestId: string; remainingMs: number; env: Record<string, string>; which: Record<string, string | null> };
    expect(resp).toMatchObject({ kind: "python", echo: "one", requestId: r.requestId });
    expect(resp.remainingMs).toBeGreaterThan(0);
    expect(resp.remainingMs).toBeLessThanOrEqual(3000);
    expect(resp.env).toMatchObject({ _HANDLER: "app.handler", LAMBDA_TASK_ROOT: PYTHON_FUNCTION_DIR, AWS_LAMBDA_FUNCTION_NAME: "py-fn" });
    expect(resp.env.AWS_EXECUTION_ENV).toMatch(/^AWS_Lambda_python3\.\d+$/);
    expect(resp.which.node).toBeNull();
    expect(resp.which.python3).toBeTruthy();
    // log records in Lambda's python format, with the request id
    expect(emu.logs("runtime")).toContainEqual(expect.stringMatching(new RegExp(`^\\[INFO\\]\\t\\S+Z\\t${r.requestId}\\thandling ${r.requestId}$`)));

    const failed = await emu.invoke({ throw: "bad input" });
    expect(failed.ok).toBe(false);
    expect(failed.error).toMatchObject({ errorType: "ValueError", errorMessage: "bad input" });
    expect(failed.reset).toBeUndefined();
    const unserializable = await emu.invoke({ unserializable: true });
    expect(unserializable.error?.errorType).toBe("Runtime.MarshalError");
    expect((await emu.invoke({ echo: "two" })).response).toMatchObject({ echo: "two" });
    const sd = await emu.shutdown();
    expect(sd.killed).toEqual(["runtime"]);
  });

  it("reports a handler that is not there as Runtime.HandlerNotFound", async () => {
    const { emu } = setup({}, { runtime: "python", functionDir: PYTHON_FUNCTION_DIR, handler: "app.missing" });
    const init = await emu.start();
    expect(init.ok).toBe(false);
    expect(init.error).toMatchObject({ source: "runtime", type: "Runtime.HandlerNotFound" });
  });
});
