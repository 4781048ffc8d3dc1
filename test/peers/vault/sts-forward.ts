/**
 * Forwarding of the signed GetCallerIdentity request to STS, as Vault's AWS auth method does it
 * (`buildHttpRequest` + `submitCallerIdentityRequest`, see vault-wire-protocol.md §1.3):
 *
 * - URL `<endpoint>/<client RequestURI>` (so the default URL yields a double slash `//`);
 * - `Host` = the client URL's host (not the endpoint's), every client header copied except the
 *   ones Go's client writes itself (Host, Content-Length, Transfer-Encoding, Trailer);
 * - the client's body; no redirects followed;
 * - go-retryablehttp retries on connection errors, 429 and 5xx except 501. Deviation: the waits
 *   are 50 ms then 100 ms (Vault waits 0.5–30 s) so tests stay fast; Retry-After is ignored;
 * - response checks in Vault's order: Content-Type exactly `text/xml`, status 200, XML body.
 *
 * Errors are thrown as `Error` whose message is what Vault puts after
 * `error making upstream request: `.
 */
import { request as httpRequest, STATUS_CODES, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { sleep } from "./clock.ts";
import type { GoHeader } from "./iam-headers.ts";

export interface CallerIdentity {
  arn: string;
  userId: string;
  account: string;
}

export interface StsForwardInput {
  /** Vault's endpoint, e.g. "https://sts.amazonaws.com" or the STS test server URL. */
  endpoint: string;
  /** Always "POST" here. */
  method: string;
  /** `parsedUrl.RequestURI()` of the client's URL. */
  requestUri: string;
  /** `parsedUrl.Host` of the client's URL ("" for a relative URL). */
  host: string;
  body: string;
  headers: GoHeader;
  /** go-retryablehttp RetryMax. */
  maxRetries: number;
}

const RETRY_WAITS_MS = [50, 100];
const REQUEST_TIMEOUT_MS = 20_000;
/** Headers Go's http.Client never copies from `req.Header` (it writes its own). */
const NOT_COPIED = new Set(["Host", "Content-Length", "Transfer-Encoding", "Trailer"]);

interface RawResponse {
  status: number;
  contentType: string;
  body: string;
}

class ConnectionError extends Error {}

function sendOnce(target: URL, targetText: string, input: StsForwardInput): Promise<RawResponse> {
  const headers: Record<string, string | string[]> = {};
  for (const [k, values] of input.headers) {
    if (NOT_COPIED.has(k)) continue;
    headers[k] = values.length === 1 ? (values[0] as string) : values;
  }
  if (headers["User-Agent"] === undefined) headers["User-Agent"] = "Go-http-client/1.1";
  headers["Host"] = input.host !== "" ? input.host : target.host;
  headers["Content-Length"] = String(Buffer.byteLength(input.body));
  const send = target.protocol === "https:" ? httpsRequest : httpRequest;
  return new Promise<RawResponse>((resolve, reject) => {
    let req;
    try {
      req = send(
        {
          protocol: target.protocol,
          hostname: target.hostname.replace(/^\[|\]$/g, ""),
          port: target.port,
          method: input.method,
          path: `${target.pathname}${target.search}`,
          headers,
          agent: false,
          timeout: REQUEST_TIMEOUT_MS,
        },
        (res: IncomingMessage) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () =>
            resolve({
              status: res.statusCode ?? 0,
              contentType: String(res.headers["content-type"] ?? ""),
              body: Buffer.concat(chunks).toString("utf8"),
            }),
          );
          res.on("error", (e) => reject(new ConnectionError(`${e.message}`)));
        },
      );
    } catch (e) {
      reject(new ConnectionError(`Post ${JSON.stringify(targetText)}: ${(e as Error).message}`));
      return;
    }
    req.on("timeout", () => req.destroy(new Error("context deadline exceeded")));
    req.on("error", (e: NodeJS.ErrnoException) => {
      const hostPort = `${target.hostname}:${target.port || (target.protocol === "https:" ? "443" : "80")}`;
      const detail = e.code === "ECONNREFUSED" ? `dial tcp ${hostPort}: connect: connection refused` : e.message;
      reject(new ConnectionError(`Post ${JSON.stringify(targetText)}: ${detail}`));
    });
    req.end(input.body);
  });
}

/** go-retryablehttp DefaultRetryPolicy for a response status. */
function retryableStatus(status: number): boolean {
  return status === 429 || status === 0 || (status >= 500 && status !== 501);
}

