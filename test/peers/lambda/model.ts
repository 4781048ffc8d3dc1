/**
 * The emulator's model of one life of the execution environment (a "generation": init to reset or
 * shutdown) and the parties in it, shared by the lifecycle (emulator.ts) and the APIs (api.ts).
 */
import type { ServerResponse } from "node:http";
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, statSync } from "node:fs";
import path from "node:path";
import type { ManagedProcess } from "./managed-process.ts";
import { parseJson, sendJson } from "./http.ts";
import type { EmulatorError, ExtensionInfo } from "./types.ts";

/** Lambda allows at most 10 extensions per function. */
export const MAX_EXTENSIONS = 10;
/** Lambda's synchronous invocation response limit. */
export const MAX_RESPONSE_BYTES = 6_291_556;

/** Records a timeline entry. */
export type Mark = (source: string, what: string, detail?: string) => void;

export type EventName = "INVOKE" | "SHUTDOWN";

export interface ExtensionParty {
  name: string;
  path: string;
  proc?: ManagedProcess;
  id?: string;
  events: EventName[];
  registeredAt?: number;
  firstNextAt?: number;
  lastNextAt?: number;
  /** The pending `event/next` long poll, if it is waiting in next now. */
  pendingNext?: ServerResponse;
  /** Events to hand out at its next `event/next` (it was busy when they were sent). */
  queue: unknown[];
  initError?: { type: string; message: string };
  exitError?: { type: string; message: string };
}

export interface Invocation {
  requestId: string;
  payload: string;
  deadlineMs: number;
  arn: string;
  traceId: string;
  response?: { ok: boolean; body?: string; error?: { errorType: string; errorMessage: string } };
  respondedAt?: number;
}

export interface RuntimeParty {
  proc?: ManagedProcess;
  pendingNext?: ServerResponse;
  /** Managed Instances: the other workers' `invocation/next` long polls, waiting beside `pendingNext`. */
  parked: ServerResponse[];
  queue: Invocation[];
  firstNextAt?: number;
  lastNextAt?: number;
  spawnedAt?: number;
}

/** One life of the execution environment: from init to reset/shutdown. A reset starts a new one. */
export interface Generation {
  extensions: ExtensionParty[];
  runtime: RuntimeParty;
  registrationOpen: boolean;
  initDone: boolean;
  shuttingDown: boolean;
  /** First fatal error of this life (init failure, crash, exit/error): the environment must reset. */
  fatal?: EmulatorError;
  invocation?: Invocation;
  /** Managed Instances: every invocation in flight at once, by request id. */
  invocations: Map<string, Invocation>;
}

/** Answers the extension's pending event/next with the event, or queues it for its next call. */
export function deliverToExtension(ext: ExtensionParty, event: { eventType: string } & Record<string, unknown>, mark: Mark): void {
  mark(ext.name, "event", event.eventType);
  const res = ext.pendingNext;
  if (res && !res.destroyed && !res.writableEnded) {
    ext.pendingNext = undefined;
    sendJson(res, 200, event, { "Lambda-Extension-Event-Identifier": randomUUID() });
  } else {
    ext.pendingNext = undefined;
    ext.queue.push(event);
  }
}

/** Answers the runtime's pending invocation/next with the invocation, or queues it. */
export function deliverToRuntime(gen: Generation, inv: Invocation, mark: Mark): void {
  const rt = gen.runtime;
  const open = (r: ServerResponse | undefined): r is ServerResponse => r !== undefined && !r.destroyed && !r.writableEnded;
  const res = rt.pendingNext;
  rt.pendingNext = undefined;
  if (open(res)) return sendInvocation(res, inv, mark);
  // Managed Instances: any other worker waiting in next.
  for (let parked = rt.parked.shift(); parked; parked = rt.parked.shift()) if (open(parked)) return sendInvocation(parked, inv, mark);
  rt.queue.push(inv);
}

/** An invocation/next answer: the payload, with the Lambda-Runtime-* headers. */
export function sendInvocation(res: ServerResponse, inv: Invocation, mark: Mark): void {
  mark("runtime", "event", `INVOKE ${inv.requestId}`);
  res.writeHead(200, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(inv.payload),
    "Lambda-Runtime-Aws-Request-Id": inv.requestId,
    "Lambda-Runtime-Deadline-Ms": String(inv.deadlineMs),
    "Lambda-Runtime-Invoked-Function-Arn": inv.arn,
    "Lambda-Runtime-Trace-Id": inv.traceId,
  });
  res.end(inv.payload);
}

export function registered(gen: Generation): ExtensionParty[] {
  return gen.extensions.filter((e) => e.id !== undefined);
}

export function allProcsOf(gen: Generation): ManagedProcess[] {
  const procs = gen.extensions.flatMap((e) => (e.proc ? [e.proc] : []));
  if (gen.runtime.proc) procs.push(gen.runtime.proc);
  return procs;
}

export function liveProcs(gen: Generation): ManagedProcess[] {
  return allProcsOf(gen).filter((p) => !p.exited && p.pid !== undefined);
}

export function infoOf(ext: ExtensionParty): ExtensionInfo {
  return {
    name: ext.name,
    pid: ext.proc?.pid,
    events: [...ext.events],
    ...(ext.registeredAt !== undefined ? { registeredAt: ext.registeredAt } : {}),
    ...(ext.firstNextAt !== undefined ? { firstNextAt: ext.firstNextAt } : {}),
    ...(ext.initError ? { initError: { ...ext.initError } } : {}),
    ...(ext.exitError ? { exitError: { ...ext.exitError } } : {}),
    ...(ext.proc?.exited ? { exitCode: ext.proc.exitCode } : {}),
  };
}

/** Every regular file in the directory (symlinks followed), alphabetically; none if it is absent. */
export function listExtensions(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .sort()
    .map((n) => path.join(dir, n))
    .filter((file) => {
      try {
        return statSync(file).isFile();
      } catch {
        return false;
      }
    });
}

export function parseResponse(body: string): unknown {
  if (body === "") return undefined;
  const parsed = parseJson(body);
  return parsed === undefined ? body : parsed;
}

/** An X-Ray trace header as Lambda passes it: Root=1-<epoch s hex>-<24 hex>;Parent=<16 hex>;Sampled=0 */
export function traceHeader(): string {
  const seconds = Math.floor(Date.now() / 1000).toString(16).padStart(8, "0");
  return `Root=1-${seconds}-${randomBytes(12).toString("hex")};Parent=${randomBytes(8).toString("hex")};Sampled=0`;
}
