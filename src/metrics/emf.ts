/**
 * CloudWatch metrics with `VAULT_METRICS=emf`: counts and latencies gathered as they happen and
 * written as one Embedded Metric Format line per flush (README, "Health and monitoring"). The agent
 * flushes at the end of init, of each INVOKE's refresh and of SHUTDOWN: at most one line per
 * invocation and per refresh cycle. Only numbers and the function's name: never a secret.
 */
import type { Clock } from "../clock.ts";
import { writeLine } from "../output.ts";

export const NAMESPACE = "VaultLambdaAgent";

/** The counters, by their CloudWatch name. */
export type Counter =
  | "VaultRequests"
  | "VaultRequestFailures"
  | "Logins"
  | "Renewals"
  | "Reads"
  | "RefreshFailures"
  | "StaleServes"
  | "CacheHits"
  | "CacheMisses";

const COUNTERS: readonly Counter[] = ["VaultRequests", "VaultRequestFailures", "Logins", "Renewals", "Reads", "RefreshFailures", "StaleServes", "CacheHits", "CacheMisses"];

/** EMF allows at most 100 values per metric in one line; past that the latencies are sampled down to the first 100. */
const MAX_VALUES = 100;

/** What the machinery reports to; a no-op without `VAULT_METRICS=emf`. */
export interface Metrics {
  count(counter: Counter, n?: number): void;
  /** One request to Vault ended (retries included), after `ms`. */
  vaultRequest(ms: number, failed: boolean): void;
}

export const NO_METRICS: Metrics = { count: () => {}, vaultRequest: () => {} };

export class EmfMetrics implements Metrics {
  private counts = new Map<Counter, number>();
  private latencies: number[] = [];

  constructor(
    private readonly functionName: string,
    private readonly write: (line: string) => void = (line) => writeLine(process.stdout, line),
    private readonly now: Clock = Date.now,
  ) {}

  count(counter: Counter, n = 1): void {
    this.counts.set(counter, (this.counts.get(counter) ?? 0) + n);
  }

  vaultRequest(ms: number, failed: boolean): void {
    this.count("VaultRequests");
    if (failed) this.count("VaultRequestFailures");
    if (this.latencies.length < MAX_VALUES) this.latencies.push(Math.max(0, Math.round(ms)));
  }

  /** Writes what was gathered since the last flush as one line (nothing when nothing happened), and starts over. */
  flush(extra: { initDurationMs?: number } = {}): void {
    const line = this.line(extra);
    this.counts = new Map();
    this.latencies = [];
    if (line) this.write(line);
  }

  private line(extra: { initDurationMs?: number }): string | undefined {
    const happened = this.counts.size > 0 || extra.initDurationMs !== undefined;
    if (!happened) return undefined;
    const metrics: Array<{ Name: string; Unit: string }> = COUNTERS.map((name) => ({ Name: name, Unit: "Count" }));
    const values: Record<string, number | number[]> = {};
    for (const name of COUNTERS) values[name] = this.counts.get(name) ?? 0;
    if (this.latencies.length > 0) {
      metrics.push({ Name: "VaultLatency", Unit: "Milliseconds" });
      values.VaultLatency = this.latencies;
    }
    if (extra.initDurationMs !== undefined) {
      metrics.push({ Name: "InitDuration", Unit: "Milliseconds" });
      values.InitDuration = Math.round(extra.initDurationMs);
    }
    return JSON.stringify({
      _aws: { Timestamp: this.now(), CloudWatchMetrics: [{ Namespace: NAMESPACE, Dimensions: [["FunctionName"]], Metrics: metrics }] },
      FunctionName: this.functionName,
      ...values,
    });
  }
}
