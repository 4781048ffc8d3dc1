// Types of scripts/validate-sam.mjs, for the tests that import it.
export interface CfnTag {
  tag: string;
  collection?: "map" | "seq";
  resolve: (value: any) => unknown;
}
export declare const CFN_TAGS: CfnTag[];
/** Parses a CloudFormation/SAM YAML template into plain JSON, short-form tags in long form. */
export declare function parseCfnYaml(text: string): any;
/** Compiles the SAM schema (draft-04) with Ajv; throws if it does not compile. */
export declare function compileSamSchema(schema: object): { ajv: unknown; validate: ((data: unknown) => boolean) & { errors?: unknown[] | null } };
/** Validates a parsed template; `errors` are readable lines such as `Resources/Fn/Properties: unknown property "Handlr"`. */
export declare function validateSam(template: unknown, schema: object): { ok: boolean; errors: string[] };
