/**
 * The ways the Vault test server can misbehave on purpose, for the fault matrix
 * (docs/fault-matrix.md). `server.ts` matches a fault to a request (`VaultFault.path`, `method`,
 * `times`) and hands it to the functions here:
 *
 * - faults that answer INSTEAD of Vault (`hang`, `huge`, `redirect`): the request is never handled,
 *   so nothing is created in Vault;
 * - faults that spoil Vault's OWN answer (`resetMidAnswer`, `drip`, `rewrite`): the request is handled first
 *   (a token or a lease may be issued, a write is done), then the answer is cut or trickled, as when
 *   a connection dies between Vault and its client after Vault did the work.
 *
 * Nothing here allocates the size of a huge answer or keeps a timer once the client is gone.
 */
import type { IncomingMessage, ServerResponse } from "node:http";

/** The `errors` of an `echo` fault: the request as received, the IAM login's signed headers decoded. */
export function echoErrors(req: IncomingMessage, body: Buffer): string[] {
  const text = body.toString("utf8");
  const errors = [`request rejected: ${req.method} ${req.url} headers=${JSON.stringify(req.headers)} body=${text}`];
  try {
    const encoded = (JSON.parse(text) as { iam_request_headers?: unknown }).iam_request_headers;
    if (typeof encoded === "string") errors.push(`signed request headers: ${Buffer.from(encoded, "base64").toString("utf8")}`);
  } catch {
    // Not JSON: the raw body is echoed already.
  }
  return errors;
}

/** A fault applied to matching requests before they are handled. */
export interface VaultFault {
  /** Logical path without `/v1/` (exact string, with or without the namespace prefix), or a RegExp. */
  path: string | RegExp;
  /** HTTP method to match (any when omitted). */
  method?: string;
  /** Delay before the request is handled (or answered/dropped by this fault). */
  latencyMs?: number;
  /** How many requests the fault applies to; unlimited when omitted. */
  times?: number;
  /** Answer with this status and `{"errors": errors}` instead of handling the request. */
  status?: number;
  errors?: string[];
  /**
   * With `status`: the error message echoes what the client sent (its headers, its body, and the
   * IAM login's headers decoded), as some Vault errors and gateways do. Whatever the client puts in a
   * request then comes back in an error: the test of "no secret in any error body or log line".
   */
  echo?: boolean;
  /** Destroy the connection without answering (before handling the request). */
  drop?: boolean;
  /** Handle the request, send the status line, the headers and half the body, then reset the connection. */
  resetMidAnswer?: boolean;
  /** Handle the request, then send its body `bytes` bytes every `everyMs` ms (Content-Length announced up front). */
  drip?: { everyMs: number; bytes?: number };
  /** Handle the request, then answer `rewrite(Vault's JSON answer)` instead (e.g. an odd `lease_duration`). */
  rewrite?: (answer: any) => unknown;
  /** Never answer: the connection stays open until the client gives up or the server closes. */
  hang?: boolean;
  /** Answer 200 with a JSON body of this many bytes, streamed (never held in memory), instead of handling. */
  hugeBytes?: number;
  /** Answer this redirect instead of handling: `Location` = `<to>/v1/<path>` (status default 307). */
  redirect?: { to: string; status?: number };
}

/** True when the fault answers instead of Vault (the request is never handled). */
export function answersInstead(f: VaultFault): boolean {
  return f.hang === true || f.hugeBytes !== undefined || f.redirect !== undefined;
}

/** True when the fault spoils the answer Vault produced (the request is handled first). */
export function spoilsAnswer(f: VaultFault): boolean {
  return f.resetMidAnswer === true || f.drip !== undefined || f.rewrite !== undefined;
}

/** The answer of a fault that answers instead of Vault; resolves once the answer is over (or abandoned). */
export function answerInstead(f: VaultFault, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const closed = new Promise<void>((resolve) => res.once("close", () => resolve()));
  if (f.redirect) {
    const location = `${f.redirect.to.replace(/\/+$/, "")}/v1/${path}${new URL(req.url ?? "/", "http://x").search}`;
    const body = `<a href="${location}">Temporary Redirect</a>.\n`;
    res.writeHead(f.redirect.status ?? 307, { Location: location, "Content-Type": "text/html; charset=utf-8", "Content-Length": Buffer.byteLength(body) });
    res.end(body);
  } else if (f.hugeBytes !== undefined) {
    streamHuge(res, f.hugeBytes);
  }
  // `hang`: nothing is written; the connection ends when the client or the server closes it.
  return closed;
}

/** Writes Vault's answer (`answer`, as JSON) with `status`, spoiled as the fault says. */
export function spoilAnswer(f: VaultFault, res: ServerResponse, status: number, answer: unknown): void {
  const body = Buffer.from(`${JSON.stringify(f.rewrite ? f.rewrite(answer) : answer)}\n`);
  res.writeHead(status, { "Content-Type": "application/json", "Content-Length": body.length, "Cache-Control": "no-store" });
  if (!f.resetMidAnswer && !f.drip) {
    res.end(body);
    return;
  }
  if (f.resetMidAnswer) {
    res.write(body.subarray(0, Math.floor(body.length / 2)), () => res.socket?.resetAndDestroy());
    return;
  }
  const step = Math.max(1, f.drip?.bytes ?? 1);
  const every = f.drip?.everyMs ?? 100;
  let offset = 0;
  const tick = (): void => {
    if (res.destroyed || res.writableEnded) return;
    const chunk = body.subarray(offset, offset + step);
    offset += chunk.length;
    if (offset >= body.length) res.end(chunk);
    else res.write(chunk, () => setTimeout(tick, every).unref());
  };
  tick();
}

/** `{"data":{"pad":"aaaa…"}}` of exactly `total` bytes, written in 64 KiB chunks with backpressure. */
function streamHuge(res: ServerResponse, total: number): void {
  const head = Buffer.from('{"data":{"pad":"');
  const tail = Buffer.from('"}}');
  const fill = Math.max(0, total - head.length - tail.length);
  res.writeHead(200, { "Content-Type": "application/json", "Content-Length": head.length + fill + tail.length });
  res.write(head);
  const chunk = Buffer.alloc(64 * 1024, "a");
  let left = fill;
  const pump = (): void => {
    while (left > 0) {
      if (res.destroyed) return;
      const n = Math.min(left, chunk.length);
      left -= n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
        res.once("drain", pump);
        return;
      }
    }
    res.end(tail);
  };
  pump();
}
