/**
 * The Extensions API (`/2020-01-01/extension/...`) and the Runtime API (`/2018-06-01/runtime/...`)
 * of the emulator, answering as Lambda does (status codes and `{"errorMessage","errorType"}` bodies
 * after the Runtime Interface Emulator's rapid core). They act on the current generation of the
 * host; the host owns the lifecycle.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { epochMs } from "./clock.ts";
import { BodyTooLarge, header, parseJson, readBody, sendAccepted, sendError, sendJson } from "./http.ts";
import { MAX_EXTENSIONS, MAX_RESPONSE_BYTES, registered, sendInvocation } from "./model.ts";
import type { EventName, ExtensionParty, Generation, Invocation, Mark } from "./model.ts";
import type { EmulatorCredentials, ExtensionsApiFault, LambdaMode } from "./types.ts";

const EXT_PREFIX = "/2020-01-01/extension";
const RT_PREFIX = "/2018-06-01/runtime";
/** SnapStart's container-credentials endpoint, on the Runtime API server as in Lambda's rapid core. */
export const CONTAINER_CREDENTIALS_PATH = "/2021-04-23/credentials";

/** What the APIs need from the emulator. */
export interface ApiHost {
  /** The current life of the environment (requests from an older one are refused). */
  readonly gen: Generation | undefined;
  readonly config: {
    functionName: string;
    functionVersion: string;
    handler: string;
    accountId: string;
    layerDir: string;
    mode: LambdaMode;
    credentials: EmulatorCredentials;
    credentialsToken: string;
  };
  mark: Mark;
  emit(event: string, ...args: unknown[]): void;
  /** Wakes the lifecycle's waiters after a state change. */
  notify(): void;
  /** The fault that answers this call instead of the API, if one applies (and is consumed by it). */
  takeFault(route: ExtensionsApiFault["route"]): ExtensionsApiFault | undefined;
}

export class LambdaApi {
  constructor(private readonly host: ApiHost) {}