/** Sends the request with retries; returns the final response or throws Vault's error text. */
async function sendWithRetries(input: StsForwardInput): Promise<RawResponse> {
  const targetText = `${input.endpoint}/${input.requestUri}`;
  let target: URL;
  try {
    target = new URL(targetText);
  } catch {
    throw new Error(`error making request: parse ${JSON.stringify(targetText)}: invalid URL`);
  }
  const attempts = Math.max(0, input.maxRetries) + 1;
  let lastError: ConnectionError | undefined;
  let lastStatus: RawResponse | undefined;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    lastError = undefined;
    lastStatus = undefined;
    try {
      const res = await sendOnce(target, targetText, input);
      if (!retryableStatus(res.status)) return res;
      lastStatus = res;
    } catch (e) {
      if (!(e instanceof ConnectionError)) throw e;
      lastError = e;
    }
    if (attempt < attempts) await sleep(RETRY_WAITS_MS[Math.min(attempt - 1, RETRY_WAITS_MS.length - 1)] ?? 100);
  }
  const prefix = `error making request: POST ${targetText} giving up after ${attempts} attempt(s)`;
  if (lastError) throw new Error(`${prefix}: ${lastError.message}`);
  if (lastStatus && lastStatus.status !== 429) {
    throw new Error(`${prefix}: unexpected HTTP status ${lastStatus.status} ${STATUS_CODES[lastStatus.status] ?? ""}`.trimEnd());
  }
  throw new Error(prefix);
}

function decodeXmlText(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#x[0-9a-fA-F]+|#[0-9]+);/g, (_m, ent: string) => {
    switch (ent) {
      case "lt":
        return "<";
      case "gt":
        return ">";
      case "amp":
        return "&";
      case "quot":
        return '"';
      case "apos":
        return "'";
      default:
        return String.fromCodePoint(ent.startsWith("#x") ? Number.parseInt(ent.slice(2), 16) : Number.parseInt(ent.slice(1), 10));
    }
  });
}

function childText(xml: string, name: string): string {
  const m = new RegExp(`<(?:[A-Za-z_][\\w.-]*:)?${name}(?:\\s[^>]*)?>([\\s\\S]*?)</(?:[A-Za-z_][\\w.-]*:)?${name}\\s*>`).exec(xml);
  if (!m) return "";
  if (/<(?!!\[CDATA\[)/.test(m[1] ?? "")) throw new Error("nested element");
  return decodeXmlText(m[1] ?? "");
}

/**
 * `parseGetCallerIdentityResponse`: the trimmed body must start with `<GetCallerIdentityResponse`
 * or `<?xml`, and decode as a GetCallerIdentityResponse document. Throws on any failure.
 */
export function parseGetCallerIdentityResponse(body: string): CallerIdentity {
  const t = body.trim();
  if (!t.startsWith("<GetCallerIdentityResponse") && !t.startsWith("<?xml")) throw new Error("invalid");
  let rest = t.replace(/^<\?xml[\s\S]*?\?>/, "");
  rest = rest.replace(/<!--[\s\S]*?-->/g, "").trim();
  const root = /^<(?:[A-Za-z_][\w.-]*:)?([A-Za-z_][\w.-]*)(?:\s[^>]*)?>/.exec(rest);
  if (!root || root[1] !== "GetCallerIdentityResponse") throw new Error("expected element type <GetCallerIdentityResponse>");
  if (!/<\/(?:[A-Za-z_][\w.-]*:)?GetCallerIdentityResponse\s*>\s*$/.test(rest)) throw new Error("unexpected EOF");
  const result = /<(?:[A-Za-z_][\w.-]*:)?GetCallerIdentityResult(?:\s[^>]*)?>([\s\S]*?)<\/(?:[A-Za-z_][\w.-]*:)?GetCallerIdentityResult\s*>/.exec(rest);
  // Vault indexes GetCallerIdentityResult[0] unchecked; a document without one is treated as unparseable here.
  if (!result) throw new Error("no GetCallerIdentityResult");
  const inner = result[1] ?? "";
  return { arn: childText(inner, "Arn"), userId: childText(inner, "UserId"), account: childText(inner, "Account") };
}

/** Forwards to STS and returns the caller identity, or throws with Vault's error detail. */
export async function submitCallerIdentityRequest(input: StsForwardInput): Promise<CallerIdentity> {
  const res = await sendWithRetries(input);
  if (res.contentType !== "text/xml") throw new Error("body of GetCallerIdentity is invalid");
  if (res.status !== 200) throw new Error(`received error code ${res.status} from STS: ${res.body}`);
  try {
    return parseGetCallerIdentityResponse(res.body);
  } catch {
    throw new Error("error parsing STS response");
  }
}
