// Variables that look like ours but are not: misspellings (VAULT_RUNMODE), wrong case
// (vault_addr), Vault CLI variables this extension does not implement. Warnings, never errors:
// a function may have its own reasons for a variable we do not know.
import { SECRET_FILE_PREFIX, SECRET_PATH_PREFIX } from "./secrets.ts";

// Vault CLI/API variables a function may legitimately set for its own Vault client: never
// reported as misspellings of ours.
const FOREIGN_VAULT_VARIABLES = new Set([
  "VAULT_TOKEN",
  "VAULT_AGENT_ADDR",
  "VAULT_FORMAT",
  "VAULT_CLI_NO_COLOR",
  "VAULT_MFA",
  "VAULT_DISABLE_REDIRECTS",
  "VAULT_SRV_LOOKUP",
  "VAULT_WRAP_TTL",
  "VAULT_LICENSE",
  "VAULT_LICENSE_PATH",
  "VAULT_API_ADDR",
  "VAULT_CLUSTER_ADDR",
  "VAULT_REDIRECT_ADDR",
  "VAULT_LOG_FORMAT",
]);

// Vault API variables HashiCorp's extension inherits but this one does not implement: a user
// migrating would otherwise lose them without a word.
const UNSUPPORTED_VAULT_VARIABLES: Readonly<Record<string, string>> = {
  VAULT_CACERT_BYTES: "put the PEM in a file (e.g. in the function package) and set VAULT_CACERT",
  VAULT_RATE_LIMIT: "remove it",
  VAULT_HTTP_PROXY: "remove it; the extension connects to Vault directly",
  VAULT_PROXY_ADDR: "remove it; the extension connects to Vault directly",
};

/** A warning for every VAULT_* / VLE_* variable that is not ours, with the one it probably meant. */
export function lookalikeWarnings(env: Record<string, string | undefined>, knownVariables: readonly string[]): string[] {
  const out: string[] = [];
  const known = new Set(knownVariables);
  const squash = (s: string) => s.replace(/_/g, "");
  const knownSquashed = knownVariables.map((k) => [k, squash(k)] as const);

  for (const variable of Object.keys(env).sort()) {
    const upper = variable.toUpperCase();
    if (!upper.startsWith("VAULT") && !upper.startsWith("VLE")) continue;
    if (known.has(variable) || variable.startsWith(SECRET_PATH_PREFIX) || variable.startsWith(SECRET_FILE_PREFIX)) continue;
    if (FOREIGN_VAULT_VARIABLES.has(variable)) continue;
    const unsupported = UNSUPPORTED_VAULT_VARIABLES[variable];
    if (unsupported !== undefined) {
      out.push(`${variable}: not supported by vault-lambda-agent and ignored; ${unsupported}`);
      continue;
    }
    if (known.has(upper) || upper.startsWith(SECRET_PATH_PREFIX) || upper.startsWith(SECRET_FILE_PREFIX)) {
      const suggestion = known.has(upper) ? upper : upper.slice(0, SECRET_PATH_PREFIX.length) + variable.slice(SECRET_PATH_PREFIX.length);
      out.push(`${variable}: ignored, variable names are case-sensitive; did you mean ${suggestion}?`);
      continue;
    }
    const suggestion = suggestFor(upper, variable, knownSquashed, squash);
    if (suggestion !== undefined) out.push(`${variable}: not a variable of vault-lambda-agent and ignored; did you mean ${suggestion}?`);
  }
  return out;
}

function suggestFor(
  upper: string,
  original: string,
  knownSquashed: readonly (readonly [string, string])[],
  squash: (s: string) => string,
): string | undefined {
  // VAULT_SECRETS_PATH_DB, VAULT_SECRETPATH_DB, VAULT_SECRET_FILES_DB …: try every split after an
  // underscore; a prefix close to VAULT_SECRET_PATH_/VAULT_SECRET_FILE_ keeps the rest as the name.
  // Tried first, so that VAULT_SECRETPATH_DB suggests VAULT_SECRET_PATH_DB, not VAULT_SECRET_PATH.
  for (let i = upper.indexOf("_"); i >= 0 && i < upper.length - 1; i = upper.indexOf("_", i + 1)) {
    const prefix = squash(upper.slice(0, i));
    const rest = original.slice(i + 1);
    for (const target of [SECRET_PATH_PREFIX, SECRET_FILE_PREFIX]) {
      if (editDistance(prefix, squash(target), 2) <= 2) return `${target}${rest}`;
    }
  }
  // A misspelling (VAULT_RUNMODE, VAULT_ADR): at most two edits, underscores ignored.
  const s = squash(upper);
  let best: { name: string; score: number } | undefined;
  for (const [name, squashed] of knownSquashed) {
    const d = editDistance(s, squashed, 2);
    if (d <= 2 && (best === undefined || d < best.score)) best = { name, score: d };
  }
  if (best !== undefined) return best.name;
  // A truncation or an extension (VAULT_TOKEN_EXPIRY_GRACE, VAULT_ADDRESS): one is a prefix of the
  // other, and the shorter is long enough (≥ 9 characters, VAULTADDR) to mean something.
  for (const [name, squashed] of knownSquashed) {
    const [shorter, longer] = s.length <= squashed.length ? [s, squashed] : [squashed, s];
    if (shorter.length >= 9 && longer.startsWith(shorter)) {
      const score = longer.length - shorter.length;
      if (best === undefined || score < best.score) best = { name, score };
    }
  }
  return best?.name;
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const v = Math.min((prev[j] ?? Infinity) + 1, (cur[j - 1] ?? Infinity) + 1, (prev[j - 1] ?? Infinity) + cost);
      cur.push(v);
      rowMin = Math.min(rowMin, v);
    }
    if (rowMin > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length] ?? limit + 1;
}
