/**
 * A test peer that behaves like AWS STS over HTTP on 127.0.0.1: it really verifies SigV4 signatures
 * (./sigv4.ts) and answers GetCallerIdentity and AssumeRole with STS's XML, status codes and error
 * codes. One listener serves as the global endpoint (https://sts.amazonaws.com, region us-east-1);
 * `endpoint(region)` opens more, each serving as https://sts.<region>.amazonaws.com and accepting only
 * signatures scoped to its region. All listeners share the identities, roles and request log.
 *
 * Like STS behind Vault, it accepts any path (Vault forwards to `<endpoint>//`) and verifies against
 * the Host header it received, which need not be its own address.
 */
import http from "node:http";
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { ACTIONS, StsError, type StsRoleDefinition } from "./actions.ts";
import { makeIdentity, type MakeIdentityOptions, type StsIdentity } from "./identities.ts";
import { errorXml, STS_API_VERSION } from "./responses.ts";
import { DEFAULT_MAX_SKEW_MS, splitTarget, verifyRequest, type HeaderPair, type SigningSecret } from "./sigv4.ts";

export type { StsIdentity, MakeIdentityOptions } from "./identities.ts";
export type { StsRoleDefinition } from "./actions.ts";
export { makeIdentity };

export interface StsRequestRecord {
  /** `epochMs()` when the request had been read. */
  at: number;
  action: string | undefined;
  hostHeader: string | undefined;
  path: string;
  /** Region the listener that took the request serves. */
  region: string;
  /** The listener's own URL (tells the global listener from a regional us-east-1 one). */
  listenerUrl: string;
  status: number;
  /** The authenticated caller's ARN, when the signature was valid. */
  callerArn?: string;
  errorCode?: string;
}

export interface StsTestServerOptions {
  identities?: StsIdentity[];
  roles?: StsRoleDefinition[];
  /** Accepted clock skew of X-Amz-Date; STS allows 15 minutes. */
  maxSkewMs?: number;
  /** Largest request body accepted; default 64 KiB. */
  maxBodyBytes?: number;
  /** Wall clock for signature skew and credential expiry (epoch ms); default `Date.now`. */
  clock?: () => number;
}

