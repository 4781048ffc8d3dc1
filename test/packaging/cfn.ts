/**
 * Just enough of CloudFormation (and of SAM's transform) to check a template without AWS: what its
 * intrinsic functions refer to, which resources SAM adds, and the value of a property for given
 * parameter values. Templates come from `parseCfnYaml` (scripts/validate-sam.mjs): long forms only.
 */

export type Template = {
  Parameters?: Record<string, { Type: string; Default?: unknown; AllowedPattern?: string; AllowedValues?: unknown[] }>;
  Conditions?: Record<string, unknown>;
  Globals?: Record<string, any>;
  Resources: Record<string, { Type: string; Condition?: string; Properties?: Record<string, any>; Metadata?: Record<string, any>; DependsOn?: string | string[] }>;
  Outputs?: Record<string, { Value: unknown; Condition?: string }>;
  [key: string]: unknown;
};

/** Pseudo parameters CloudFormation defines (`Ref` targets that are not in the template). */
export const PSEUDO_PARAMETERS: readonly string[] = [
  "AWS::AccountId",
  "AWS::NotificationARNs",
  "AWS::NoValue",
  "AWS::Partition",
  "AWS::Region",
  "AWS::StackId",
  "AWS::StackName",
  "AWS::URLSuffix",
];

export interface Reference {
  /** What is referred to: a parameter, resource or pseudo parameter (for GetAtt: the resource). */
  name: string;
  kind: "Ref" | "Fn::GetAtt" | "Fn::Sub" | "DependsOn";
  /** Where, as a path in the template ("Resources/Fn/Properties/Layers/0"). */
  at: string;
}

/** Every Ref, GetAtt, `${...}` of a Sub and DependsOn in the template. */
export function collectReferences(template: Template): Reference[] {
  const out: Reference[] = [];
  walk(template, "", (node, at) => {
    if (typeof node.Ref === "string" && Object.keys(node).length === 1) out.push({ name: node.Ref, kind: "Ref", at });
    const getAtt = node["Fn::GetAtt"];
    if (getAtt !== undefined && Object.keys(node).length === 1) {
      const target = Array.isArray(getAtt) ? getAtt[0] : typeof getAtt === "string" ? getAtt.split(".")[0] : undefined;
      if (typeof target === "string") out.push({ name: target, kind: "Fn::GetAtt", at });
    }
    const sub = node["Fn::Sub"];
    if (sub !== undefined && Object.keys(node).length === 1) {
      const [text, vars] = Array.isArray(sub) ? [sub[0], sub[1] ?? {}] : [sub, {}];
      if (typeof text === "string") {
        for (const m of text.matchAll(/\$\{([^}!][^}]*)\}/g)) {
          const name = m[1]!.trim().split(".")[0]!;
          if (!(name in (vars as object))) out.push({ name, kind: "Fn::Sub", at });
        }
      }
    }
  });
  for (const [id, r] of Object.entries(template.Resources ?? {})) {
    for (const d of r.DependsOn === undefined ? [] : Array.isArray(r.DependsOn) ? r.DependsOn : [r.DependsOn]) out.push({ name: d, kind: "DependsOn", at: `Resources/${id}/DependsOn` });
  }
  return out;
}

export interface ConditionUse {
  name: string;
  kind: "Fn::If" | "Condition";
  at: string;
}

/** Every use of a condition: Fn::If, `{Condition: x}` in a condition, `Condition:` of a resource or output. */
export function collectConditionUses(template: Template): ConditionUse[] {
  const out: ConditionUse[] = [];
  walk(template, "", (node, at) => {
    const fnIf = node["Fn::If"];
    if (Array.isArray(fnIf) && typeof fnIf[0] === "string") out.push({ name: fnIf[0], kind: "Fn::If", at });
    if (typeof node.Condition === "string" && Object.keys(node).length === 1) out.push({ name: node.Condition, kind: "Condition", at });
  });
  for (const section of ["Resources", "Outputs"] as const) {
    for (const [id, r] of Object.entries(template[section] ?? {})) {
      const c = (r as { Condition?: unknown }).Condition;
      if (typeof c === "string") out.push({ name: c, kind: "Condition", at: `${section}/${id}/Condition` });
    }
  }
  return out;
}

/**
 * Logical ids SAM's transform adds that a template may refer to. A function without `Role` gets
 * `<Id>Role` (an AWS::IAM::Role); with `AutoPublishAlias`, `<Id>Alias<Name>` and `<Id>Version<hash>`
 * (the alias is what `!Ref <Id>.Alias` means; only the role is listed, the rest is not used here).
 */
export function samGeneratedResources(template: Template): Set<string> {
  const ids = new Set<string>();
  for (const [id, r] of Object.entries(template.Resources)) {
    if (r.Type === "AWS::Serverless::Function" && r.Properties?.Role === undefined) ids.add(`${id}Role`);
  }
  return ids;
}

/** Parameter values as CloudFormation resolves them: the given ones, else the defaults; checked. */
export function parameterValues(template: Template, given: Record<string, string>): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, p] of Object.entries(template.Parameters ?? {})) {
    const v = given[name] ?? (p.Default === undefined ? undefined : String(p.Default));
    if (v === undefined) throw new Error(`parameter ${name} has no default and no value was given`);
    if (p.AllowedPattern !== undefined && !new RegExp(`^(?:${p.AllowedPattern})$`).test(v)) throw new Error(`parameter ${name}: ${JSON.stringify(v)} does not match AllowedPattern ${p.AllowedPattern}`);
    if (p.AllowedValues !== undefined && !p.AllowedValues.map(String).includes(v)) throw new Error(`parameter ${name}: ${JSON.stringify(v)} is not one of AllowedValues`);
    values[name] = v;
  }
  for (const name of Object.keys(given)) if (!(name in values)) throw new Error(`${name} is not a parameter of the template`);
  return values;
}

