import { describe, expect, it } from "vitest";
import { ReadinessGate } from "../src/readiness.ts";

describe("ReadinessGate", () => {
  it("starts closed to requests, and a waiter resolves when the init work ends", async () => {
    const gate = new ReadinessGate();
    gate.bound(Date.now() + 60_000);
    expect(gate.state).toBe("starting");
    expect(gate.isReady).toBe(false);
    const waiting = [gate.wait(), gate.wait()];
    gate.open();
    expect(await Promise.all(waiting)).toEqual(["ready", "ready"]);
    expect(gate.isReady).toBe(true);
    expect(await gate.wait()).toBe("ready");
  });

  it("a failed init releases the waiters with the reason", async () => {
    const gate = new ReadinessGate();
    gate.bound(Date.now() + 60_000);
    const waiting = gate.wait();
    gate.fail("VAULT_AUTH_ROLE: entry for role nope not found");
    expect(await waiting).toBe("failed");
    expect(gate.refusal).toBe("vault-lambda-agent failed to start: VAULT_AUTH_ROLE: entry for role nope not found");
  });

  it("no request waits past the init budget", async () => {
    const gate = new ReadinessGate();
    gate.bound(1_000);
    // At or past the deadline: answered at once, still starting.
    expect(await gate.wait(1_000)).toBe("starting");
    expect(gate.refusal).toMatch(/not ready yet .*init budget/);
    // Before it: a timer for what is left (Lambda never freezes during init).
    const soon = new ReadinessGate();
    soon.bound(Date.now() + 5);
    expect(await soon.wait()).toBe("starting");
  });

  it("once closed (SHUTDOWN), nothing reopens it", async () => {
    const gate = new ReadinessGate();
    gate.open();
    gate.close();
    gate.open();
    expect(gate.state).toBe("closed");
    expect(gate.refusal).toBe("vault-lambda-agent is shutting down");
  });

  it("SnapStart: while restoring, each request waits its own bound (counted from the request), then gets the reason; the restore opens the gate", async () => {
    const gate = new ReadinessGate();
    gate.bound(1_000);
    gate.awaitRestore(50, "SnapStart: read them in the handler");
    expect(gate.state).toBe("restoring");
    expect(gate.waiting).toBe(true);
    // Long after the init budget (a restore comes days later), a request still waits its own bound.
    expect(await gate.wait(Date.now())).toBe("restoring");
    expect(gate.refusal).toBe("SnapStart: read them in the handler");
    const waiting = gate.wait();
    gate.open();
    expect(await waiting).toBe("ready");
    expect(gate.waiting).toBe(false);
  });
});
