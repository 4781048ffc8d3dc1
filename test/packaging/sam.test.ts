/**
 * template.yaml, checked the way `sam build && sam deploy` would find out, without AWS: every
 * reference and condition resolves, the layer is built by the root Makefile for every Node runtime
 * and both architectures, the example function attaches it, sets only variables the extension reads,
 * and the environment it would get is one the extension accepts: its configuration parses, and the
 * example function itself runs with it under the Lambda emulator against the Vault test server.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KNOWN_VARIABLES, parseConfig } from "../../src/config.ts";
import { parseCfnYaml } from "../../scripts/validate-sam.mjs";
import { lambdaEnvironments } from "../peers/lambda/env.ts";
import { World } from "../integration/harness.ts";
import {
  PSEUDO_PARAMETERS,
  collectConditionUses,
  collectReferences,
  evaluate,
  evaluateConditions,
  functionEnvironment,
  parameterValues,
  samGeneratedResources,
  type EvalContext,
  type Template,
} from "./cfn.ts";
import { EXTENSION_NAME, LAYER_DIR, ROOT, requireBuilt } from "./helpers.ts";

const template = parseCfnYaml(fs.readFileSync(path.join(ROOT, "template.yaml"), "utf8")) as Template;
const resources = template.Resources;
const LAYER_TYPE = "AWS::Serverless::LayerVersion";
const FUNCTION_TYPE = "AWS::Serverless::Function";
const layerIds = Object.keys(resources).filter((id) => resources[id]!.Type === LAYER_TYPE);
const functionIds = Object.keys(resources).filter((id) => resources[id]!.Type === FUNCTION_TYPE);
const PSEUDO = { region: "eu-west-1", accountId: "123456789012" };
const LIST_PARAMETERS = Object.entries(template.Parameters ?? {})
  .filter(([, p]) => p.Type === "CommaDelimitedList")
  .map(([name]) => name);

function context(given: Record<string, string>): EvalContext {
  const parameters = parameterValues(template, given);
  const pseudo = { ...PSEUDO, listParameters: LIST_PARAMETERS };
  return { parameters, ...pseudo, conditions: evaluateConditions(template, parameters, pseudo) };
}

/** The stack CloudFormation would create: the resources and outputs whose condition holds. */
function deployed(ctx: EvalContext): { resources: string[]; outputs: string[] } {
  const holds = (c: string | undefined) => c === undefined || ctx.conditions[c] === true;
  return {
    resources: Object.keys(resources).filter((id) => holds(resources[id]!.Condition)),
    outputs: Object.keys(template.Outputs ?? {}).filter((id) => holds(template.Outputs![id]!.Condition)),
  };
}

