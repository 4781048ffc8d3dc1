/**
 * The order of the init steps against the Extensions API (docs/architecture.md, "Init"): which
 * hooks run before `register`, which after, and what a failed init does — recorded as one sequence
 * of hook calls and API requests, over a real socket.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { registrationOrder, runLifecycle, StopRequest, type LifecycleHooks, type RegistrationOrder } from "../../src/lambda/lifecycle.ts";
import { createLogger, Redactor } from "../../src/log.ts";
import { InitError } from "../../src/errors.ts";
import { parseConfig, type DeclaredSecret } from "../../src/config.ts";
import { vleCompat } from "../../src/config/vle-compat.ts";

const servers: http.Server[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    s.close();
  }
});

/**
 * A fake Extensions API: register, one SHUTDOWN at the first `next`, init/error; every call recorded
 * in `steps`. `fault` makes `register` or `next` answer an error (a status) or garbage (200, not JSON).
 */
async function fakeApi(steps: string[], fault?: { route: "register" | "event/next"; status: number }): Promise<string> {
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const path = (req.url ?? "").replace("/2020-01-01/extension/", "");
      if (fault?.route === path) {
        steps.push(`${path} answered ${fault.status}`);
        res.writeHead(fault.status, { "content-type": "text/html" });
        return res.end("<html>bad gateway</html>");
      }
      if (path === "register") {
        steps.push("register");
        res.writeHead(200, { "lambda-extension-identifier": "id-1", "content-type": "application/json" });
        return res.end("{}");
      }
      if (path === "event/next") {
        steps.push("next");
        return res.end(JSON.stringify({ eventType: "SHUTDOWN", shutdownReason: "spindown", deadlineMs: Date.now() + 2_000 }));
      }
      steps.push(`${path} ${String(req.headers["lambda-extension-function-error-type"])} ${JSON.parse(body).errorMessage}`);
      res.writeHead(202);
      res.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function hooks(steps: string[], registration: RegistrationOrder, failAt?: "listen" | "init"): LifecycleHooks {
  const step = (name: string) => async () => {
    steps.push(name);
    if (failAt === name) throw new InitError("Extension.AuthFailed", `${name} refused`);
  };
  return {
    registration,
    listen: step("listen"),
    init: step("init"),
    abandon: async (exitPath) => void steps.push(`abandon (${exitPath})`),
    onInvoke: step("invoke"),
    onShutdown: step("shutdown"),
  };
}

const log = createLogger({ level: "off", redactor: new Redactor() });

describe("registration order", () => {
  it("is late only when a declared secret is written to a file", () => {
    const secret = (file?: string) => ({ key: "db", file }) as DeclaredSecret;
    expect(registrationOrder({ runMode: "default", secrets: [secret()] })).toBe("early");
    expect(registrationOrder({ runMode: "proxy", secrets: [] })).toBe("early");
    expect(registrationOrder({ runMode: "default", secrets: [secret(), secret("/tmp/vault/secret.json")] })).toBe("late");
    expect(registrationOrder({ runMode: "file", secrets: [secret("/tmp/vault/db.json")] })).toBe("late");
  });

  it("HashiCorp's unnamed secret goes to /tmp/vault/secret.json, so it registers late; the named form registers early", () => {
    const env = { VAULT_ADDR: "https://vault.example.com", VAULT_AUTH_ROLE: "fn", AWS_REGION: "eu-west-1", AWS_ACCESS_KEY_ID: "AKIAEXAMPLE", AWS_SECRET_ACCESS_KEY: "secret", AWS_SESSION_TOKEN: "session" };
    expect(registrationOrder(parseConfig(vleCompat({ ...env, VAULT_SECRET_PATH: "secret/data/app" }).env))).toBe("late");
    expect(registrationOrder(parseConfig(vleCompat({ ...env, VAULT_SECRET_PATH_APP: "secret/data/app" }).env))).toBe("early");
    expect(registrationOrder(parseConfig(vleCompat({ ...env, VAULT_SECRET_PATH_APP: "secret/data/app", VAULT_SECRET_FILE_APP: "/tmp/vault/app.json" }).env))).toBe("late");
  });

  it("early: the listener, register, then the init work, and `next` only after it", async () => {
    const steps: string[] = [];
    expect(await runLifecycle(await fakeApi(steps), hooks(steps, "early"), log)).toBe(0);
    expect(steps).toEqual(["listen", "register", "init", "next", "shutdown"]);
  });

  it("late: the listener and the init work, then register", async () => {
    const steps: string[] = [];
    expect(await runLifecycle(await fakeApi(steps), hooks(steps, "late"), log)).toBe(0);
    expect(steps).toEqual(["listen", "init", "register", "next", "shutdown"]);
  });

  it("a failed init after early registration: cleaned up, then reported, exit 1, never `next`", async () => {
    const steps: string[] = [];
    expect(await runLifecycle(await fakeApi(steps), hooks(steps, "early", "init"), log)).toBe(1);
    expect(steps).toEqual(["listen", "register", "init", "abandon (init failed)", "init/error Extension.AuthFailed init refused"]);
  });

  it("a failed listener: registered anyway to report it, and cleaned up", async () => {
    const steps: string[] = [];
    expect(await runLifecycle(await fakeApi(steps), hooks(steps, "early", "listen"), log)).toBe(1);
    expect(steps).toEqual(["listen", "register", "abandon (init failed)", "init/error Extension.AuthFailed listen refused"]);
  });

  it("an invalid configuration: nothing was built, so nothing to clean up", async () => {
    const steps: string[] = [];
    const code = await runLifecycle(await fakeApi(steps), hooks(steps, "early"), log, { type: "Extension.ConfigInvalid", message: "VAULT_ADDR: not set" });
    expect(code).toBe(1);
    expect(steps).toEqual(["register", "init/error Extension.ConfigInvalid VAULT_ADDR: not set"]);
  });
});

describe("every exit other than SHUTDOWN cleans up first", () => {
  it("register answering an error after a late registration's init: cleaned up, exit 1", async () => {
    const steps: string[] = [];
    expect(await runLifecycle(await fakeApi(steps, { route: "register", status: 500 }), hooks(steps, "late"), log)).toBe(1);
    expect(steps).toEqual(["listen", "init", "register answered 500", "abandon (register failed)"]);
  });

  it("register answering garbage (200, no identifier): the same", async () => {
    const steps: string[] = [];
    expect(await runLifecycle(await fakeApi(steps, { route: "register", status: 200 }), hooks(steps, "late"), log)).toBe(1);
    expect(steps).toEqual(["listen", "init", "register answered 200", "abandon (register failed)"]);
  });

  it("register unreachable: the same (nothing answers on that port)", async () => {
    const steps: string[] = [];
    const closed = await fakeApi([]);
    for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
    expect(await runLifecycle(closed, hooks(steps, "late"), log)).toBe(1);
    expect(steps).toEqual(["listen", "init", "abandon (register failed)"]);
  });

  it("event/next answering garbage: cleaned up, exit 1", async () => {
    const steps: string[] = [];
    expect(await runLifecycle(await fakeApi(steps, { route: "event/next", status: 200 }), hooks(steps, "early"), log)).toBe(1);
    expect(steps).toEqual(["listen", "register", "init", "event/next answered 200", "abandon (event/next failed)"]);
  });

  it("a stop (SIGTERM) during the init work: cleaned up at once, without waiting for the init, exit 0", async () => {
    const steps: string[] = [];
    const stop = new StopRequest();
    const h = hooks(steps, "early");
    h.init = () => {
      steps.push("init");
      stop.request("SIGTERM");
      // A second signal changes nothing.
      stop.request("SIGINT");
      return new Promise(() => undefined);
    };
    expect(await runLifecycle(await fakeApi(steps), h, log, undefined, "on-demand", stop)).toBe(0);
    expect(steps).toEqual(["listen", "register", "init", "abandon (SIGTERM)"]);
  });

  it("a stop while waiting in event/next: cleaned up, exit 0", async () => {
    const steps: string[] = [];
    const stop = new StopRequest();
    // `next` never answers: only the stop ends the wait.
    const server = http.createServer((req, res) => {
      if (req.url?.endsWith("/register")) return void res.writeHead(200, { "lambda-extension-identifier": "id-1" }).end("{}");
      steps.push("next");
      setTimeout(() => stop.request("SIGTERM"), 20);
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const api = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await runLifecycle(api, hooks(steps, "early"), log, undefined, "on-demand", stop)).toBe(0);
    expect(steps).toEqual(["listen", "init", "next", "abandon (SIGTERM)"]);
  });

  it("a stop during SHUTDOWN changes nothing: SHUTDOWN's own cleanup runs, exit 0", async () => {
    const steps: string[] = [];
    const stop = new StopRequest();
    const h = hooks(steps, "early");
    h.onShutdown = async () => {
      steps.push("shutdown");
      stop.request("SIGTERM");
      await new Promise((r) => setTimeout(r, 10));
      steps.push("shutdown done");
    };
    expect(await runLifecycle(await fakeApi(steps), h, log, undefined, "on-demand", stop)).toBe(0);
    expect(steps).toEqual(["listen", "register", "init", "next", "shutdown", "shutdown done"]);
  });

  it("a failure of the event loop itself (a hook throwing where nothing expects it): cleaned up, exit 1", async () => {
    const steps: string[] = [];
    const server = http.createServer((req, res) => {
      if (req.url?.endsWith("/register")) return void res.writeHead(200, { "lambda-extension-identifier": "id-1" }).end("{}");
      steps.push("next");
      res.end(JSON.stringify({ eventType: "INVOKE", deadlineMs: Date.now() + 3_000, requestId: "r-1" }));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const h = hooks(steps, "early");
    h.onInvoke = () => {
      throw new TypeError("a bug");
    };
    expect(await runLifecycle(`127.0.0.1:${(server.address() as AddressInfo).port}`, h, log)).toBe(1);
    expect(steps).toEqual(["listen", "init", "next", "abandon (lifecycle failed)"]);
  });

  it("an invalid configuration and a stop: nothing was built, nothing to clean up", async () => {
    const steps: string[] = [];
    const stop = new StopRequest();
    stop.request("SIGTERM");
    expect(await runLifecycle(await fakeApi(steps), hooks(steps, "early"), log, { type: "Extension.ConfigInvalid", message: "VAULT_ADDR: not set" }, "on-demand", stop)).toBe(0);
    expect(steps).toEqual([]);
  });
});
