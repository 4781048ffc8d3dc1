// The Node.js runtime of the Lambda emulator: what /var/runtime does on Lambda's nodejs runtimes,
// in plain JavaScript with no dependencies. It loads `_HANDLER` from LAMBDA_TASK_ROOT (ESM or CJS,
// through dynamic import), reports init errors, then loops on invocation/next, calls the handler
// with (event, context) and posts its response or error. Console output is written in Lambda's
// format (text: "<iso time>\t<request id>\t<LEVEL>\t<message>"; JSON when AWS_LAMBDA_LOG_FORMAT=JSON).
import http from "node:http";
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { format } from "node:util";

const RUNTIME_API = process.env.AWS_LAMBDA_RUNTIME_API;
const HANDLER = process.env._HANDLER ?? "";
const TASK_ROOT = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
const BASE = `/2018-06-01/runtime`;
// One worker on demand; on Lambda Managed Instances, AWS_LAMBDA_MAX_CONCURRENCY workers wait in
// invocation/next at once (Node's runtime uses worker threads there; async loops stand in for them),
// each with its own connection for its long poll.
const WORKERS = Math.max(1, Number(process.env.AWS_LAMBDA_MAX_CONCURRENCY) || 1);
const agent = new http.Agent({ keepAlive: true, maxSockets: WORKERS + 1 });

// ---------------------------------------------------------------------------------------------
// Console, as the Lambda Node runtime patches it

let currentRequestId;
const jsonLogs = (process.env.AWS_LAMBDA_LOG_FORMAT ?? "").toUpperCase() === "JSON";
function writeLog(level, args) {
  const message = format(...args);
  const timestamp = new Date().toISOString();
  const line = jsonLogs
    ? JSON.stringify({ timestamp, level, requestId: currentRequestId, message })
    : `${timestamp}\t${currentRequestId ?? "undefined"}\t${level}\t${message}`;
  process.stdout.write(`${line}\n`);
}
const levels = { log: "INFO", info: "INFO", warn: "WARN", error: "ERROR", debug: "DEBUG", trace: "TRACE" };
for (const [method, level] of Object.entries(levels)) console[method] = (...args) => writeLog(level, args);

// ---------------------------------------------------------------------------------------------
// Runtime API client

