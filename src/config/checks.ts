// What one variable cannot say alone: the Vault address and how it fits the rest, and the rules
// that tie several variables together. Each check adds problems (errors) or warnings.
import type { RunMode } from "../config.ts";
import { isLoopback, parseHttpUrl, urlPort } from "./parsers.ts";
import type { Reader } from "./reader.ts";
import type { Settings } from "./variables.ts";

export interface VaultAddress {
  /** Normalised, no trailing slash; a path prefix is kept. Empty when unset or invalid. */
  vaultAddr: string;
  vaultAddrVariable: "VLE_VAULT_ADDR" | "VAULT_ADDR";
  url?: URL;
}

/** VLE_VAULT_ADDR wins over VAULT_ADDR, so the function may point its own VAULT_ADDR at the proxy. */
export function readVaultAddress(r: Reader): VaultAddress {
  const vle = r.get("VLE_VAULT_ADDR");
  const vaultAddrVariable = vle !== undefined ? "VLE_VAULT_ADDR" : "VAULT_ADDR";
  const raw = vle ?? r.get("VAULT_ADDR");
  if (raw === undefined) {
    r.problem("VAULT_ADDR", "not set (set VAULT_ADDR or VLE_VAULT_ADDR to your Vault address, e.g. https://vault.example.com:8200)");
    return { vaultAddr: "", vaultAddrVariable };
  }
  const parsed = parseHttpUrl(vaultAddrVariable, raw, "the Vault address", "https://vault.example.com:8200");
  if (typeof parsed === "string") {
    r.problem(vaultAddrVariable, parsed);
    return { vaultAddr: "", vaultAddrVariable };
  }
  return { vaultAddr: parsed.normalised, vaultAddrVariable, url: parsed.url };
}

const TLS_FILE_VARIABLES = ["VAULT_CACERT", "VAULT_CAPATH", "VAULT_CLIENT_CERT", "VAULT_CLIENT_KEY"] as const;

/** TLS files: relative paths resolve against the working directory; a client certificate needs its key. */
export function checkTlsFiles(s: Pick<Settings, "caCert" | "caPath" | "clientCert" | "clientKey">, r: Reader, warnings: string[]): void {
  const files = [s.caCert, s.caPath, s.clientCert, s.clientKey];
  for (const [i, variable] of TLS_FILE_VARIABLES.entries()) {
    const value = files[i];
    if (value === undefined || value.startsWith("/")) continue;
    warnings.push(`${variable}: relative path is resolved against the extension's working directory; prefer an absolute path such as /var/task/<file> or /opt/<file>`);
  }
  if (r.has("VAULT_CLIENT_CERT") !== r.has("VAULT_CLIENT_KEY")) {
    const missing = r.has("VAULT_CLIENT_CERT") ? "VAULT_CLIENT_KEY" : "VAULT_CLIENT_CERT";
    r.problem(missing, "not set; a client certificate needs both VAULT_CLIENT_CERT and VAULT_CLIENT_KEY");
  }
}

/**
 * The address against the rest: pointing at this extension's own listener is the classic mistake
 * of pointing the function's VAULT_ADDR at the local proxy without setting VLE_VAULT_ADDR (the
 * extension would log in to itself); plain http to a remote host sends the token in clear; TLS
 * settings do nothing over http.
 */
export function checkVaultAddress(addr: VaultAddress, s: Pick<Settings, "runMode" | "port" | "skipVerify">, r: Reader, warnings: string[]): void {
  const { url, vaultAddrVariable } = addr;
  if (url !== undefined && s.runMode !== "file" && isLoopback(url.hostname) && urlPort(url) === s.port) {
    r.problem(
      vaultAddrVariable,
      `points at this extension's own listener (port ${s.port}); set VLE_VAULT_ADDR to the real Vault address` +
        (vaultAddrVariable === "VAULT_ADDR" ? " (the function may keep VAULT_ADDR for the local proxy)" : ""),
    );
  }
  if (url !== undefined && url.protocol === "http:") {
    if (!isLoopback(url.hostname)) warnings.push(`${vaultAddrVariable}: uses plain http to a remote host; the Vault token travels unencrypted (use https)`);
    const tlsVars = [...TLS_FILE_VARIABLES, "VAULT_TLS_SERVER_NAME"].filter((v) => r.has(v));
    if (tlsVars.length > 0) warnings.push(`${tlsVars.join(", ")}: ignored, because ${vaultAddrVariable} uses http, not https`);
  }
  if (s.skipVerify) warnings.push("VAULT_SKIP_VERIFY: Vault's TLS certificate is not verified; use VAULT_CACERT instead in production");
}

/** File mode with nothing to write has nothing to do. */
export function checkFileMode(runMode: RunMode, secretCount: number, r: Reader): void {
  if (runMode === "file" && secretCount === 0) {
    r.problem(
      "VAULT_RUN_MODE",
      "is file, but no secret is declared, so there is nothing to do (declare one with VAULT_SECRET_PATH_<NAME>=<vault path>, or use VAULT_RUN_MODE=default)",
    );
  }
}
