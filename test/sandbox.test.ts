/**
 * `npm run sandbox`: the STS and Vault test servers, seeded from sandbox/seed.json, announced in
 * one JSON line, usable by anything that speaks Vault's API, and gone on SIGTERM.
 */
import { spawn } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import aws4 from "aws4";
import { expect, it } from "vitest";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

it("prints one JSON line with the servers and identities, serves a real IAM login, and exits on SIGTERM", async () => {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(root, "scripts/sandbox.ts")], { cwd: root, stdio: ["ignore", "pipe", "inherit"] });
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("no line from the sandbox within 15 s")), 15_000);
      readline.createInterface({ input: child.stdout! }).once("line", (l) => {
        clearTimeout(timer);
        resolve(l);
      });
      child.once("exit", (code) => reject(new Error(`sandbox exited early with ${code}`)));
    });
    const info = JSON.parse(line) as { vaultAddr: string; rootToken: string; stsEndpoint: string; identities: Array<{ arn: string; accessKeyId: string; secretAccessKey: string; sessionToken: string }> };
    expect(info.vaultAddr).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(info.stsEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const id = info.identities[0]!;
    expect(id.arn).toBe("arn:aws:sts::123456789012:assumed-role/example-fn-role/example-fn");

    // A login as any Vault client would make it, signed by an independent signer.
    const body = "Action=GetCallerIdentity&Version=2011-06-15";
    const signed = aws4.sign(
      { host: "sts.amazonaws.com", path: "/", method: "POST", body, service: "sts", region: "us-east-1", headers: { "Content-Type": "application/x-www-form-urlencoded; charset=utf-8" } },
      { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken },
    );
    const headers = Object.fromEntries(Object.entries(signed.headers ?? {}).map(([k, v]) => [k, [String(v)]]));
    const b64 = (s: string) => Buffer.from(s).toString("base64");
    const res = await fetch(`${info.vaultAddr}/v1/auth/aws/login`, {
      method: "POST",
      body: JSON.stringify({ role: "example-fn-role", iam_http_request_method: "POST", iam_request_url: b64("https://sts.amazonaws.com/"), iam_request_body: b64(body), iam_request_headers: b64(JSON.stringify(headers)) }),
    });
    const login = (await res.json()) as { auth: { client_token: string; policies: string[] } };
    expect(res.status).toBe(200);
    expect(login.auth.policies).toContain("example-app");
    const kv = await fetch(`${info.vaultAddr}/v1/secret/data/example/config`, { headers: { "x-vault-token": login.auth.client_token } });
    expect(((await kv.json()) as { data: { data: Record<string, string> } }).data.data.api_key).toBe("sandbox-api-key");
  } finally {
    child.kill("SIGTERM");
    const code = await new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once("exit", (c) => resolve(c))));
    expect(code).toBe(0);
  }
}, 30_000);
