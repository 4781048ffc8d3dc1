/**
 * Live JavaScript heap of a node process, from heap snapshots taken on a signal
 * (`node --heapsnapshot-signal=SIGUSR2`): V8 runs a full garbage collection before it writes one, so
 * the sum of the nodes' self sizes is what the program really keeps — unlike RSS, which also moves
 * when V8 resizes its young generation or the allocator keeps pages.
 */
import fs from "node:fs";

export interface HeapSummary {
  /** Sum of self sizes of every heap node, in bytes. */
  liveBytes: number;
  nodes: number;
  /** Bytes by node type (`code`, `string`, `object`, ...). */
  byType: Record<string, number>;
}

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
}

export function summarizeSnapshot(file: string): HeapSummary {
  const raw = JSON.parse(fs.readFileSync(file, "utf8")) as RawSnapshot;
  const fields = raw.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf("type");
  const sizeAt = fields.indexOf("self_size");
  const types = raw.snapshot.meta.node_types[0];
  const byType: Record<string, number> = {};
  let liveBytes = 0;
  for (let i = 0; i < raw.nodes.length; i += width) {
    const size = raw.nodes[i + sizeAt]!;
    const type = types[raw.nodes[i + typeAt]!] ?? "unknown";
    liveBytes += size;
    byType[type] = (byType[type] ?? 0) + size;
  }
  return { liveBytes, nodes: raw.nodes.length / width, byType };
}

/** The newest `*.heapsnapshot` in `dir` that is not in `before`, if any. */
export function newSnapshot(dir: string, before: ReadonlySet<string>): string | undefined {
  const files = fs.readdirSync(dir).filter((f) => f.endsWith(".heapsnapshot") && !before.has(f));
  return files.sort().at(-1);
}
