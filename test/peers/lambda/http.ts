/** Small HTTP helpers for the emulated Lambda APIs (error bodies shaped as the real API's). */
import type { IncomingMessage, ServerResponse } from "node:http";

/** Largest body accepted (Lambda's synchronous response limit is 6 MB; leave room to detect it). */
export const MAX_BODY_BYTES = 7 * 1024 * 1024;

export class BodyTooLarge extends Error {}

/** Reads the whole request body, bounded by MAX_BODY_BYTES. Rejects on a broken connection. */
export function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLarge(`body over ${MAX_BODY_BYTES} bytes`));
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
    req.on("aborted", () => reject(new Error("request aborted")));
  });
}

/** Sends a JSON answer; a no-op when the client is already gone. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.writableEnded || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** The real APIs answer errors as `{"errorMessage": ..., "errorType": ...}`. */
export function sendError(res: ServerResponse, status: number, errorType: string, errorMessage: string): void {
  sendJson(res, status, { errorMessage, errorType });
}

/** `202 {"status":"OK"}`, as the real API answers accepted posts. */
export function sendAccepted(res: ServerResponse): void {
  sendJson(res, 202, { status: "OK" });
}

export function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s === "" ? undefined : s;
}

/** Parses JSON, or returns undefined. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
