import { goQuote } from "./go-compat.ts";

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

/** The path exists but not for this operation → 405. */
export function unsupportedOperation(): VaultHttpError {
  return new VaultHttpError(405, ["unsupported operation"]);
}

/** A Go error with no logical response → 500 with the error text. */
export function internalError(message: string): VaultHttpError {
  return new VaultHttpError(500, [message]);
}

/** The framework's field validation failure (`Field validation failed: ...`) → 400. */
export function fieldValidationFailed(field: string, detail: string): VaultHttpError {
  return badRequest(`Field validation failed: error converting input for field ${goQuote(field)}: ${detail}`);
}
