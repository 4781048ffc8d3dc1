/**
 * Client of the Lambda Extensions API (`$AWS_LAMBDA_RUNTIME_API/2020-01-01/extension/...`).
 * Plain `node:http`: it is four calls, and `event/next` is a long poll that must carry no timeout.
 */
import http from "node:http";
import { ExtensionsApiError } from "../errors.ts";
import type { Redactor } from "../log.ts";

export interface InvokeEvent {
  eventType: "INVOKE";
  deadlineMs: number;
  requestId: string;
  invokedFunctionArn?: string;
}

export interface ShutdownEvent {
  eventType: "SHUTDOWN";
  /** `spindown`, `timeout` or `failure`, in whatever case Lambda sends. */
  shutdownReason: string;
  deadlineMs: number;
}

export type ExtensionEvent = InvokeEvent | ShutdownEvent;

export interface Registration {
  extensionId: string;
  functionName?: string;
  functionVersion?: string;
  handler?: string;
}

export class ExtensionsApi {
  private readonly base: string;
  private extensionId: string | undefined;
  /** Kept alive between the calls of this client (two: a long poll and the odd error report). */
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 2 });

  /** `redactor` scrubs every error body this client sends: there is no way to report an unscrubbed one. */
  constructor(
    runtimeApi: string,
    private readonly name: string,
    private readonly redactor: Redactor,
  ) {
    this.base = `http://${runtimeApi}/2020-01-01/extension`;
  }

  async register(events: Array<"INVOKE" | "SHUTDOWN">): Promise<Registration> {
    const res = await call(this.agent, `${this.base}/register`, "POST", { "lambda-extension-name": this.name }, JSON.stringify({ events }));
    const id = res.headers["lambda-extension-identifier"];
    if (typeof id !== "string" || !id) throw new ExtensionsApiError(res.status, "register answered without Lambda-Extension-Identifier");
    this.extensionId = id;
    const body = safeJson(res.body) as Omit<Registration, "extensionId"> | undefined;
    return { extensionId: id, ...body };
  }

  async next(): Promise<ExtensionEvent> {
    const res = await call(this.agent, `${this.base}/event/next`, "GET", this.idHeader());
    const event = safeJson(res.body) as ExtensionEvent | undefined;
    if (!event || (event.eventType !== "INVOKE" && event.eventType !== "SHUTDOWN")) {
      throw new ExtensionsApiError(res.status, "event/next answered with an unknown event");
    }
    return event;
  }

  /** Reports a failed init; Lambda fails the init with `errorType` and shows `message`. */
  async initError(errorType: string, message: string): Promise<void> {
    await this.reportError("init/error", errorType, message);
  }

  private async reportError(path: string, errorType: string, message: string): Promise<void> {
    const body = JSON.stringify({ errorMessage: this.redactor.scrub(message), errorType, stackTrace: [] });
    await call(this.agent, `${this.base}/${path}`, "POST", { ...this.idHeader(), "lambda-extension-function-error-type": errorType }, body);
  }

  private idHeader(): Record<string, string> {
    if (!this.extensionId) throw new Error("not registered");
    return { "lambda-extension-identifier": this.extensionId };
  }
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/**
 * One call. A kept-alive socket the server closed while idle fails the request before any answer
 * (ECONNRESET/EPIPE on a reused socket: the request never reached the API): sent once more, on a
 * fresh socket, as Node's documentation advises. Any other failure is the caller's to handle.
 */
async function call(agent: http.Agent, url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  try {
    return await callOnce(agent, url, method, headers, body);
  } catch (err) {
    if (!(err instanceof IdleSocketClosed)) throw err;
    return callOnce(agent, url, method, headers, body);
  }
}

class IdleSocketClosed extends Error {}

function callOnce(agent: http.Agent, url: string, method: string, headers: Record<string, string>, body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, ...(body ? { "content-type": "application/json" } : {}) }, agent }, (res) => {
      let data = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (data += c));
      res.on("end", () => {
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) resolve({ status, headers: res.headers, body: data });
        else reject(new ExtensionsApiError(status, `${method} ${new URL(url).pathname} answered ${status}: ${data.slice(0, 300)}`));
      });
      res.on("error", reject);
    });
    req.on("error", (err: NodeJS.ErrnoException) => {
      const idleClosed = req.reusedSocket && (err.code === "ECONNRESET" || err.code === "EPIPE");
      reject(idleClosed ? new IdleSocketClosed(err.message, { cause: err }) : err);
    });
    req.end(body);
  });
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