function call(method, urlPath, body, headers = {}) {
  return new Promise((resolve, reject) => {
    const [host, port] = RUNTIME_API.split(":");
    const payload = body === undefined ? undefined : Buffer.from(body);
    const req = http.request(
      {
        host,
        port: Number(port),
        method,
        path: urlPath,
        agent,
        headers: { ...headers, ...(payload ? { "content-type": "application/json", "content-length": payload.length } : {}) },
      },
      (res) => {
        const chunks = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}

function errorBody(err, fallbackType = "Error") {
  if (err instanceof Error) {
    return {
      errorType: err.name || fallbackType,
      errorMessage: err.message,
      trace: typeof err.stack === "string" ? err.stack.split("\n") : [],
    };
  }
  return { errorType: fallbackType, errorMessage: typeof err === "string" ? err : JSON.stringify(err) ?? String(err), trace: [] };
}

async function postInitError(body) {
  console.error(`${body.errorType}: ${body.errorMessage}`);
  await call("POST", `${BASE}/init/error`, JSON.stringify(body), { "Lambda-Runtime-Function-Error-Type": body.errorType }).catch(() => undefined);
  process.exit(129);
}

// ---------------------------------------------------------------------------------------------
// Loading the handler: "dir/module.fn" → <TASK_ROOT>/dir/module.{js,mjs,cjs}, export fn

async function loadHandler() {
  const slash = HANDLER.lastIndexOf("/");
  const dir = HANDLER.slice(0, slash + 1);
  const rest = HANDLER.slice(slash + 1);
  const dot = rest.indexOf(".");
  if (dot <= 0 || dot === rest.length - 1) {
    return postInitError({ errorType: "Runtime.MalformedHandlerName", errorMessage: `Bad handler ${HANDLER}`, trace: [] });
  }
  const moduleName = rest.slice(0, dot);
  const fnPath = rest.slice(dot + 1).split(".");
  const base = path.resolve(TASK_ROOT, dir, moduleName);
  // Lambda's order: .js (CJS or ESM by the nearest package.json), then .mjs, then .cjs.
  const file = [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((f) => existsSync(f));
  if (!file) {
    return postInitError({ errorType: "Runtime.ImportModuleError", errorMessage: `Error: Cannot find module '${moduleName}'`, trace: [] });
  }
  let mod;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    const body = errorBody(err);
    if (err instanceof SyntaxError) body.errorType = "Runtime.UserCodeSyntaxError";
    else if (err && (err.code === "ERR_MODULE_NOT_FOUND" || err.code === "MODULE_NOT_FOUND")) body.errorType = "Runtime.ImportModuleError";
    return postInitError(body);
  }
  const resolve = (root) => fnPath.reduce((obj, key) => (obj == null ? undefined : obj[key]), root);
  let fn = resolve(mod);
  if (typeof fn !== "function" && mod.default) fn = resolve(mod.default); // CJS module.exports
  if (typeof fn !== "function") {
    return postInitError({ errorType: "Runtime.HandlerNotFound", errorMessage: `${moduleName}.${fnPath.join(".")} is undefined or not exported`, trace: [] });
  }
  return fn;
}

// ---------------------------------------------------------------------------------------------
// Invoking

let inFlight;

function callHandler(fn, event, context) {
  return new Promise((resolve, reject) => {
    // Callback-style handlers (event, context, callback) are still supported by nodejs20.x/22.x.
    const callback = (err, value) => (err ? reject(err) : resolve(value));
    let ret;
    try {
      ret = fn.length >= 3 ? fn(event, context, callback) : fn(event, context);
    } catch (err) {
      reject(err);
      return;
    }
    if (ret && typeof ret.then === "function") ret.then(resolve, reject);
    else if (fn.length < 3) resolve(ret);
  });
}

async function postError(requestId, body) {
  console.error(`Invoke Error \t${JSON.stringify({ errorType: body.errorType, errorMessage: body.errorMessage })}`);
  await call("POST", `${BASE}/invocation/${encodeURIComponent(requestId)}/error`, JSON.stringify(body), {
    "Lambda-Runtime-Function-Error-Type": body.errorType,
  });
}

async function fatal(body) {
  if (inFlight) await postError(inFlight, body).catch(() => undefined);
  else console.error(`${body.errorType}: ${body.errorMessage}`);
  process.exit(129);
}
process.on("uncaughtException", (err) => void fatal(errorBody(err)));
process.on("unhandledRejection", (reason) => void fatal({ ...errorBody(reason), errorType: "Runtime.UnhandledPromiseRejection" }));

const handler = await loadHandler();
const functionName = process.env.AWS_LAMBDA_FUNCTION_NAME;
const functionVersion = process.env.AWS_LAMBDA_FUNCTION_VERSION;
const memoryLimitInMB = process.env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE;
const logGroupName = process.env.AWS_LAMBDA_LOG_GROUP_NAME;
const logStreamName = process.env.AWS_LAMBDA_LOG_STREAM_NAME;

async function worker() {
  for (;;) {
    const next = await call("GET", `${BASE}/invocation/next`);
    if (next.status !== 200) {
      console.error(`invocation/next answered ${next.status}: ${next.body}`);
      process.exit(1);
    }
    const requestId = String(next.headers["lambda-runtime-aws-request-id"]);
    const deadlineMs = Number(next.headers["lambda-runtime-deadline-ms"]);
    const traceId = next.headers["lambda-runtime-trace-id"];
    if (typeof traceId === "string") process.env._X_AMZN_TRACE_ID = traceId;
    else delete process.env._X_AMZN_TRACE_ID;
    currentRequestId = requestId;
    inFlight = requestId;
    const context = {
      awsRequestId: requestId,
      functionName,
      functionVersion,
      invokedFunctionArn: String(next.headers["lambda-runtime-invoked-function-arn"] ?? ""),
      memoryLimitInMB,
      logGroupName,
      logStreamName,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadlineMs - Date.now()),
    };
    let event;
    try {
      event = next.body === "" ? undefined : JSON.parse(next.body);
    } catch {
      event = next.body;
    }
    try {
      const result = await callHandler(handler, event, context);
      const text = JSON.stringify(result) ?? "null";
      await call("POST", `${BASE}/invocation/${encodeURIComponent(requestId)}/response`, text);
    } catch (err) {
      await postError(requestId, errorBody(err));
    }
    inFlight = undefined;
  }
}

await Promise.all(Array.from({ length: WORKERS }, worker));