  async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const method = req.method ?? "GET";
    const gen = this.host.gen;
    const rtMatch = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(pathname);
    const routes: Record<string, [string, () => Promise<void> | void]> = {
      [`${EXT_PREFIX}/register`]: ["POST", () => this.onRegister(req, res, gen)],
      [`${EXT_PREFIX}/event/next`]: ["GET", () => this.onExtensionNext(req, res, gen)],
      [`${EXT_PREFIX}/init/error`]: ["POST", () => this.onExtensionError(req, res, gen, "init")],
      [`${EXT_PREFIX}/exit/error`]: ["POST", () => this.onExtensionError(req, res, gen, "exit")],
      [`${RT_PREFIX}/invocation/next`]: ["GET", () => this.onRuntimeNext(res, gen)],
      [`${RT_PREFIX}/init/error`]: ["POST", () => this.onRuntimeInitError(req, res, gen)],
    };
    if (this.host.config.mode === "snap-start") routes[CONTAINER_CREDENTIALS_PATH] = ["GET", () => this.onCredentials(req, res)];
    const route = routes[pathname];
    if (route) {
      if (method !== route[0]) return sendError(res, 405, "MethodNotAllowed", `${method} ${pathname}: use ${route[0]}`);
      const faultRoute = pathname === `${EXT_PREFIX}/register` ? "register" : pathname === `${EXT_PREFIX}/event/next` ? "event/next" : undefined;
      const fault = faultRoute && this.host.takeFault(faultRoute);
      if (fault) return this.answerFault(req, res, fault);
      return route[1]();
    }
    if (rtMatch) {
      if (method !== "POST") return sendError(res, 405, "MethodNotAllowed", `${method} ${pathname}: use POST`);
      return this.onRuntimeResult(req, res, gen, decodeURIComponent(rtMatch[1]!), rtMatch[2] as "response" | "error");
    }
    // The Telemetry and Logs APIs are not emulated: say so rather than accept and never deliver.
    sendError(res, 404, "NotFound", `${method} ${pathname} is not emulated`);
  }

  /** A fault's answer: the request is read and dropped; nothing in the environment changes. */
  private async answerFault(req: IncomingMessage, res: ServerResponse, fault: ExtensionsApiFault): Promise<void> {
    await readBody(req).catch(() => undefined);
    const body = fault.body ?? "<html>bad gateway</html>";
    this.host.mark(header(req, "Lambda-Extension-Name") ?? "?", "fault", `${fault.route} answered ${fault.status ?? 200}`);
    if (res.writableEnded || res.destroyed) return;
    res.writeHead(fault.status ?? 200, { "content-type": "text/html", "content-length": Buffer.byteLength(body) });
    res.end(body);
  }

  // ---------------------------------------------------------------------------------------------
  // SnapStart's container-credentials endpoint

  private onCredentials(req: IncomingMessage, res: ServerResponse): void {
    // The raw token, no scheme; anything else is the 404 rapid answers.
    if (header(req, "Authorization") !== this.host.config.credentialsToken) {
      return sendError(res, 404, "Credentials.NotFound", "cannot get credentials for the provided token");
    }
    const c = this.host.config.credentials;
    this.host.mark("lambda", "credentials", c.accessKeyId);
    sendJson(res, 200, {
      AccessKeyId: c.accessKeyId,
      SecretAccessKey: c.secretAccessKey,
      Token: c.sessionToken ?? "",
      Expiration: new Date(c.expiresAt ?? Date.now() + 3_600_000).toISOString(),
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Extensions API

  private async onRegister(req: IncomingMessage, res: ServerResponse, gen: Generation | undefined): Promise<void> {
    const name = header(req, "Lambda-Extension-Name");
    const body = (await readBody(req)).toString("utf8");
    const reject = (errorType: string, errorMessage: string): void => {
      this.host.mark(name ?? "?", "register-rejected", `${errorType}: ${errorMessage}`);
      this.host.emit("register-rejected", name, errorType, errorMessage);
      sendError(res, 403, errorType, errorMessage);
    };
    if (!name) return reject("Extension.InvalidExtensionName", "Empty extension name");
    if (!gen || gen !== this.host.gen || gen.shuttingDown) return reject("Extension.RegistrationClosed", "Extension registration closed already");
    const parsed = parseJson(body);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      return reject("InvalidRequestFormat", "register body must be a JSON object such as {\"events\":[\"INVOKE\",\"SHUTDOWN\"]}");
    }
    const fields = parsed as { events?: unknown; configurationKeys?: unknown };
    if (Array.isArray(fields.configurationKeys) && fields.configurationKeys.length > 0) {
      return reject("InvalidRequestFormat", "configurationKeys are deprecated; use environment variables instead");
    }
    const ext = gen.extensions.find((e) => e.name === name);
    if (!ext) {
      return reject(
        "Extension.InvalidExtensionName",
        `Lambda-Extension-Name "${name}" is not the file name of an executable in ${path.join(this.host.config.layerDir, "extensions")} (${gen.extensions.map((e) => e.name).join(", ") || "none"})`,
      );
    }
    const events = fields.events === undefined ? [] : fields.events;
    if (!Array.isArray(events)) return reject("InvalidRequestFormat", "events must be an array");
    for (const e of events) {
      if (e !== "INVOKE" && e !== "SHUTDOWN") return reject("Extension.InvalidEventType", `${String(e)}: invalid event type (external extensions may subscribe to INVOKE and SHUTDOWN)`);
      // Lambda Managed Instances: external extensions may subscribe to SHUTDOWN only (rapid's ValidateExternalAgentEvent).
      if (e === "INVOKE" && this.host.config.mode === "lambda-managed-instances") {
        return reject("Extension.InvalidEventType", "INVOKE: invalid event type (on Lambda Managed Instances external extensions may subscribe to SHUTDOWN only)");
      }
    }
    if (ext.id) return reject("Extension.AlreadyRegistered", `Extension ${name} is already registered`);
    if (!gen.registrationOpen) return reject("Extension.RegistrationClosed", "Extension registration closed already");
    if (registered(gen).length >= MAX_EXTENSIONS) return reject("Extension.TooManyExtensions", `Extension limit (${MAX_EXTENSIONS}) reached`);

    ext.id = randomUUID();
    ext.events = [...new Set(events as EventName[])];
    ext.registeredAt = epochMs();
    this.host.mark(name, "register", ext.events.join(","));
    const features = (header(req, "Lambda-Extension-Accept-Feature") ?? "").split(",").map((f) => f.trim());
    sendJson(
      res,
      200,
      {
        functionName: this.host.config.functionName,
        functionVersion: this.host.config.functionVersion,
        handler: this.host.config.handler,
        ...(features.includes("accountId") ? { accountId: this.host.config.accountId } : {}),
      },
      { "Lambda-Extension-Identifier": ext.id },
    );
    this.host.emit("register", name);
    this.host.notify();
  }

  /** Finds the caller by its Lambda-Extension-Identifier, or answers 403 as Lambda does. */
  private identify(req: IncomingMessage, res: ServerResponse, gen: Generation | undefined): ExtensionParty | undefined {
    const id = header(req, "Lambda-Extension-Identifier");
    if (!id) {
      sendError(res, 403, "Extension.MissingExtensionIdentifier", "Missing Lambda-Extension-Identifier header");
      return undefined;
    }
    const ext = gen === this.host.gen ? gen?.extensions.find((e) => e.id === id) : undefined;
    if (!ext) {
      sendError(res, 403, "Extension.UnknownExtensionIdentifier", `Unknown extension ${id}`);
      return undefined;
    }
    return ext;
  }

  private onExtensionNext(req: IncomingMessage, res: ServerResponse, gen: Generation | undefined): void {
    const ext = this.identify(req, res, gen);
    if (!ext || !gen) return;
    const failed = ext.initError ? "InitError" : ext.exitError ? "ExitError" : undefined;
    if (failed) {
      sendError(res, 403, "Extension.InvalidExtensionState", `State transition from ${failed} to Ready failed for extension ${ext.id}`);
      return;
    }
    if (ext.pendingNext && ext.pendingNext !== res) {
      sendError(ext.pendingNext, 403, "Extension.InvalidExtensionState", "replaced by a newer event/next call");
    }
    const at = epochMs();
    ext.lastNextAt = at;
    ext.firstNextAt ??= at;
    this.host.mark(ext.name, "next");
    const queued = ext.queue.shift();
    if (queued !== undefined) {
      ext.pendingNext = undefined;
      sendJson(res, 200, queued, { "Lambda-Extension-Event-Identifier": randomUUID() });
    } else {
      ext.pendingNext = res;
      res.on("close", () => {
        if (ext.pendingNext === res) {
          ext.pendingNext = undefined;
          this.host.notify();
        }
      });
    }
    this.host.emit("extension-next", ext.name);
    this.host.notify();
  }

  private async onExtensionError(req: IncomingMessage, res: ServerResponse, gen: Generation | undefined, kind: "init" | "exit"): Promise<void> {
    const body = (await readBody(req)).toString("utf8");
    const ext = this.identify(req, res, gen);
    if (!ext || !gen) return;
    const type = header(req, "Lambda-Extension-Function-Error-Type");
    if (!type) return sendError(res, 403, "Extension.MissingHeader", "Lambda-Extension-Function-Error-Type not found");
    if (ext.initError || ext.exitError) {
      return sendError(res, 403, "Extension.InvalidExtensionState", `State transition from ${ext.initError ? "InitError" : "ExitError"} to ${kind === "init" ? "InitError" : "ExitError"} failed for extension ${ext.id}`);
    }
    if (kind === "init" && gen.initDone) {
      return sendError(res, 403, "Extension.InvalidExtensionState", `State transition from Ready to InitError failed for extension ${ext.id}: init is over`);
    }
    const parsed = parseJson(body) as { errorMessage?: unknown } | undefined;
    const message = typeof parsed?.errorMessage === "string" ? parsed.errorMessage : "";
    const error = { type, message };
    if (kind === "init") ext.initError = error;
    else ext.exitError = error;
    this.host.mark(ext.name, `${kind}/error`, `${type}: ${message}`);
    if (!gen.shuttingDown) gen.fatal ??= { source: ext.name, type, message };
    sendAccepted(res);
    this.host.emit(kind === "init" ? "init-error" : "exit-error", ext.name, type, message);
    // The raw body too: a leak scan must see every field the extension sent, not only errorMessage.
    this.host.emit("error-report", `${kind}/error`, ext.name, type, body);
    this.host.notify();
  }

  // ---------------------------------------------------------------------------------------------
  // Runtime API

  private onRuntimeNext(res: ServerResponse, gen: Generation | undefined): void {
    if (!gen || gen !== this.host.gen || !gen.runtime.proc || gen.shuttingDown) {
      sendError(res, 403, "InvalidStateTransition", "no runtime is expected to call invocation/next now");
      return;
    }
    const rt = gen.runtime;
    const concurrent = this.host.config.mode === "lambda-managed-instances";
    if (rt.pendingNext && rt.pendingNext !== res && !concurrent) sendError(rt.pendingNext, 400, "InvalidStateTransition", "replaced by a newer invocation/next call");
    const at = epochMs();
    rt.lastNextAt = at;
    if (rt.firstNextAt === undefined) {
      rt.firstNextAt = at;
      // Registration closes once the runtime is ready (rapid's registrationService.TurnOff()).
      gen.registrationOpen = false;
      this.host.mark("runtime", "runtime-next", "init");
    } else {
      this.host.mark("runtime", "runtime-next");
    }
    const queued = rt.queue.shift();
    if (queued) {
      if (!concurrent) rt.pendingNext = undefined;
      sendInvocation(res, queued, this.host.mark);
    } else if (concurrent && rt.pendingNext && rt.pendingNext !== res && !rt.pendingNext.writableEnded && !rt.pendingNext.destroyed) {
      // Managed Instances: another worker is already waiting; this one waits beside it.
      rt.parked.push(res);
      res.on("close", () => void (rt.parked = rt.parked.filter((r) => r !== res)));
    } else {
      rt.pendingNext = res;
      res.on("close", () => {
        if (rt.pendingNext === res) {
          rt.pendingNext = undefined;
          this.host.notify();
        }
      });
    }
    this.host.emit("runtime-next");
    this.host.notify();
  }

  private async onRuntimeResult(req: IncomingMessage, res: ServerResponse, gen: Generation | undefined, requestId: string, kind: "response" | "error"): Promise<void> {
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (err) {
      if (!(err instanceof BodyTooLarge)) throw err;
      body = Buffer.alloc(0);
      const inv = gen?.invocations.get(requestId) ?? gen?.invocation;
      if (inv && inv.requestId === requestId && !inv.response) {
        this.recordResult(inv, { ok: false, error: { errorType: "Function.ResponseSizeTooLarge", errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).` } });
      }
      return sendError(res, 413, "RequestEntityTooLarge", `Exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`);
    }
    const inv = gen === this.host.gen ? (gen?.invocations.get(requestId) ?? gen?.invocation) : undefined;
    if (!inv || inv.requestId !== requestId) return sendError(res, 400, "InvalidRequestID", "Invalid request ID");
    if (inv.response) return sendError(res, 403, "InvalidStateTransition", `State transition from ${inv.response.ok ? "InvocationResponse" : "InvocationErrorResponse"} to ${kind === "response" ? "InvocationResponse" : "InvocationErrorResponse"} failed for runtime`);
    if (kind === "response") {
      if (body.length > MAX_RESPONSE_BYTES) {
        this.recordResult(inv, { ok: false, error: { errorType: "Function.ResponseSizeTooLarge", errorMessage: `Response payload size (${body.length} bytes) exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).` } });
        return sendError(res, 413, "RequestEntityTooLarge", `Exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`);
      }
      this.recordResult(inv, { ok: true, body: body.toString("utf8") });
    } else {
      const parsed = parseJson(body.toString("utf8")) as { errorType?: unknown; errorMessage?: unknown } | undefined;
      const errorType = typeof parsed?.errorType === "string" ? parsed.errorType : (header(req, "Lambda-Runtime-Function-Error-Type") ?? "Unknown");
      const errorMessage = typeof parsed?.errorMessage === "string" ? parsed.errorMessage : body.toString("utf8");
      this.recordResult(inv, { ok: false, error: { errorType, errorMessage } });
    }
    sendAccepted(res);
  }

  private recordResult(inv: Invocation, response: NonNullable<Invocation["response"]>): void {
    inv.response = response;
    inv.respondedAt = epochMs();
    this.host.mark("runtime", response.ok ? "runtime-response" : "runtime-error", inv.requestId);
    this.host.emit("runtime-response", inv.requestId, response.ok);
    this.host.notify();
  }

  private async onRuntimeInitError(req: IncomingMessage, res: ServerResponse, gen: Generation | undefined): Promise<void> {
    const body = (await readBody(req)).toString("utf8");
    if (!gen || gen !== this.host.gen || gen.initDone) return sendError(res, 403, "InvalidStateTransition", "State transition from Ready to InitError failed for runtime");
    const parsed = parseJson(body) as { errorType?: unknown; errorMessage?: unknown } | undefined;
    const type = header(req, "Lambda-Runtime-Function-Error-Type") ?? (typeof parsed?.errorType === "string" ? parsed.errorType : "Runtime.Unknown");
    const message = typeof parsed?.errorMessage === "string" ? parsed.errorMessage : body;
    this.host.mark("runtime", "runtime-init-error", `${type}: ${message}`);
    gen.fatal ??= { source: "runtime", type, message };
    sendAccepted(res);
    this.host.emit("init-error", "runtime", type, message);
    this.host.notify();
  }
}
