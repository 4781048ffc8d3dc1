// The credentials a login is signed with (README, "Execution modes": "AWS credentials"): the environment's keys, else
// the container-credentials endpoint, asked over a real socket on 127.0.0.1.
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { CredentialsProvider } from "../../src/aws/credentials.ts";
import type { AwsCredentials } from "../../src/aws/sts-endpoint.ts";
import { Redactor } from "../../src/log.ts";

const TOKEN = "container-authorization-token-0123456789";
const ENV_KEYS: AwsCredentials = { accessKeyId: "ASIAENVIRONMENTKEY01", secretAccessKey: "environment-secret-key-0123456789", sessionToken: "environment-session-token" };

interface Endpoint {
  uri: string;
  requests: http.IncomingHttpHeaders[];
  answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
}

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function endpoint(answer: Endpoint["answer"]): Promise<Endpoint> {
  const ep: Endpoint = { uri: "", requests: [], answer };
  const server = http.createServer((req, res) => {
    ep.requests.push(req.headers);
    ep.answer(req, res);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  ep.uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/2021-04-23/credentials`;
  return ep;
}

/** An endpoint like Lambda's: a new key pair on every answer, valid for an hour. */
function rotating(): Endpoint["answer"] {
  let n = 0;
  return (req, res) => {
    if (req.headers.authorization !== TOKEN) {
      res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ message: "cannot get credentials for the provided token" }));
      return;
    }
    n += 1;
    const expiration = new Date(Date.now() + 3_600_000).toISOString();
    res
      .writeHead(200, { "content-type": "application/json" })
      .end(JSON.stringify({ AccessKeyId: `ASIAROTATING${String(n).padStart(8, "0")}`, SecretAccessKey: `rotating-secret-${n}-abcdef`, Token: `rotating-token-${n}-abcdef`, Expiration: expiration }));
  };
}

function errorOf(p: Promise<unknown>): Promise<Error & { kind?: string }> {
  return p.then(
    () => {
      throw new Error("expected a failure");
    },
    (err: unknown) => err as Error & { kind?: string },
  );
}

describe("CredentialsProvider", () => {
  it("uses the environment's keys when set, registering them at once, and never asks the endpoint", async () => {
    const ep = await endpoint(rotating());
    const redactor = new Redactor();
    const provider = new CredentialsProvider({ environment: ENV_KEYS, container: { uri: ep.uri, authorizationToken: TOKEN } }, { timeoutMs: 1_000, redactor });
    expect(redactor.scrub(`${ENV_KEYS.accessKeyId} ${ENV_KEYS.secretAccessKey} ${ENV_KEYS.sessionToken} ${TOKEN}`)).toBe("[redacted] [redacted] [redacted] [redacted]");
    expect(await provider.credentials()).toEqual(ENV_KEYS);
    expect(ep.requests).toHaveLength(0);
  });

  it("fetches from the endpoint for every login, with the raw token in Authorization, and registers each set as it arrives", async () => {
    const ep = await endpoint(rotating());
    const redactor = new Redactor();
    const provider = new CredentialsProvider({ container: { uri: ep.uri, authorizationToken: TOKEN } }, { timeoutMs: 1_000, redactor });
    const first = await provider.credentials();
    const second = await provider.credentials();
    expect(first).toMatchObject({ accessKeyId: "ASIAROTATING00000001", secretAccessKey: "rotating-secret-1-abcdef", sessionToken: "rotating-token-1-abcdef" });
    expect(first.expiration).toBeInstanceOf(Date);
    expect(second.accessKeyId).toBe("ASIAROTATING00000002");
    expect(ep.requests.map((h) => h.authorization)).toEqual([TOKEN, TOKEN]);
    for (const c of [first, second]) expect(redactor.scrub(`${c.secretAccessKey} ${c.sessionToken}`)).toBe("[redacted] [redacted]");
  });

  it("refuses credentials past their Expiration, naming both sources", async () => {
    const ep = await endpoint((_req, res) =>
      res.writeHead(200).end(JSON.stringify({ AccessKeyId: "ASIAEXPIRED", SecretAccessKey: "expired-secret-abcdef", Token: "expired-token-abcdef", Expiration: "2020-01-01T00:00:00Z" })),
    );
    const err = await errorOf(new CredentialsProvider({ container: { uri: ep.uri, authorizationToken: TOKEN } }, { timeoutMs: 1_000, redactor: new Redactor() }).credentials());
    expect(err.kind).toBe("auth");
    expect(err.message).toContain("AWS_ACCESS_KEY_ID is not set");
    expect(err.message).toContain(`AWS_CONTAINER_CREDENTIALS_FULL_URI (${ep.uri}) answered credentials that expired at 2020-01-01T00:00:00.000Z`);
    expect(err.message).not.toContain("expired-secret");
  });

  it("a wrong token: the endpoint's 404 and its reason, a hint, never the token", async () => {
    const ep = await endpoint(rotating());
    const err = await errorOf(new CredentialsProvider({ container: { uri: ep.uri, authorizationToken: "not-the-token-0123456789" } }, { timeoutMs: 1_000, redactor: new Redactor() }).credentials());
    expect(err.message).toContain("answered 404 (cannot get credentials for the provided token)");
    expect(err.message).toContain("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    expect(err.message).not.toContain("not-the-token-0123456789");
  });

  it("an error answer that echoes the token does not carry it into the message", async () => {
    const ep = await endpoint((req, res) => res.writeHead(500).end(`bad token ${String(req.headers.authorization)}`));
    const err = await errorOf(new CredentialsProvider({ container: { uri: ep.uri, authorizationToken: TOKEN } }, { timeoutMs: 1_000, redactor: new Redactor() }).credentials());
    expect(err.message).toContain("answered 500 (bad token [redacted])");
    expect(err.message).not.toContain(TOKEN);
  });

  it.each([
    ["not JSON", "<html>", "something that is not JSON"],
    ["no AccessKeyId", JSON.stringify({ SecretAccessKey: "s-abcdef" }), 'JSON without "AccessKeyId"'],
    ["no SecretAccessKey", JSON.stringify({ AccessKeyId: "A" }), 'JSON without "SecretAccessKey"'],
    ["a bad Expiration", JSON.stringify({ AccessKeyId: "A", SecretAccessKey: "s-abcdef", Expiration: "soon" }), 'JSON whose "Expiration" is not a time'],
  ])("an answer with %s is refused, saying what was wrong", async (_name, body, said) => {
    const ep = await endpoint((_req, res) => res.writeHead(200).end(body));
    const err = await errorOf(new CredentialsProvider({ container: { uri: ep.uri } }, { timeoutMs: 1_000, redactor: new Redactor() }).credentials());
    expect(err.message).toContain(`answered ${said}`);
  });

  it("an endpoint that does not answer: bounded by the timeout and by the deadline", async () => {
    const ep = await endpoint(() => undefined);
    const t0 = Date.now();
    const slow = await errorOf(new CredentialsProvider({ container: { uri: ep.uri } }, { timeoutMs: 60_000, redactor: new Redactor() }).credentials(t0 + 200));
    expect(slow.message).toMatch(/could not be asked: .*no answer within \d+ ms/);
    expect(Date.now() - t0).toBeLessThan(30_000);
  });

  it("an endpoint nobody listens on: the connection error, naming both sources", async () => {
    const ep = await endpoint(() => undefined);
    await new Promise((r) => servers.pop()!.close(r));
    const err = await errorOf(new CredentialsProvider({ container: { uri: ep.uri } }, { timeoutMs: 1_000, redactor: new Redactor() }).credentials());
    expect(err.message).toMatch(/AWS_ACCESS_KEY_ID is not set, and the container-credentials endpoint AWS_CONTAINER_CREDENTIALS_FULL_URI \(.*\) could not be asked: .*ECONNREFUSED/);
  });

  it("neither source: says so", async () => {
    const err = await errorOf(new CredentialsProvider({}, { timeoutMs: 1_000, redactor: new Redactor() }).credentials());
    expect(err.message).toContain("AWS_ACCESS_KEY_ID is not set, and AWS_CONTAINER_CREDENTIALS_FULL_URI is not set either");
  });
});
