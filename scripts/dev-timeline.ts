/**
 * The timeline that `npm start` (scripts/demo.ts) and `vault-lambda-agent dev` (scripts/dev.ts)
 * print: one row per phase with its milliseconds, the Vault calls made since the previous row (when
 * the Vault is the sandbox's, whose request log is known), and what the handler saw.
 */
export class TimelinePrinter {
  private cursor = 0;

  /** `vaultPaths`: every path Vault was asked for so far, in order; undefined for a Vault we cannot see. */
  constructor(
    private readonly out: (line: string) => void,
    private readonly vaultPaths?: () => string[],
  ) {}

  /** What happened before now (seeding the sandbox) is not the extension's doing. */
  skipSoFar(): void {
    this.cursor = this.vaultPaths?.().length ?? 0;
  }

  /** Vault calls since the last row, as "path ×n" counts. */
  private vaultCalls(): string {
    if (!this.vaultPaths) return "not visible (your Vault)";
    const all = this.vaultPaths();
    const slice = all.slice(this.cursor);
    this.cursor = all.length;
    const counts = new Map<string, number>();
    for (const p of slice) counts.set(p, (counts.get(p) ?? 0) + 1);
    return [...counts].map(([p, n]) => (n > 1 ? `${p} ×${n}` : p)).join(", ") || "none";
  }

  row(phase: string, ms: number, saw: string): void {
    this.out(`  ${phase.padEnd(34)} ${String(Math.round(ms)).padStart(6)} ms   vault: ${this.vaultCalls()}\n  ${"".padEnd(34)} ${"".padStart(9)}   handler saw: ${saw}`);
  }
}