/** Marks a value that `AWS::NoValue` removed. */
export const NO_VALUE: unique symbol = Symbol("AWS::NoValue");

export interface EvalContext {
  parameters: Record<string, string>;
  conditions: Record<string, boolean>;
  region: string;
  accountId: string;
  /** Parameters of type CommaDelimitedList: `Ref` gives their value split at commas, as CloudFormation does. */
  listParameters?: readonly string[];
}

/** Every condition of the template, for these parameter values. */
export function evaluateConditions(
  template: Template,
  parameters: Record<string, string>,
  pseudo: { region: string; accountId: string; listParameters?: readonly string[] },
): Record<string, boolean> {
  const conditions: Record<string, boolean> = {};
  const defs = template.Conditions ?? {};
  const resolving = new Set<string>();
  const ctx: EvalContext = { parameters, ...pseudo, conditions: new Proxy(conditions, { get: (_t, name: string) => resolve(name) }) };
  function resolve(name: string): boolean {
    if (name in conditions) return conditions[name]!;
    if (!(name in defs)) throw new Error(`condition ${name} is not defined`);
    if (resolving.has(name)) throw new Error(`condition ${name} refers to itself`);
    resolving.add(name);
    const v = evaluate(defs[name], ctx);
    if (typeof v !== "boolean") throw new Error(`condition ${name} is not a boolean`);
    conditions[name] = v;
    return v;
  }
  for (const name of Object.keys(defs)) resolve(name);
  return conditions;
}

/** The value of a template fragment (the intrinsic functions a function's properties may use). */
export function evaluate(node: unknown, ctx: EvalContext): unknown {
  if (Array.isArray(node)) return node.map((n) => evaluate(n, ctx)).filter((v) => v !== NO_VALUE);
  if (node === null || typeof node !== "object") return node;
  const o = node as Record<string, any>;
  const keys = Object.keys(o);
  if (keys.length === 1) {
    const [k] = keys as [string];
    const arg = o[k];
    switch (k) {
      case "Ref":
        if (arg === "AWS::NoValue") return NO_VALUE;
        if (arg === "AWS::Region") return ctx.region;
        if (arg === "AWS::AccountId") return ctx.accountId;
        if (arg === "AWS::Partition") return "aws";
        if (arg in ctx.parameters) return ctx.listParameters?.includes(arg) ? ctx.parameters[arg]!.split(",").map((v) => v.trim()) : ctx.parameters[arg];
        throw new Error(`Ref ${arg}: not a parameter or a supported pseudo parameter (a resource's value exists only once deployed)`);
      case "Condition":
        return ctx.conditions[arg];
      case "Fn::If": {
        const c = ctx.conditions[arg[0]];
        if (typeof c !== "boolean") throw new Error(`Fn::If: condition ${arg[0]} is not defined`);
        return evaluate(c ? arg[1] : arg[2], ctx);
      }
      case "Fn::Equals":
        return evaluate(arg[0], ctx) === evaluate(arg[1], ctx);
      case "Fn::Not":
        return !evaluate(arg[0], ctx);
      case "Fn::And":
        return (arg as unknown[]).every((a) => evaluate(a, ctx) === true);
      case "Fn::Or":
        return (arg as unknown[]).some((a) => evaluate(a, ctx) === true);
      case "Fn::Join":
        return (evaluate(arg[1], ctx) as unknown[]).join(arg[0]);
      case "Fn::Select":
        return (evaluate(arg[1], ctx) as unknown[])[Number(evaluate(arg[0], ctx))];
      case "Fn::Sub": {
        const [text, vars] = Array.isArray(arg) ? [arg[0] as string, (arg[1] ?? {}) as Record<string, unknown>] : [arg as string, {}];
        return text.replace(/\$\{([^}]*)\}/g, (whole, name: string) => {
          if (name.startsWith("!")) return `\${${name.slice(1)}}`;
          if (name in vars) return String(evaluate(vars[name], ctx));
          return String(evaluate({ Ref: name }, ctx));
        });
      }
    }
    if (k.startsWith("Fn::")) throw new Error(`${k}: not supported by this evaluator`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) {
    const e = evaluate(v, ctx);
    if (e !== NO_VALUE) out[k] = e;
  }
  return out;
}

/** The environment variables a function gets from the template: Globals first, then its own. */
export function functionEnvironment(template: Template, functionId: string, ctx: EvalContext): Record<string, string> {
  const fn = template.Resources[functionId];
  if (fn?.Type !== "AWS::Serverless::Function") throw new Error(`${functionId} is not an AWS::Serverless::Function`);
  const merged = { ...(template.Globals?.Function?.Environment?.Variables ?? {}), ...(fn.Properties?.Environment?.Variables ?? {}) };
  const env = evaluate(merged, ctx) as Record<string, unknown>;
  for (const [k, v] of Object.entries(env)) if (typeof v !== "string") throw new Error(`${functionId}: environment variable ${k} is not a string: ${JSON.stringify(v)}`);
  return env as Record<string, string>;
}

function walk(node: unknown, at: string, visit: (node: Record<string, any>, at: string) => void): void {
  if (Array.isArray(node)) node.forEach((n, i) => walk(n, `${at}/${i}`, visit));
  else if (node !== null && typeof node === "object") {
    visit(node as Record<string, any>, at.slice(1));
    for (const [k, v] of Object.entries(node)) walk(v, `${at}/${k}`, visit);
  }
}
