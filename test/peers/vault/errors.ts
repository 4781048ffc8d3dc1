import { goQuote } from "./go-compat.ts";
import { uuid } from "./ids.ts";

/**
 * Vault's error envelope: `{"errors": [...]}` with the status code Vault's HTTP layer would pick
 * (see vault-wire-protocol.md §0). Handlers throw these; the server turns them into responses.
 */
export class VaultHttpError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
    /** A complete response body to send instead of the bare envelope (KV v2 deleted versions). */
    readonly body?: unknown,
  ) {
    super(errors.join("; ") || `HTTP ${status}`);
  }
}

/** A backend `ErrorResponse` or `ErrInvalidRequest` → 400. */
export function badRequest(message: string): VaultHttpError {
  return new VaultHttpError(400, [message]);
}

/** Bad, expired or revoked token, or a denied path → 403. */
export function permissionDenied(): VaultHttpError {
  return new VaultHttpError(403, ["permission denied"]);
}

/** A read that found nothing → 404 with an empty error list. */
export function notFound(): VaultHttpError {
  return new VaultHttpError(404, []);
}

/** A path inside a mount that the backend has no route for → 404. */
export function unsupportedPath(): VaultHttpError {
  return new VaultHttpError(404, ["unsupported path"]);
}

/** No mount matches the request path → 404 with Vault's router wording. */
export function noHandlerForRoute(path: string): VaultHttpError {
  return new VaultHttpError(404, [`no handler for route ${goQuote(path)}. route entry not found.`]);
}

/**
 * A Go error returned by a handler (not a logical error response) reaches the client through the
 * core's go-multierror: `1 error occurred:\n\t* <text>\n\n` (seen on OpenBao, as on Vault).
 */
export function goError(message: string): string {
  return `1 error occurred:\n\t* ${message}\n\n`;
}

/** The path exists but not for this operation → 405 (logical.ErrUnsupportedOperation, a Go error). */
export function unsupportedOperation(): VaultHttpError {
  return new VaultHttpError(405, [goError("unsupported operation")]);
}

/**
 * A KV v2 mount asked for a path outside data/, metadata/, delete/, undelete/, destroy/ → 404 whose
 * only words are a warning naming the CLI command to use instead (a full envelope, no errors).
 */
export function kvV2InvalidPath(op: string): VaultHttpError {
  const command = op === "read" ? "get" : op === "list" ? "list" : op === "delete" ? "delete" : "put";
  const warning = `Invalid path for a versioned K/V secrets engine. See the API docs for the appropriate API endpoints to use. If using the Vault CLI, use 'vault kv ${command}' for this operation.`;
  return new VaultHttpError(404, [], { request_id: uuid(), lease_id: "", renewable: false, lease_duration: 0, data: null, wrap_info: null, warnings: [warning], auth: null, mount_type: "" });
}

/** A Go error with no logical response → 500 with the error text. */
export function internalError(message: string): VaultHttpError {
  return new VaultHttpError(500, [message]);
}

/** The framework's field validation failure (`Field validation failed: ...`) → 400. */
export function fieldValidationFailed(field: string, detail: string): VaultHttpError {
  return badRequest(`Field validation failed: error converting input for field ${goQuote(field)}: ${detail}`);
}