describe("template.yaml: structure", () => {
  it("has the slim layer, the two standalone layers and the example function", () => {
    expect(layerIds).toEqual(["VaultLambdaAgentLayer", "VaultLambdaAgentStandaloneX86Layer", "VaultLambdaAgentStandaloneArm64Layer"]);
    expect(functionIds).toEqual(["OrdersFunction"]);
  });

  it("every layer: kept when the stack changes (RetentionPolicy Retain), its ARN an exported output", () => {
    for (const id of layerIds) {
      expect(resources[id]!.Properties!.RetentionPolicy, id).toBe("Retain");
      expect(resources[id]!.Condition, `${id} is deployed whatever the parameters`).toBeUndefined();
      const output = Object.values(template.Outputs ?? {}).find((o) => JSON.stringify(o.Value) === JSON.stringify({ Ref: id })) as { Export?: { Name: unknown }; Condition?: string } | undefined;
      expect(output, `an output with the ARN of ${id}`).toBeDefined();
      expect(output!.Condition).toBeUndefined();
      expect(output!.Export?.Name, `the output of ${id} is exported`).toMatchObject({ "Fn::Sub": expect.stringMatching(/^\$\{AWS::StackName\}-/) });
    }
  });

  it("deploys the layers alone with every default (no VaultAddr): no function, no output that names one, nothing refers to what is left out", () => {
    const ctx = context({});
    const stack = deployed(ctx);
    expect(stack.resources.sort()).toEqual([...layerIds].sort());
    const kept = new Set([...stack.resources, ...PSEUDO_PARAMETERS, ...Object.keys(template.Parameters ?? {})]);
    const dangling = collectReferences(template).filter((r) => {
      const [section, id] = r.at.split("/");
      const inStack = section === "Resources" ? stack.resources.includes(id!) : section === "Outputs" ? stack.outputs.includes(id!) : false;
      return inStack && !kept.has(r.name);
    });
    expect(dangling.map((r) => `${r.at}: ${r.name}`)).toEqual([]);
    expect(stack.outputs.every((o) => !/Function/.test(o))).toBe(true);
    // With a VaultAddr the example function and its outputs are there.
    const full = deployed(context({ VaultAddr: "https://vault.example.com" }));
    expect(full.resources).toContain("OrdersFunction");
    expect(full.outputs).toEqual(expect.arrayContaining(["FunctionRoleArn", "FunctionName"]));
  });

  it("the example function joins a VPC only when subnets or security groups are given", () => {
    const vpcConfig = (given: Record<string, string>) => evaluate({ x: resources.OrdersFunction!.Properties!.VpcConfig }, context({ VaultAddr: "https://vault.internal:8200", ...given })) as { x?: unknown };
    expect(vpcConfig({})).toEqual({});
    expect(vpcConfig({ VpcSubnetIds: "subnet-0a1, subnet-0b2", VpcSecurityGroupIds: "sg-0c3" })).toEqual({ x: { SubnetIds: ["subnet-0a1", "subnet-0b2"], SecurityGroupIds: ["sg-0c3"] } });
    // One without the other is passed on, for Lambda to refuse at deploy time, never silently dropped.
    expect(vpcConfig({ VpcSubnetIds: "subnet-0a1" })).toEqual({ x: { SubnetIds: ["subnet-0a1"], SecurityGroupIds: [""] } });
  });

  it("every Ref, GetAtt, Sub variable and DependsOn names a parameter, a resource, a pseudo parameter or a resource SAM adds", () => {
    const known = new Set([...Object.keys(template.Parameters ?? {}), ...Object.keys(resources), ...PSEUDO_PARAMETERS, ...samGeneratedResources(template)]);
    const refs = collectReferences(template);
    expect(refs.length).toBeGreaterThan(5);
    expect(refs.filter((r) => !known.has(r.name)).map((r) => `${r.at}: ${r.kind} ${r.name}`)).toEqual([]);
    // GetAtt and DependsOn need a resource, not a parameter.
    const resourceIds = new Set([...Object.keys(resources), ...samGeneratedResources(template)]);
    expect(refs.filter((r) => (r.kind === "Fn::GetAtt" || r.kind === "DependsOn") && !resourceIds.has(r.name)).map((r) => r.at)).toEqual([]);
    // The role output relies on SAM generating OrdersFunctionRole, which it does only without `Role`.
    expect(refs.some((r) => r.kind === "Fn::GetAtt" && r.name === "OrdersFunctionRole")).toBe(true);
    expect(resources.OrdersFunction!.Properties!.Role).toBeUndefined();
  });

  it("every condition used is defined, every condition defined is used, every parameter is used", () => {
    const defined = Object.keys(template.Conditions ?? {});
    const uses = collectConditionUses(template);
    expect(uses.filter((u) => !defined.includes(u.name)).map((u) => `${u.at}: ${u.name}`)).toEqual([]);
    expect(defined.filter((c) => !uses.some((u) => u.name === c))).toEqual([]);
    const referenced = new Set(collectReferences(template).map((r) => r.name));
    // `sam deploy --guided` asks for every parameter: none may be asked for nothing.
    expect(Object.keys(template.Parameters ?? {}).filter((p) => !referenced.has(p))).toEqual([]);
  });

  it("the layer: built by `make build-<LogicalId>` from the root Makefile, for Node.js 20/22/24 on x86_64 and arm64", () => {
    const layer = resources.VaultLambdaAgentLayer!;
    expect(layer.Metadata?.BuildMethod).toBe("makefile");
    expect([...layer.Properties!.CompatibleRuntimes].sort()).toEqual(["nodejs20.x", "nodejs22.x", "nodejs24.x"]);
    expect([...layer.Properties!.CompatibleArchitectures].sort()).toEqual(["arm64", "x86_64"]);
    // SAM runs make in ContentUri (or a copy of it): the Makefile with the target must be there.
    const contentDir = path.resolve(ROOT, layer.Properties!.ContentUri as string);
    const makefile = fs.readFileSync(path.join(contentDir, "Makefile"), "utf8");
    expect(makefile).toMatch(/^build-VaultLambdaAgentLayer:/m);
    expect(fs.existsSync(path.join(contentDir, "scripts", "build.mjs"))).toBe(true);
  });

  it("the function: attaches the layer, on a runtime and an architecture the layer supports, with a handler module that exports `handler`", () => {
    const fn = resources.OrdersFunction!.Properties!;
    const layer = resources.VaultLambdaAgentLayer!.Properties!;
    expect(fn.Layers).toContainEqual({ Ref: "VaultLambdaAgentLayer" });
    expect(layer.CompatibleRuntimes).toContain(fn.Runtime);
    for (const arch of fn.Architectures ?? ["x86_64"]) expect(layer.CompatibleArchitectures).toContain(arch);

    const codeDir = path.resolve(ROOT, fn.CodeUri as string);
    expect(fs.statSync(codeDir).isDirectory()).toBe(true);
    const [moduleName, exportName] = (fn.Handler as string).split(".") as [string, string];
    // The Node.js runtime tries <module>.js, .mjs, .cjs.
    const file = [".js", ".mjs", ".cjs"].map((ext) => path.join(codeDir, moduleName + ext)).find((f) => fs.existsSync(f));
    expect(file, `${fn.Handler} in ${fn.CodeUri}`).toBeDefined();
    expect(fs.readFileSync(file!, "utf8")).toMatch(new RegExp(`^export (const|let|async function|function) ${exportName}\\b`, "m"));
  });

  it("sets only environment variables the extension reads", () => {
    const names = functionIds.flatMap((id) => Object.keys(resources[id]!.Properties?.Environment?.Variables ?? {}));
    names.push(...Object.keys(template.Globals?.Function?.Environment?.Variables ?? {}));
    expect(names.length).toBeGreaterThan(3);
    const unknown = names.filter((n) => !KNOWN_VARIABLES.includes(n) && !/^VAULT_SECRET_(PATH|FILE)_[A-Za-z0-9_]+$/.test(n));
    expect(unknown).toEqual([]);
  });
});

