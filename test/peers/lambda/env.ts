/**
 * The environment Lambda gives the runtime and the external extensions.
 *
 * Lambda's reserved names cannot be set by the function; the function's other variables are seen by
 * both. Extensions do not see the runtime-only variables listed in the Extensions API docs
 * ("all of the function's environment variables except AWS_EXECUTION_ENV, AWS_LAMBDA_LOG_GROUP_NAME,
 * ..., _HANDLER"). PATH starts with the runtime's own directories (runtimes.ts), then the layer's `bin`.
 */
import path from "node:path";
import { randomBytes } from "node:crypto";
import { runtimeSpec, type RuntimeSpec } from "./runtimes.ts";

/** Names a function may not set (Lambda rejects them at configuration time). */
export const RESERVED_ENV_NAMES: readonly string[] = [
  "_HANDLER",
  "_X_AMZN_TRACE_ID",
  "AWS_DEFAULT_REGION",
  "AWS_REGION",
  "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_FUNCTION_NAME",
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
  "AWS_LAMBDA_FUNCTION_VERSION",
  "AWS_LAMBDA_INITIALIZATION_TYPE",
  "AWS_LAMBDA_LOG_GROUP_NAME",
  "AWS_LAMBDA_LOG_STREAM_NAME",
  "AWS_ACCESS_KEY",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_LAMBDA_RUNTIME_API",
  "LAMBDA_TASK_ROOT",
  "LAMBDA_RUNTIME_DIR",
  "TZ",
];

/** Variables the runtime has and external extensions do not. */
export const WITHHELD_FROM_EXTENSIONS: readonly string[] = [
  "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_MAX_CONCURRENCY",
  "AWS_LAMBDA_LOG_GROUP_NAME",
  "AWS_LAMBDA_LOG_STREAM_NAME",
  "AWS_XRAY_CONTEXT_MISSING",
  "AWS_XRAY_DAEMON_ADDRESS",
  "LAMBDA_RUNTIME_DIR",
  "LAMBDA_TASK_ROOT",
  "_AWS_XRAY_DAEMON_ADDRESS",
  "_AWS_XRAY_DAEMON_PORT",
  "_HANDLER",
];

export interface LambdaEnvInput {
  userEnv: Record<string, string>;
  runtimeApi: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** `AWS_LAMBDA_INITIALIZATION_TYPE`; default on-demand. */
  mode?: string;
  /** Managed Instances: the runtime's workers (`AWS_LAMBDA_MAX_CONCURRENCY`, runtime only). */
  maxConcurrency?: number;
  /** Set (SnapStart): the credentials are on this endpoint, not in the environment. */
  containerCredentials?: { uri: string; token: string };
  region: string;
  functionName: string;
  functionVersion: string;
  memoryMb: number;
  handler: string;
  layerDir: string;
  functionDir: string;
  /** The function's runtime; default: the Node.js runtime (runtimes.ts). */
  runtime?: RuntimeSpec;
  /** LAMBDA_RUNTIME_DIR, when it should differ from the runtime's own. */
  runtimeDir?: string;
}

export interface LambdaEnvironments {
  runtime: Record<string, string>;
  extension: Record<string, string>;
}

/** Throws, as Lambda's configuration API does, when the function sets a reserved name. */
export function checkUserEnv(userEnv: Record<string, string>): void {
  const bad = Object.keys(userEnv).filter((k) => RESERVED_ENV_NAMES.includes(k));
  if (bad.length > 0) {
    throw new Error(`Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: ${bad.join(", ")}`);
  }
}

export function lambdaEnvironments(input: LambdaEnvInput): LambdaEnvironments {
  checkUserEnv(input.userEnv);
  const spec = input.runtime ?? runtimeSpec("nodejs");
  const today = new Date().toISOString().slice(0, 10).replaceAll("-", "/");

  const base: Record<string, string> = {
    // Unreserved defaults the function may override.
    PATH: [...spec.pathDirs, path.join(input.layerDir, "bin")].join(":"),
    LANG: "en_US.UTF-8",
    ...(process.env.LD_LIBRARY_PATH ? { LD_LIBRARY_PATH: process.env.LD_LIBRARY_PATH } : {}),
    ...input.userEnv,
    // Reserved: always Lambda's values.
    AWS_LAMBDA_RUNTIME_API: input.runtimeApi,
    ...(input.containerCredentials
      ? { AWS_CONTAINER_CREDENTIALS_FULL_URI: input.containerCredentials.uri, AWS_CONTAINER_AUTHORIZATION_TOKEN: input.containerCredentials.token }
      : {
          AWS_ACCESS_KEY_ID: input.credentials.accessKeyId,
          AWS_ACCESS_KEY: input.credentials.accessKeyId,
          AWS_SECRET_ACCESS_KEY: input.credentials.secretAccessKey,
          ...(input.credentials.sessionToken ? { AWS_SESSION_TOKEN: input.credentials.sessionToken } : {}),
        }),
    AWS_REGION: input.region,
    AWS_DEFAULT_REGION: input.region,
    AWS_LAMBDA_FUNCTION_NAME: input.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: input.functionVersion,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(input.memoryMb),
    AWS_LAMBDA_INITIALIZATION_TYPE: input.mode ?? "on-demand",
    TZ: ":UTC",
  };

  const runtime: Record<string, string> = {
    ...base,
    _HANDLER: input.handler,
    ...(input.maxConcurrency ? { AWS_LAMBDA_MAX_CONCURRENCY: String(input.maxConcurrency) } : {}),
    LAMBDA_TASK_ROOT: input.functionDir,
    LAMBDA_RUNTIME_DIR: input.runtimeDir ?? spec.runtimeDir,
    AWS_EXECUTION_ENV: spec.executionEnv,
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${input.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${today}/[${input.functionVersion}]${randomBytes(16).toString("hex")}`,
    AWS_XRAY_CONTEXT_MISSING: input.userEnv.AWS_XRAY_CONTEXT_MISSING ?? "LOG_ERROR",
    AWS_XRAY_DAEMON_ADDRESS: input.userEnv.AWS_XRAY_DAEMON_ADDRESS ?? "169.254.79.129:2000",
    _AWS_XRAY_DAEMON_ADDRESS: "169.254.79.129",
    _AWS_XRAY_DAEMON_PORT: "2000",
    ...spec.moduleEnv(input.layerDir, input.functionDir, input.userEnv),
  };

  const extension: Record<string, string> = { ...base };
  for (const name of WITHHELD_FROM_EXTENSIONS) delete extension[name];
  return { runtime, extension };
}
