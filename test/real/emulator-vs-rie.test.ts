/**
 * Fidelity of the project's Lambda emulator (test/peers/lambda) against AWS's RIE, where both can be
 * observed: an extension that only watches (fixtures/observer-extension.mjs) records the register
 * answer and every event under each, for the same function, two invokes and a shutdown.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { LambdaEmulator } from "../peers/lambda/emulator.ts";
import { FIXTURES as INTEGRATION_FIXTURES } from "../integration/harness.ts";
import { FIXTURES, FUNCTION_NAME } from "./bao-world.ts";
import { Rie } from "./rie.ts";

interface Observed {
  what: "register" | "event";
  at: number;
  status: number;
  headers: Record<string, string>;
  body: any;
}

const credentials = { accessKeyId: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sessionToken: "observer-session-token" };
let dir: string;
let layer: string;
const seen: { emulator: Observed[]; rie: Observed[]; rieLines: string[]; rieLinesBeforeInvoke: string[]; terminatedAt: number } = {
  emulator: [],
  rie: [],
  rieLines: [],
  rieLinesBeforeInvoke: [],
  terminatedAt: 0,
};

function read(file: string): Observed[] {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l)) : [];
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "vla-fidelity-"));
  fs.chmodSync(dir, 0o755);
  layer = path.join(dir, "layer");
  fs.mkdirSync(path.join(layer, "extensions"), { recursive: true });
  fs.copyFileSync(path.join(FIXTURES, "observer-extension.mjs"), path.join(layer, "extensions", "observer"));
  fs.chmodSync(path.join(layer, "extensions", "observer"), 0o755);

  const emuOut = path.join(dir, "emulator.jsonl");
  const emu = new LambdaEmulator({
    layerDir: layer,
    functionDir: INTEGRATION_FIXTURES,
    handler: "probe.handler",
    functionName: FUNCTION_NAME,
    credentials,
    region: "eu-west-1",
    env: { OBSERVER_OUT: emuOut },
    logDir: dir,
  });
  try {
    expect((await emu.start()).ok).toBe(true);
    await emu.invoke({});
    await emu.invoke({});
    await emu.shutdown();
  } finally {
    await emu.kill();
  }
  seen.emulator = read(emuOut);

  const rieOut = path.join(dir, "rie.jsonl");
  const optDir = Rie.optDir(layer);
  const rie = await Rie.start({
    optDir,
    taskRoot: INTEGRATION_FIXTURES,
    handler: "probe.handler",
    env: {
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_SESSION_TOKEN: credentials.sessionToken,
      AWS_REGION: "eu-west-1",
      AWS_LAMBDA_FUNCTION_NAME: FUNCTION_NAME,
      OBSERVER_OUT: rieOut,
    },
    logFile: path.join(dir, "rie.log"),
  });
  try {
    await new Promise((r) => setTimeout(r, 500));
    seen.rieLinesBeforeInvoke = [...rie.lines];
    expect((await rie.invoke({})).status).toBe(200);
    expect((await rie.invoke({})).status).toBe(200);
    seen.terminatedAt = Date.now();
    await rie.terminate();
  } finally {
    rie.kill();
    fs.rmSync(optDir, { recursive: true, force: true });
  }
  seen.rie = read(rieOut);
  seen.rieLines = rie.lines;
});

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

const registerOf = (o: Observed[]) => o.find((x) => x.what === "register")!;
const eventsOf = (o: Observed[], type: string) => o.filter((x) => x.what === "event" && x.body?.eventType === type);

// Each difference below is listed in docs/real-peers.md with the fix it calls for (if any). The
// assertions pin both sides, so a change to either shows up here.
describe("the emulator against AWS's RIE (classic mode)", () => {
  it("both deliver register, two INVOKEs and a SHUTDOWN, in that order", () => {
    const sequence = (o: Observed[]) => o.map((x) => (x.what === "register" ? "register" : x.body.eventType));
    expect(sequence(seen.emulator)).toEqual(["register", "INVOKE", "INVOKE", "SHUTDOWN"]);
    expect(sequence(seen.rie)).toEqual(sequence(seen.emulator));
  });

  it("register: the same status, identifier header and body fields; only the emulator honours the accountId feature", () => {
    const [emu, rie] = [registerOf(seen.emulator), registerOf(seen.rie)];
    expect([emu.status, rie.status]).toEqual([200, 200]);
    for (const r of [emu, rie]) {
      expect(r.headers["content-type"]).toBe("application/json");
      expect(r.headers["lambda-extension-identifier"]).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(JSON.parse(rie.body)).toEqual({ functionName: FUNCTION_NAME, functionVersion: "$LATEST", handler: "probe.handler" });
    // Lambda adds accountId when the extension asks for it (Lambda-Extension-Accept-Feature); the RIE ignores the header.
    expect(JSON.parse(emu.body)).toEqual({ functionName: FUNCTION_NAME, functionVersion: "$LATEST", handler: "probe.handler", accountId: "123456789012" });
  });

  it("INVOKE: the same fields, except tracing (the RIE has no X-Ray) and the ARN (the RIE's is fixed)", () => {
    for (const e of [...eventsOf(seen.emulator, "INVOKE"), ...eventsOf(seen.rie, "INVOKE")]) {
      expect(e.headers["content-type"]).toBe("application/json");
      expect(e.headers["lambda-extension-event-identifier"]).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.body.requestId).toMatch(/^[0-9a-f-]{36}$/);
      expect(e.body.deadlineMs).toBeGreaterThan(e.at);
    }
    const [emu, rie] = [eventsOf(seen.emulator, "INVOKE")[0]!, eventsOf(seen.rie, "INVOKE")[0]!];
    expect(Object.keys(rie.body).sort()).toEqual(["deadlineMs", "eventType", "invokedFunctionArn", "requestId"]);
    expect(Object.keys(emu.body).sort()).toEqual(["deadlineMs", "eventType", "invokedFunctionArn", "requestId", "tracing"]);
    expect(emu.body.invokedFunctionArn).toBe(`arn:aws:lambda:eu-west-1:123456789012:function:${FUNCTION_NAME}`);
    expect(rie.body.invokedFunctionArn).toBe(`arn:aws:lambda:us-east-1:012345678912:function:${FUNCTION_NAME}`);
  });

  it("SHUTDOWN: the same fields and a 2 s budget; the RIE's reason is its own, its content type text/plain, and it sends no event identifier", () => {
    const [emu, rie] = [eventsOf(seen.emulator, "SHUTDOWN")[0]!, eventsOf(seen.rie, "SHUTDOWN")[0]!];
    expect(Object.keys(emu.body).sort()).toEqual(["deadlineMs", "eventType", "shutdownReason"]);
    expect(Object.keys(rie.body).sort()).toEqual(Object.keys(emu.body).sort());
    expect(emu.body.shutdownReason).toBe("spindown");
    expect(rie.body.shutdownReason).toBe("SandboxTerminated");
    // The RIE's deadline is the moment it got SIGTERM + 2000 ms (its Reset budget), so at least 2 s
    // after we sent it.
    expect(rie.body.deadlineMs - seen.terminatedAt).toBeGreaterThanOrEqual(2_000);
    expect(emu.headers["content-type"]).toBe("application/json");
    expect(rie.headers["content-type"]).toBe("text/plain; charset=utf-8");
    expect(emu.headers["lambda-extension-event-identifier"]).toBeDefined();
    expect(rie.headers["lambda-extension-event-identifier"]).toBeUndefined();
  });

  it("the RIE initialises on the first invoke, not at start", () => {
    expect(seen.rieLinesBeforeInvoke.some((l) => l.includes("INIT START"))).toBe(false);
    expect(seen.rieLines.some((l) => l.includes("INIT START(type: on-demand, phase: init)"))).toBe(true);
  });
});
