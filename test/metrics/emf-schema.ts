/**
 * The required members of CloudWatch's Embedded Metric Format specification
 * (docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html)
 * as a JSON schema, plus what a schema cannot say: every referenced dimension and metric present at
 * the root, a metric as a number or an array of at most 100 numbers.
 */
import { Ajv } from "ajv";
import { expect } from "vitest";

const EMF_SCHEMA = {
  type: "object",
  required: ["_aws"],
  properties: {
    _aws: {
      type: "object",
      required: ["Timestamp", "CloudWatchMetrics"],
      properties: {
        Timestamp: { type: "integer", minimum: 0 },
        CloudWatchMetrics: {
          type: "array",
          minItems: 1,
          items: {
            type: "object",
            required: ["Namespace", "Dimensions", "Metrics"],
            properties: {
              Namespace: { type: "string", minLength: 1, maxLength: 255, pattern: "^[^:].*$" },
              Dimensions: { type: "array", items: { type: "array", maxItems: 30, items: { type: "string", minLength: 1, maxLength: 250 } } },
              Metrics: {
                type: "array",
                maxItems: 100,
                items: {
                  type: "object",
                  required: ["Name"],
                  properties: {
                    Name: { type: "string", minLength: 1, maxLength: 1024 },
                    Unit: { enum: ["Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"] },
                    StorageResolution: { enum: [1, 60] },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;

const validateSchema = new Ajv({ allErrors: true }).compile(EMF_SCHEMA);

/** The schema, plus what JSON Schema cannot say: every referenced member at the root, of the right type. */
export function expectValidEmf(line: string): Record<string, any> {
  expect(line).not.toContain("\n");
  const doc = JSON.parse(line) as Record<string, any>;
  expect(validateSchema(doc), JSON.stringify(validateSchema.errors)).toBe(true);
  for (const directive of doc._aws.CloudWatchMetrics) {
    for (const set of directive.Dimensions) for (const d of set) expect(typeof doc[d], `dimension ${d}`).toBe("string");
    for (const m of directive.Metrics) {
      const v = doc[m.Name];
      const ok = typeof v === "number" || (Array.isArray(v) && v.length > 0 && v.length <= 100 && v.every((x) => typeof x === "number"));
      expect(ok, `metric ${m.Name} = ${JSON.stringify(v)}`).toBe(true);
    }
  }
  expect(Buffer.byteLength(line)).toBeLessThan(256 * 1024);
  return doc;
}

