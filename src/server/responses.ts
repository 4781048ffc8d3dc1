/**
 * Writing answers: JSON bodies, Vault's error envelope, the cache headers, and the 502/504 for a
 * value that could not be had from Vault.
 */
import type { ServerResponse } from "node:http";
import type { CacheStatus, ErrorBody } from "../client/wire.ts";
import { describe, kindOf, VaultError } from "../errors.ts";
import type { Redactor } from "../log.ts";

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  sendJsonText(res, status, JSON.stringify(body), headers);
}

/** A body already in JSON (`/health` scrubs its text before sending it). */
export function sendJsonText(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(text)),
    "cache-control": "no-store",
    ...headers,
  });
  res.end(text);
}

/** The message of each error answer, for the warning the server logs about it. */
const reasons = new WeakMap<ServerResponse, string>();

/** The redactor of each response's error body; the server binds it to every response it is handed. */
const redactors = new WeakMap<ServerResponse, Pick<Redactor, "scrub">>();

/** Every error body sent on `res` goes through `redactor`: Vault's reasons may echo a token or a value. */
export function redactErrors(res: ServerResponse, redactor: Pick<Redactor, "scrub">): void {
  redactors.set(res, redactor);
}

/** Vault's answer as the proxy relays it: an error body (4xx, 5xx) is scrubbed like ours, a success is the caller's payload. */
export function relayedBody(res: ServerResponse, status: number, body: Buffer): Buffer {
  if (status < 400) return body;
  const redactor = redactors.get(res);
  if (!redactor) return Buffer.from(JSON.stringify({ errors: [`Vault answered ${status} (details withheld: no redactor)`] }));
  const text = body.toString("utf8");
  const scrubbed = redactor.scrub(text);
  return scrubbed === text ? body : Buffer.from(scrubbed);
}

/** An error answer; its message is scrubbed, and withheld when no redactor was bound to `res` (never sent unscrubbed). */
export function sendError(res: ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  const redactor = redactors.get(res);
  const said = redactor ? redactor.scrub(message) : `error ${status} (details withheld: no redactor)`;
  reasons.set(res, said);
  const body: ErrorBody = { errors: [said] };
  sendJson(res, status, body, headers);
}

/** Maps a failure to reach a servable value to 504 (timeout) or 502, with Vault's reason. */
export function sendVaultFailure(res: ServerResponse, what: string, err: unknown): void {
  if (kindOf(err) === "timeout") sendError(res, 504, `timed out reading ${what} from Vault: ${describe(err)}`);
  else if (err instanceof VaultError) sendError(res, 502, `Vault error reading ${what}: ${err.reason}`);
  else sendError(res, 502, `could not read ${what} from Vault: ${describe(err)}`);
}

/** `X-Cache` and `Age` (whole seconds since the value was read). */
export function cacheHeaders(status: CacheStatus, readAt: number, now = Date.now()): { "x-cache": CacheStatus; age: string } {
  return { "x-cache": status, age: String(Math.max(0, Math.floor((now - readAt) / 1000))) };
}

/** Why an error was answered: our message, or Vault's status passed through by the proxy. */
export function answerReason(res: ServerResponse): string {
  return reasons.get(res) ?? `Vault answered ${res.statusCode} (passed through)`;
}