describe("template.yaml: the environment it gives the function", () => {
  /** What the extension's process sees on Lambda for this function environment. */
  function extensionEnv(userEnv: Record<string, string>): Record<string, string> {
    const fn = resources.OrdersFunction!.Properties!;
    return lambdaEnvironments({
      userEnv,
      runtimeApi: "127.0.0.1:9001",
      credentials: { accessKeyId: "ASIAEXAMPLEEXAMPLE12", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", sessionToken: "IQoJb3JpZ2luX2VjEXAMPLE" },
      region: PSEUDO.region,
      functionName: "orders-stack-OrdersFunction-1A2B3C",
      functionVersion: "$LATEST",
      memoryMb: fn.MemorySize ?? 128,
      handler: fn.Handler,
      layerDir: "/opt",
      functionDir: "/var/task",
      runtimeDir: "/var/runtime",
    }).extension;
  }

  it("with the defaults (and the one parameter without one): parses, empty optional parameters unset, no warning", () => {
    const env = functionEnvironment(template, "OrdersFunction", context({ VaultAddr: "https://vault.example.com:8200" }));
    expect(env).toEqual({
      VAULT_ADDR: "https://vault.example.com:8200",
      VAULT_AUTH_PROVIDER: "aws",
      VAULT_SECRET_PATH_DB: "database/creds/orders",
      VAULT_SECRET_PATH_CONFIG: "secret/data/orders/config",
    });
    const config = parseConfig(extensionEnv(env));
    expect(config.warnings).toEqual([]);
    expect(config).toMatchObject({ vaultAddr: "https://vault.example.com:8200", authProvider: "aws", runMode: "default", port: 8200, callerToken: "IQoJb3JpZ2luX2VjEXAMPLE" });
    expect(config.authRole).toBeUndefined();
    expect(config.iamServerId).toBeUndefined();
    expect(config.namespace).toBeUndefined();
    expect(config.secrets.map((s) => [s.name, s.path])).toEqual([
      ["CONFIG", "secret/data/orders/config"],
      ["DB", "database/creds/orders"],
    ]);
  });

  it("with every parameter set: parses with each one where it belongs", () => {
    const env = functionEnvironment(
      template,
      "OrdersFunction",
      context({
        VaultAddr: "https://vault.example.com:8200/prefix",
        VaultAuthProvider: "aws-prod",
        VaultAuthRole: "orders",
        VaultIamServerId: "vault.example.com",
        VaultNamespace: "team-a",
        VaultSecretPathDb: "database/creds/orders-ro",
        VaultSecretPathConfig: "kv/data/orders",
      }),
    );
    const config = parseConfig(extensionEnv(env));
    expect(config.warnings).toEqual([]);
    expect(config).toMatchObject({
      vaultAddr: "https://vault.example.com:8200/prefix",
      authProvider: "aws-prod",
      authRole: "orders",
      iamServerId: "vault.example.com",
      namespace: "team-a",
    });
    expect(config.secrets.map((s) => s.path)).toEqual(["kv/data/orders", "database/creds/orders-ro"]);
  });

  it("refuses a VaultAddr that is not a URL, as the parameter's AllowedPattern does at deploy time", () => {
    expect(() => context({ VaultAddr: "vault.example.com:8200" })).toThrow(/AllowedPattern/);
  });
});

describe("template.yaml: the example function, run with the template's environment", () => {
  let world: World;

  beforeAll(async () => {
    requireBuilt(path.join(LAYER_DIR, "extensions", EXTENSION_NAME));
    world = await World.start();
  });

  afterAll(async () => {
    world?.leakScan();
    await world?.close();
  });

  it("reads its secrets through the layer under the Lambda emulator", async () => {
    const fn = resources.OrdersFunction!.Properties!;
    const env = functionEnvironment(
      template,
      "OrdersFunction",
      context({
        VaultAddr: world.vault.url,
        VaultAuthRole: "fn-role",
        VaultSecretPathDb: "database/creds/app",
        VaultSecretPathConfig: "secret/data/app/config",
      }),
    );
    // world.lambda adds only VAULT_AGENT_PORT (a free port instead of 8200) and the log level.
    const lambda = await world.lambda(env, {
      functionDir: path.resolve(ROOT, fn.CodeUri as string),
      handler: fn.Handler as string,
      timeoutMs: (fn.Timeout ?? 3) * 1000,
      memoryMb: fn.MemorySize ?? 128,
    });
    const init = await lambda.start();
    expect(init.ok, JSON.stringify(init.error)).toBe(true);
    const r = await lambda.invoke({});
    expect(r.ok, JSON.stringify(r.error)).toBe(true);
    const out = r.response as { configKeys: string[]; dbUser: string; dbLeaseSecondsLeft: number; dbExpiresAt: string };
    expect(out.configKeys.sort()).toEqual(["api_key", "region"]);
    expect(out.dbUser).toMatch(/^v-/);
    expect(out.dbLeaseSecondsLeft).toBeGreaterThan(3000);
    expect(new Date(out.dbExpiresAt).getTime()).toBeGreaterThan(Date.now());
    await lambda.shutdown();
  });
});
