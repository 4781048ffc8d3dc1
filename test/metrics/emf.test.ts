/** The EMF lines of `VAULT_METRICS=emf`, validated against the specification's required members (./emf-schema.ts). */
import { describe, expect, it } from "vitest";
import { expectValidEmf } from "./emf-schema.ts";
import { EmfMetrics } from "../../src/metrics/emf.ts";
import { FakeClock, T0 } from "../vault/fakes.ts";

function recorder() {
  const lines: string[] = [];
  const clock = new FakeClock();
  const metrics = new EmfMetrics("orders-api", (l) => void lines.push(l), clock.now);
  return { lines, clock, metrics };
}

describe("EMF lines", () => {
  it("one line per flush with every counter, the Vault latencies and the init duration; namespace VaultLambdaAgent, dimension FunctionName", () => {
    const { lines, metrics } = recorder();
    metrics.vaultRequest(12.4, false);
    metrics.vaultRequest(30, true);
    metrics.count("Logins");
    metrics.count("Reads", 2);
    metrics.count("CacheHits", 5);
    metrics.flush({ initDurationMs: 181.6 });
    expect(lines).toHaveLength(1);
    const doc = expectValidEmf(lines[0]!);
    expect(doc._aws).toMatchObject({ Timestamp: T0, CloudWatchMetrics: [{ Namespace: "VaultLambdaAgent", Dimensions: [["FunctionName"]] }] });
    expect(doc).toMatchObject({
      FunctionName: "orders-api",
      VaultRequests: 2,
      VaultRequestFailures: 1,
      Logins: 1,
      Renewals: 0,
      Reads: 2,
      RefreshFailures: 0,
      StaleServes: 0,
      CacheHits: 5,
      CacheMisses: 0,
      VaultLatency: [12, 30],
      InitDuration: 182,
    });
    expect(doc._aws.CloudWatchMetrics[0].Metrics).toContainEqual({ Name: "VaultLatency", Unit: "Milliseconds" });
  });

  it("nothing happened, no line; a flush starts over", () => {
    const { lines, metrics, clock } = recorder();
    metrics.flush();
    expect(lines).toEqual([]);
    metrics.count("StaleServes");
    metrics.flush();
    clock.advance(1_000);
    metrics.count("CacheMisses");
    metrics.flush();
    expect(lines.map((l) => expectValidEmf(l))).toMatchObject([
      { StaleServes: 1, CacheMisses: 0 },
      { StaleServes: 0, CacheMisses: 1, _aws: { Timestamp: T0 + 1_000 } },
    ]);
    // No requests to Vault: no latency metric at all (an empty array is not a value).
    expect(JSON.parse(lines[1]!)).not.toHaveProperty("VaultLatency");
  });

  it("at most 100 latency values in a line, as EMF allows; the count stays exact", () => {
    const { lines, metrics } = recorder();
    for (let i = 0; i < 250; i++) metrics.vaultRequest(i, false);
    metrics.flush();
    const doc = expectValidEmf(lines[0]!);
    expect(doc.VaultLatency).toHaveLength(100);
    expect(doc.VaultRequests).toBe(250);
  });
});
