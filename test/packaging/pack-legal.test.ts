/**
 * What the package and the layer owe their licences: LICENSE is the MPL-2.0 text package.json names,
 * NOTICE lists every third-party package in the layer's bundle (regenerated from the bundle's esbuild
 * metafile: a dependency added to the bundle without a NOTICE update fails here), and both ship in
 * the layer. The client the package ships imports nothing but Node's own modules (and the optional
 * Powertools peer), so "no runtime dependency" holds for the code, not only for package.json.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { bundledPackages, packageDirOf, renderNotice } from "../../scripts/notice.mjs";
import { CLIENT_DIR, LAYER_DIR, ROOT, cleanEnv, requireBuilt, run } from "./helpers.ts";

describe("LICENSE and NOTICE", () => {
  it("LICENSE is the Mozilla Public License 2.0, as package.json says", () => {
    const license = fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8");
    expect(license.startsWith("Mozilla Public License Version 2.0\n==================================\n")).toBe(true);
    expect(license).toContain('Exhibit B - "Incompatible With Secondary Licenses" Notice');
    expect(JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).license).toBe("MPL-2.0");
  });

  it("NOTICE is what scripts/notice.mjs makes of the bundle now, and names every bundled package with a licence text", async () => {
    const packages = await bundledPackages();
    const names = packages.map((p: { name: string }) => p.name);
    // The signer is in the main bundle, the STS client in the lazy chunk: both are covered.
    expect(names).toEqual(expect.arrayContaining(["@smithy/signature-v4", "@smithy/protocol-http", "@aws-sdk/client-sts"]));
    const notice = fs.readFileSync(path.join(ROOT, "NOTICE"), "utf8");
    expect(notice).toBe(renderNotice(packages));
    for (const p of packages) expect(notice).toMatch(new RegExp(`^  ${p.name.replace(/[/.]/g, "\\$&")}@${p.version.replace(/\./g, "\\.")}  ${p.license}  → text \\[\\d+\\]`, "m"));
    const check = await run(process.execPath, [path.join(ROOT, "scripts/notice.mjs"), "--check"], { env: cleanEnv(), timeoutMs: 30_000 });
    expect(check.code, check.stderr).toBe(0);
  });

  it("finds the package of a bundled file, scoped or not, nested or not", () => {
    expect(packageDirOf("node_modules/@smithy/core/dist-es/index.js")).toBe("node_modules/@smithy/core");
    expect(packageDirOf("node_modules/a/node_modules/bowser/es5.js")).toBe("node_modules/a/node_modules/bowser");
    expect(packageDirOf("src/main.ts")).toBeUndefined();
  });

  it("the layer carries LICENSE and NOTICE, byte for byte", () => {
    requireBuilt(path.join(LAYER_DIR, "vault-lambda-agent", "NOTICE"));
    for (const f of ["LICENSE", "NOTICE"]) expect(fs.readFileSync(path.join(LAYER_DIR, "vault-lambda-agent", f), "utf8"), f).toBe(fs.readFileSync(path.join(ROOT, f), "utf8"));
  });
});

describe("the shipped client", () => {
  it("imports only node: modules, its sibling and the optional Powertools peer", () => {
    requireBuilt(path.join(CLIENT_DIR, "index.js"), path.join(CLIENT_DIR, "index.cjs"));
    for (const f of fs.readdirSync(CLIENT_DIR).filter((f) => /\.(c?js)$/.test(f))) {
      const text = fs.readFileSync(path.join(CLIENT_DIR, f), "utf8");
      const specifiers = [...text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\(\s*)["']([^"']+)["']/g)].map((m) => m[1]!);
      expect(specifiers.length, f).toBeGreaterThan(0);
      expect(specifiers.filter((s) => !s.startsWith("node:") && !/^\.\/index\.c?js$/.test(s) && s !== "@aws-lambda-powertools/parameters/base"), f).toEqual([]);
    }
  });
});
