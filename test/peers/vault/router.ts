/**
 * Request routing, as Vault's HTTP layer and router do it:
 * method → operation; JSON body or query → data; namespace resolution (`X-Vault-Namespace`
 * header + path prefix); sealed check; token check (403 `permission denied`); then dispatch to
 * `sys/`, `auth/token/`, an auth mount or a secrets mount, or 404
 * `no handler for route "<path>". route entry not found.`
 */
import type { IncomingHttpHeaders } from "node:http";
import { badRequest, noHandlerForRoute, permissionDenied, VaultHttpError } from "./errors.ts";
import type { AuthMountEntry, MountEntry, NamespaceState, TokenEntry, VaultState } from "./state.ts";
import type { SysBackend } from "./sys.ts";
import { handleTokenPath } from "./token-store.ts";
import type { HandlerResult, Operation, VaultRequest } from "./types.ts";

export interface RawRequest {
  method: string;
  /** URL path after "/v1/", percent-decoded, without the query string. */
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: Buffer;
  remoteAddress: string;
}

export interface RouteOutcome {
  result: HandlerResult;
  /** Accessor of the authenticated token, for the request log. */
  tokenAccessor?: string;
  /** True for HEAD requests: the body must not be sent. */
  head?: boolean;
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** "team1", "/team1/", " team1 " → "team1/"; empty → "". */
export function normalizeNamespace(raw: string | undefined): string {
  const t = (raw ?? "").trim().replace(/^\/+|\/+$/g, "");
  return t === "" ? "" : `${t}/`;
}

function operationFor(method: string, query: URLSearchParams): Operation | "head" | undefined {
  switch (method) {
    case "GET": {
      const list = query.get("list");
      return list !== null && ["1", "t", "true", "True", "TRUE"].includes(list) ? "list" : "read";
    }
    case "LIST":
      return "list";
    case "HEAD":
      return "head";
    case "POST":
    case "PUT":
      return "update";
    case "DELETE":
      return "delete";
    case "PATCH":
      return "patch";
    default:
      return undefined;
  }
}

function queryData(query: URLSearchParams): Record<string, unknown> {
  const data: Record<string, unknown> = {};
  for (const key of new Set(query.keys())) {
    if (key === "list") continue;
    const all = query.getAll(key);
    data[key] = all.length === 1 ? all[0] : all;
  }
  return data;
}

function parseBody(body: Buffer): Record<string, unknown> {
  const text = body.toString("utf8");
  if (text.trim() === "") return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw badRequest(`failed to parse JSON input: ${(e as Error).message}`);
  }
  if (parsed === null) return {};
  if (typeof parsed !== "object" || Array.isArray(parsed)) {
    const kind = Array.isArray(parsed) ? "array" : typeof parsed === "number" ? "number" : typeof parsed;
    throw badRequest(`failed to parse JSON input: json: cannot unmarshal ${kind} into Go value of type map[string]interface {}`);
  }
  return parsed as Record<string, unknown>;
}

function longestMount<T extends { path: string }>(mounts: Iterable<T>, path: string): T | undefined {
  let best: T | undefined;
  for (const m of mounts) {
    const matches = path.startsWith(m.path) || `${path}/` === m.path;
    if (matches && (!best || m.path.length > best.path.length)) best = m;
  }
  return best;
}

export class VaultRouter {
  constructor(
    private readonly state: VaultState,
    private readonly sys: SysBackend,
  ) {}

  async route(raw: RawRequest): Promise<RouteOutcome> {
    const op = operationFor(raw.method, raw.query);
    if (op === undefined) throw new VaultHttpError(405, []);
    const nsHeader = normalizeNamespace(headerValue(raw.headers, "x-vault-namespace"));
    const fullPath = `${nsHeader}${raw.path}`;
    const { ns, rel } = this.state.resolve(fullPath);

    const unauthenticated = rel === "sys/health" || rel === "sys/seal-status";
    if (op === "head" && rel !== "sys/health") throw new VaultHttpError(405, []);
    if (this.state.sealed && !unauthenticated) throw new VaultHttpError(503, ["Vault is sealed"]);

    const data = op === "update" || op === "patch" ? parseBody(raw.body) : queryData(raw.query);
    if (headerValue(raw.headers, "x-vault-wrap-ttl") !== undefined && !unauthenticated) {
      throw badRequest("wrapping not supported by the test server");
    }

    const loginMount = this.loginMount(ns, rel);
    let token: TokenEntry | undefined;
    if (!unauthenticated && !loginMount) token = this.authenticate(raw.headers, ns);

    const req: VaultRequest = {
      method: raw.method,
      op: op === "head" ? "read" : op,
      fullPath,
      relPath: rel,
      ns,
      data,
      query: raw.query,
      token,
      remoteAddress: raw.remoteAddress,
      headers: raw.headers,
      state: this.state,
    };
    const outcome: RouteOutcome = { result: await this.dispatch(req, loginMount) };
    if (token) outcome.tokenAccessor = token.accessor;
    if (op === "head") outcome.head = true;
    return outcome;
  }

  /** The AWS auth mount if `rel` is its login path (the only unauthenticated auth path). */
  private loginMount(ns: NamespaceState, rel: string): AuthMountEntry | undefined {
    if (!rel.startsWith("auth/") || !rel.endsWith("/login")) return undefined;
    const mountPath = rel.slice("auth/".length, -"login".length);
    return ns.authMounts.get(mountPath);
  }

  private authenticate(headers: IncomingHttpHeaders, ns: NamespaceState): TokenEntry {
    let id = headerValue(headers, "x-vault-token");
    if (id === undefined || id === "") {
      const authz = headerValue(headers, "authorization");
      const m = authz ? /^Bearer\s+(.+)$/i.exec(authz) : null;
      id = m?.[1]?.trim();
    }
    if (!id) throw permissionDenied();
    const token = this.state.liveToken(id, Date.now());
    // A token is valid in the namespace it was issued in and in that namespace's descendants.
    if (!token || !token.namespace.contains(ns)) throw permissionDenied();
    return token;
  }

  private async dispatch(req: VaultRequest, loginMount: AuthMountEntry | undefined): Promise<HandlerResult> {
    const rel = req.relPath;
    if (loginMount) return loginMount.backend.handle(req, loginMount, "login");
    if (rel.startsWith("sys/")) return this.sys.handle(req, rel.slice("sys/".length));
    if (rel === "auth/token" || rel.startsWith("auth/token/")) return handleTokenPath(req, rel.slice("auth/token/".length));
    if (rel.startsWith("auth/")) {
      const after = rel.slice("auth/".length);
      const mount = longestMount(req.ns.authMounts.values(), after);
      if (!mount) throw noHandlerForRoute(req.fullPath);
      return mount.backend.handle(req, mount, after.slice(mount.path.length));
    }
    const mount: MountEntry | undefined = longestMount(req.ns.mounts.values(), rel);
    if (!mount) throw noHandlerForRoute(req.fullPath);
    if (!req.token) throw permissionDenied();
    return mount.engine.handle({ ...req, mount, subPath: rel.slice(mount.path.length), token: req.token });
  }
}
