/**
 * Loader for the AWS SigV4 test-suite vectors in aws-sigv4-testsuite.json, and a parser for the suite's
 * request text format (`METHOD target HTTP/1.1`, `Name:value` lines, a blank line, the body).
 */
import { readFileSync } from "node:fs";
import type { HeaderPair, SignableRequest } from "../sigv4.ts";

export interface SuiteVector {
  name: string;
  group: "basic" | "normalize-path" | "post-sts-token";
  /** The request as it was signed (.req). */
  req: string;
  /** Expected canonical request (.creq). */
  creq: string;
  /** Expected string to sign (.sts). */
  sts: string;
  /** Expected Authorization header value (.authz). */
  authz: string;
  /** The signed request as sent (.sreq); for post-sts-header-after the token is added after signing. */
  sreq: string;
}

export interface DoubleEncodedVector {
  name: string;
  method: string;
  target: string;
  headers: Array<[string, string]>;
  signedHeaders: string[];
  creq: string;
  sts: string;
  authz: string;
}

export interface SuiteFile {
  credentials: { accessKeyId: string; secretAccessKey: string };
  region: string;
  service: string;
  amzDate: string;
  sessionToken: string;
  vectors: SuiteVector[];
  doubleEncodedPaths: {
    credentials: { accessKeyId: string; secretAccessKey: string };
    region: string;
    service: string;
    amzDate: string;
    vectors: DoubleEncodedVector[];
  };
}

export function loadSuite(): SuiteFile {
  const url = new URL("./aws-sigv4-testsuite.json", import.meta.url);
  return JSON.parse(readFileSync(url, "utf8")) as SuiteFile;
}

/** Parses the suite's request text into the shape the verifier takes. */
export function parseSuiteRequest(text: string): SignableRequest {
  const blank = text.indexOf("\n\n");
  const head = blank < 0 ? text : text.slice(0, blank);
  const body = blank < 0 ? "" : text.slice(blank + 2);
  const lines = head.split("\n");
  const requestLine = lines.shift() ?? "";
  const m = /^(\S+) (.*) HTTP\/1\.1$/.exec(requestLine);
  if (!m) throw new Error(`not a request line: ${JSON.stringify(requestLine)}`);
  const headers: HeaderPair[] = [];
  for (const line of lines) {
    const colon = line.indexOf(":");
    if (colon <= 0) throw new Error(`not a header line: ${JSON.stringify(line)}`);
    headers.push([line.slice(0, colon), line.slice(colon + 1)]);
  }
  return { method: m[1] ?? "", target: m[2] ?? "", headers, body };
}

/** The `Signature=` value of an Authorization header. */
export function signatureOf(authz: string): string {
  const m = /Signature=([0-9a-f]{64})/.exec(authz);
  if (!m?.[1]) throw new Error(`no signature in ${authz}`);
  return m[1];
}

/** The `SignedHeaders=` names of an Authorization header. */
export function signedHeadersOf(authz: string): string[] {
  const m = /SignedHeaders=([^,\s]+)/.exec(authz);
  if (!m?.[1]) throw new Error(`no SignedHeaders in ${authz}`);
  return m[1].split(";");
}
