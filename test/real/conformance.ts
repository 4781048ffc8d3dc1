/**
 * Compares two Vault answers the way a client sees them: status, the shape of the JSON (keys and
 * value types, recursively), the error texts and the warnings. Values that differ per server
 * (ids, tokens, times) are not compared; texts are, after naming each product the same way.
 */
export interface Answer {
  status: number;
  json: any;
}

/** OpenBao renamed Vault in its texts; the peer speaks as Vault does. Request ids differ per server. */
export function asVault(text: string): string {
  return text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>").replace(/OpenBao CLI/g, "Vault CLI").replace(/'bao /g, "'vault ").replace(/OpenBao/g, "Vault");
}

function shapeOf(value: unknown): unknown {
  if (value === null) return "null";
  if (Array.isArray(value)) return value.length === 0 ? "array" : ["array of", shapeOf(value[0])];
  if (typeof value === "object") return Object.fromEntries(Object.keys(value as object).sort().map((k) => [k, shapeOf((value as Record<string, unknown>)[k])]));
  return typeof value;
}

function flatten(shape: unknown, prefix: string, out: Map<string, string>): void {
  if (shape && typeof shape === "object" && !Array.isArray(shape)) {
    for (const [k, v] of Object.entries(shape)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
    if (Object.keys(shape).length === 0) out.set(prefix, "{}");
    return;
  }
  out.set(prefix, JSON.stringify(shape));
}

/**
 * The differences between the peer's answer and OpenBao's, one line each, in a stable order:
 * `status`, `shape <path>: <peer> ≠ <openbao>`, `errors`, `warnings`.
 */
export function differences(peer: Answer, bao: Answer): string[] {
  const out: string[] = [];
  if (peer.status !== bao.status) out.push(`status: ${peer.status} ≠ ${bao.status}`);
  const a = new Map<string, string>();
  const b = new Map<string, string>();
  flatten(shapeOf(strip(peer.json)), "", a);
  flatten(shapeOf(strip(bao.json)), "", b);
  for (const key of [...new Set([...a.keys(), ...b.keys()])].sort()) {
    if (a.get(key) !== b.get(key)) out.push(`shape ${key || "(body)"}: ${a.get(key) ?? "absent"} ≠ ${b.get(key) ?? "absent"}`);
  }
  const texts = (json: any, field: string): string => JSON.stringify(((json?.[field] ?? null) as string[] | null)?.map((t) => asVault(t.trim())) ?? null);
  if (texts(peer.json, "errors") !== texts(bao.json, "errors")) out.push(`errors: ${texts(peer.json, "errors")} ≠ ${texts(bao.json, "errors")}`);
  if (texts(peer.json, "warnings") !== texts(bao.json, "warnings")) out.push(`warnings: ${texts(peer.json, "warnings")} ≠ ${texts(bao.json, "warnings")}`);
  return out;
}

/** errors and warnings are compared as texts, not as shapes. */
function strip(json: any): any {
  if (!json || typeof json !== "object") return json;
  const { errors: _e, warnings: _w, ...rest } = json;
  return rest;
}
