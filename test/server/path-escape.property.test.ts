/**
 * Defect 1 as a property, over 20 000 seeded targets made of the pieces an escape is built from:
 * whatever `/v1...` target a caller sends, either the localhost API refuses it (4xx) or what goes
 * to Vault stays under `<VAULT_ADDR path>/v1/` — read by a server that decodes once, and by a
 * gateway that normalises dot segments and takes a backslash for a slash — and the Vault client
 * accepts it (the server never builds what the client would refuse).
 */
import { describe, expect, it } from "vitest";
import { checkTarget } from "../../src/server/guards.ts";
import { forwardedPath } from "../../src/server/proxy.ts";
import { requestTarget } from "../../src/vault/client.ts";

const PIECES = [
  "..", ".", "%2e", "%2E", "%2e%2e", ".%2e", "%2f", "%2F", "%5c", "%5C", "\\", ";", "..;", "?", "&", "=", "/", "//", "#",
  "%00", "%252e", "%c0%ae", "%", "%zz", "a", "v1", "sys", "raw", "secret", "data", "%20", "é", "~", "list=true",
] as const;
const HARMLESS = ["a", "sys", "secret", "data", "creds", "x-y", "%20", "~", "v1"] as const;

function generator(seed: number): () => string {
  let s = seed;
  // 32-bit arithmetic (Math.imul): a plain product would lose the low bits to float rounding.
  const rand = (n: number) => ((s = (Math.imul(s, 1103515245) + 12345) & 0x7fffffff) % n);
  // Mostly `/v1/...`; one in four glued to `/v1` itself (`/v1?../..`, `/v1..`).
  // Half the pieces harmless, so that plenty of targets get through to be checked on the far side.
  const piece = () => (rand(2) === 0 ? HARMLESS[rand(HARMLESS.length)]! : PIECES[rand(PIECES.length)]!);
  return () => (rand(4) === 0 ? "/v1" : "/v1/") + Array.from({ length: 1 + rand(6) }, piece).join(rand(3) === 0 ? "" : "/");
}

/** The path a normalising gateway would route: `\` read as `/`, percent-decoded once, dot segments removed. */
function gatewayPath(target: string): string {
  const pathOnly = target.split("?")[0]!.replace(/\\/g, "/");
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathOnly).replace(/\\/g, "/");
  } catch {
    decoded = pathOnly;
  }
  return new URL(decoded, "http://vault.invalid").pathname;
}

describe("no /v1 target escapes (defect 1)", () => {
  it("20 000 generated targets: refused, or forwarded under <prefix>/v1/ however the far side reads it", () => {
    const next = generator(0x0e5ca9e);
    let forwarded = 0;
    let refused = 0;
    for (let i = 0; i < 20_000; i++) {
      const raw = next();
      const target = checkTarget(raw);
      if ("status" in target) {
        expect(target.status, raw).toBeGreaterThanOrEqual(400);
        expect(target.status, raw).toBeLessThan(500);
        refused++;
        continue;
      }
      // Routed to the proxy only when the first segment is `v1` (`/v1sys` is an unknown route).
      const path = target.pathname.split("/")[1] === "v1" ? forwardedPath(target) : undefined;
      if (path === undefined) {
        refused++;
        continue;
      }
      const sent = requestTarget("/prefix/", { method: "GET", path });
      expect(sent.startsWith("/prefix/v1/"), raw).toBe(true);
      expect(gatewayPath(sent).startsWith("/prefix/v1/"), `${raw} → ${sent}`).toBe(true);
      expect(new URL(sent, "http://vault.invalid").pathname.startsWith("/prefix/v1/"), raw).toBe(true);
      forwarded++;
    }
    // Both sides were exercised, not just one.
    expect(forwarded).toBeGreaterThan(1_000);
    expect(refused).toBeGreaterThan(1_000);
  });
});