/** Shared timestamp base of the test peers: a float in epoch ms. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

const GLOBAL_REGION = "us-east-1";
const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
const DRAIN_LIMIT_BYTES = 1024 * 1024;

interface Listener {
  region: string;
  url: string;
  server: http.Server;
}

interface Reply {
  status: number;
  body: string;
  requestId?: string;
  action?: string;
  errorCode?: string;
  callerArn?: string;
}

export class StsTestServer {
  readonly requests: StsRequestRecord[] = [];
  private readonly identities = new Map<string, StsIdentity>();
  private readonly roles = new Map<string, StsRoleDefinition>();
  /** Every secret and session token ever known or issued, and every signature seen (leak scan). */
  private readonly secrets = new Set<string>();
  private readonly regional = new Map<string, Promise<Listener>>();
  private readonly listeners: Listener[] = [];
  private readonly maxSkewMs: number;
  private readonly maxBodyBytes: number;
  private readonly clock: () => number;
  private closed = false;
  private closing: Promise<void> | undefined;
  private globalUrl = "";

  private constructor(opts: StsTestServerOptions) {
    this.maxSkewMs = opts.maxSkewMs ?? DEFAULT_MAX_SKEW_MS;
    this.maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
    this.clock = opts.clock ?? Date.now;
    for (const id of opts.identities ?? []) this.addIdentity(id);
    for (const role of opts.roles ?? []) this.addRole(role);
  }

  static async start(opts: StsTestServerOptions = {}): Promise<StsTestServer> {
    const sts = new StsTestServer(opts);
    const global = await sts.listen(GLOBAL_REGION);
    sts.globalUrl = global.url;
    return sts;
  }

  /** `http://127.0.0.1:PORT`, standing in for https://sts.amazonaws.com (region us-east-1). */
  get url(): string {
    return this.globalUrl;
  }

  /** URL of a listener standing in for https://sts.<region>.amazonaws.com, opened on first use. */
  async endpoint(region: string): Promise<string> {
    if (this.closed) throw new Error("StsTestServer is closed");
    let pending = this.regional.get(region);
    if (!pending) {
      pending = this.listen(region);
      this.regional.set(region, pending);
    }
    return (await pending).url;
  }

  addIdentity(id: StsIdentity): void {
    this.identities.set(id.accessKeyId, id);
    this.secrets.add(id.secretAccessKey);
    if (id.sessionToken !== undefined) this.secrets.add(id.sessionToken);
  }

  /**
   * Expires temporary credentials now (as a SnapStart restore replaces the function's): requests
   * signed with them are refused with `ExpiredToken` from then on.
   */
  expire(accessKeyId: string): void {
    const id = this.identities.get(accessKeyId);
    if (!id) throw new Error(`StsTestServer: no identity with access key ${accessKeyId}`);
    id.expiresAt = this.clock();
  }

  addRole(role: StsRoleDefinition): void {
    this.roles.set(role.arn, role);
  }

  /** Every secret access key and session token it knows or issued, and every signature it has seen. */
  issuedSecrets(): string[] {
    return [...this.secrets];
  }

  /** Closes every listener and drops open connections; safe to call more than once. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      // A regional listener still being opened is closed too once it is up.
      await Promise.allSettled([...this.regional.values()]);
      await Promise.all(
        this.listeners.map(
          (l) =>
            new Promise<void>((resolve) => {
              l.server.close(() => resolve());
              l.server.closeAllConnections();
            }),
        ),
      );
    })();
    return this.closing;
  }

  private async listen(region: string): Promise<Listener> {
    const server = http.createServer({ requestTimeout: 10_000, headersTimeout: 5_000 });
    const listener: Listener = { region, url: "", server };
    server.on("request", (req, res) => this.onRequest(listener, req, res));
    // Garbage that is not HTTP: answer 400 and hang up, as a front end would.
    server.on("clientError", (_err, socket) => {
      if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
      socket.destroy();
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
    listener.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    this.listeners.push(listener);
    return listener;
  }

  private onRequest(listener: Listener, req: http.IncomingMessage, res: http.ServerResponse): void {
    // An oversized body is read and thrown away, then refused with 413: hanging up on a client that is
    // still sending would reset the connection before it could read the answer. Past a further
    // MiB the client is abusive and the connection is dropped.
    const dropAfter = this.maxBodyBytes + DRAIN_LIMIT_BYTES;
    if (Number(req.headers["content-length"] ?? 0) > dropAfter) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let oversized = false;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > dropAfter) {
        req.socket.destroy();
      } else if (size > this.maxBodyBytes) {
        oversized = true;
        chunks.length = 0;
      } else {
        chunks.push(chunk);
      }
    });
    req.on("end", () => {
      const reply = oversized ? this.tooLarge() : this.handle(listener, req, Buffer.concat(chunks));
      this.respond(listener, req, res, reply);
    });
    req.on("error", () => res.destroy());
  }

  private tooLarge(): Reply {
    const error = { code: "RequestEntityTooLarge", message: `Request body is larger than ${this.maxBodyBytes} bytes.` };
    const requestId = randomUUID();
    return { status: 413, body: errorXml(error, requestId), requestId, errorCode: error.code };
  }

  /** Authenticates and dispatches one request; every outcome, refusals included, is a Reply. */
  private handle(listener: Listener, req: http.IncomingMessage, body: Buffer): Reply {
    const requestId = randomUUID();
    const target = req.url ?? "/";
    let action: string | undefined;
    let callerArn: string | undefined;
    try {
      const headers: HeaderPair[] = [];
      for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
        headers.push([req.rawHeaders[i] ?? "", req.rawHeaders[i + 1] ?? ""]);
      }
      const signatureSeen = /Signature=([0-9a-f]{64})/.exec(req.headers.authorization ?? "")?.[1];
      if (signatureSeen) this.secrets.add(signatureSeen);

      const params = this.params(target, req.headers["content-type"], body);
      action = params.get("Action") ?? undefined;
      const now = this.clock();
      const verdict = verifyRequest(
        { method: req.method ?? "GET", target, headers, body },
        (accessKeyId) => this.secretFor(accessKeyId),
        { now, maxSkewMs: this.maxSkewMs, expectedRegion: listener.region, expectedService: "sts" },
      );
      if (!verdict.ok) throw new StsError(verdict.status, verdict.code, verdict.message);
      const caller = this.identities.get(verdict.accessKeyId);
      if (!caller) throw new StsError(403, "InvalidClientTokenId", "The security token included in the request is invalid.");
      callerArn = caller.arn;

      if (action === undefined || action === "") throw new StsError(400, "MissingAction", "Missing Action");
      const version = params.get("Version") || "NO_VERSION_SPECIFIED";
      const handler = Object.hasOwn(ACTIONS, action) ? ACTIONS[action] : undefined;
      if (version !== STS_API_VERSION || !handler) {
        throw new StsError(400, "InvalidAction", `Could not find operation ${action} for version ${version}`);
      }
      const result = handler({ caller, params, requestId, now, roles: this.roles, issue: (id) => this.addIdentity(id) });
      return { status: 200, body: result.body, requestId, action, callerArn };
    } catch (err) {
      const e = err instanceof StsError ? err : new StsError(500, "InternalFailure", "An internal error occurred.", "Receiver");
      const reply: Reply = {
        status: e.status,
        body: errorXml({ code: e.code, message: e.message, type: e.type }, requestId),
        requestId,
        errorCode: e.code,
      };
      if (action !== undefined) reply.action = action;
      if (callerArn !== undefined) reply.callerArn = callerArn;
      return reply;
    }
  }

  /** Query parameters, plus form parameters from the body (awsQuery sends a form POST). */
  private params(target: string, contentType: string | undefined, body: Buffer): URLSearchParams {
    const params = new URLSearchParams(splitTarget(target).query);
    if (body.length > 0 && (contentType ?? "").toLowerCase().startsWith("application/x-www-form-urlencoded")) {
      for (const [k, v] of new URLSearchParams(body.toString("utf8"))) params.append(k, v);
    }
    return params;
  }

  private secretFor(accessKeyId: string): SigningSecret | undefined {
    const id = this.identities.get(accessKeyId);
    if (!id) return undefined;
    const secret: SigningSecret = { secretAccessKey: id.secretAccessKey };
    if (id.sessionToken !== undefined) secret.sessionToken = id.sessionToken;
    if (id.expiresAt !== undefined) secret.expiresAt = id.expiresAt;
    return secret;
  }

  private respond(listener: Listener, req: http.IncomingMessage, res: http.ServerResponse, reply: Reply): void {
    const record: StsRequestRecord = {
      at: epochMs(),
      action: reply.action,
      hostHeader: req.headers.host,
      path: splitTarget(req.url ?? "/").path,
      region: listener.region,
      listenerUrl: listener.url,
      status: reply.status,
    };
    if (reply.callerArn !== undefined) record.callerArn = reply.callerArn;
    if (reply.errorCode !== undefined) record.errorCode = reply.errorCode;
    this.requests.push(record);

    res.writeHead(reply.status, {
      "Content-Type": "text/xml",
      "Content-Length": Buffer.byteLength(reply.body),
      "x-amzn-RequestId": reply.requestId ?? randomUUID(),
    });
    res.end(reply.body);
  }
}
