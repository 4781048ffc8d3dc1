/**
 * Lambda's graceful shutdown of one life of the environment (rapid's gracefulShutdown), used for
 * the final shutdown and for every reset (function timeout, crash, failed init).
 */
import { epochMs } from "./clock.ts";
import type { ManagedProcess } from "./managed-process.ts";
import { allProcsOf, deliverToExtension, liveProcs, registered, type Generation, type Mark } from "./model.ts";
import { REAP_TIMEOUT_MS, waitAll, type Processes } from "./processes.ts";
import type { ShutdownResult } from "./types.ts";

export interface ShutdownContext {
  processes: Processes;
  mark: Mark;
  /** Shutdown budget with external extensions (the runtime gets min(300 ms, 30 %) of it first). */
  budgetMs: number;
}

/**
 * Thaw; with no registered extension, SIGKILL at once; otherwise SIGTERM the runtime and give it
 * min(300 ms, 30 %) of the budget, then SHUTDOWN to the extensions subscribed to it (the others are
 * SIGKILLed right away) and SIGKILL whatever is alive at the deadline.
 */
export async function gracefulShutdown(gen: Generation, reason: string, ctx: ShutdownContext): Promise<ShutdownResult> {
  const { processes, mark } = ctx;
  gen.shuttingDown = true;
  gen.registrationOpen = false;
  const t0 = epochMs();
  mark("lambda", "shutdown-start", reason);
  processes.thaw(gen, true);
  const killed: string[] = [];
  const killedUnsubscribed: string[] = [];
  let runtimeMs = 0;
  let extensionsMs = 0;
  let deadlineMs = 0;
  const rt = gen.runtime.proc;

  if (registered(gen).length === 0) {
    for (const p of liveProcs(gen)) {
      processes.sigkill(p);
      if (p === rt) killed.push("runtime");
      else killedUnsubscribed.push(p.name);
    }
    runtimeMs = epochMs() - t0;
  } else {
    const budget = ctx.budgetMs;
    const runtimeShare = Math.min(300, budget * 0.3);
    if (rt && !rt.exited) {
      rt.signal("SIGTERM");
      mark("runtime", "SIGTERM");
      await processes.awaitExit([rt], t0 + runtimeShare);
      if (!rt.isGone()) {
        processes.sigkill(rt);
        killed.push("runtime");
      }
    }
    runtimeMs = epochMs() - t0;

    const extStart = epochMs();
    const deadline = t0 + budget;
    deadlineMs = Math.round(Date.now() + (deadline - epochMs()));
    const waitFor: ManagedProcess[] = [];
    for (const ext of gen.extensions) {
      const p = ext.proc;
      if (!p || p.exited) continue;
      if (ext.id && ext.events.includes("SHUTDOWN") && !ext.initError && !ext.exitError) {
        deliverToExtension(ext, { eventType: "SHUTDOWN", shutdownReason: reason, deadlineMs }, mark);
        waitFor.push(p);
      } else if (ext.initError || ext.exitError) {
        waitFor.push(p); // it reported an error and is expected to exit by itself
      } else {
        processes.sigkill(p);
        killedUnsubscribed.push(ext.name);
      }
    }
    await processes.awaitExit(waitFor, deadline);
    for (const p of waitFor) {
      if (!p.isGone()) {
        processes.sigkill(p);
        killed.push(p.name);
      }
    }
    extensionsMs = epochMs() - extStart;
  }

  // Whatever the leaders left behind in their process groups goes too (ESRCH when nothing is left).
  for (const p of allProcsOf(gen)) p.signalGroup("SIGKILL");
  await waitAll(allProcsOf(gen).map((p) => p.exitPromise), REAP_TIMEOUT_MS);
  await waitAll(allProcsOf(gen).map((p) => p.drained), REAP_TIMEOUT_MS);
  gen.invocation = undefined;
  gen.invocations.clear();

  const exitCodes: Record<string, number | null> = {};
  const exitSignals: Record<string, string | null> = {};
  for (const p of allProcsOf(gen)) {
    exitCodes[p.name] = p.exitCode;
    exitSignals[p.name] = p.exitSignal;
  }
  mark("lambda", "shutdown-done", `${reason} killed=[${killed.join(",")}]`);
  return { durationMs: epochMs() - t0, reason, exitCodes, exitSignals, killed, killedUnsubscribed, deadlineMs, runtimeMs, extensionsMs };
}

/** The report of a shutdown of an environment that had nothing running. */
export function emptyShutdown(reason: string): ShutdownResult {
  return { durationMs: 0, reason, exitCodes: {}, exitSignals: {}, killed: [], killedUnsubscribed: [], deadlineMs: 0, runtimeMs: 0, extensionsMs: 0 };
}
