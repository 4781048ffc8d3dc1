/**
 * Peers (issue item 6): what a user would write instead — log in from the handler's module init
 * with the npm packages `vault-auth-aws` (aws4-signed IAM login) and `node-vault`, and read the
 * secret on every invocation (bench/fixtures/peer) — against the layer plus a handler that fetches
 * `/secrets/<name>` (bench/fixtures/reader; bench/fixtures/client does the same with the package's
 * client, for the notes). All under the Lambda emulator, with the same 20 ms
 * injected on every Vault request, environments interleaved, in the same run.
 *
 * Init = the emulator's init duration (extension init, then runtime and function init). Per-invoke =
 * event → response plus the extensions' post-invoke time (what Lambda bills).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { LambdaEmulator } from "../test/peers/lambda/emulator.ts";
import { describeSamples, makeResult, median, round } from "./stats.ts";
import type { BenchOptions, BenchResult } from "./types.ts";
import { BenchWorld, CONFIG_PATH, FIXTURES, LAYER_DIR, ROLE, freePort } from "./world.ts";

const GROUP = "peers";
const LATENCY_MS = 20;

interface EnvSamples {
  initMs: number[];
  invokeMs: number[];
  firstInvokeMs: number[];
  vaultCallsPerInvoke: number[];
}

const empty = (): EnvSamples => ({ initMs: [], invokeMs: [], firstInvokeMs: [], vaultCallsPerInvoke: [] });

async function runEnvironment(world: BenchWorld, emu: LambdaEmulator, invokes: number, into: EnvSamples, who: string): Promise<void> {
  try {
    const init = await emu.start();
    if (!init.ok) throw new Error(`${who}: init failed: ${init.error?.type}: ${init.error?.message}; ${emu.logs().slice(-3).join(" | ")}`);
    into.initMs.push(init.durationMs);
    for (let i = 0; i < invokes; i++) {
      const from = world.vault.requestLog.length;
      const r = await emu.invoke({ name: "config" });
      const out = r.response as { keys?: string[] } | undefined;
      if (!r.ok || !out?.keys?.includes("api_key")) throw new Error(`${who}: invoke failed: ${r.error?.errorType ?? ""} ${r.error?.errorMessage ?? JSON.stringify(r.response)}`);
      const ms = r.durationMs + r.extensionOverheadMs;
      if (i === 0) into.firstInvokeMs.push(ms);
      into.invokeMs.push(ms);
      into.vaultCallsPerInvoke.push(world.vault.requestLog.length - from);
    }
  } finally {
    await emu.kill();
  }
}

export async function peers(opts: BenchOptions): Promise<BenchResult[]> {
  const environments = opts.smoke ? 1 : 6;
  const invokes = opts.smoke ? 3 : 15;
  const world = await BenchWorld.start();
  // The peer runs without any extension: an empty layer.
  const emptyLayer = fs.mkdtempSync(path.join(os.tmpdir(), "vla-empty-layer-"));
  const samples = { ours: empty(), client: empty(), peer: empty() };
  try {
    world.vault.addFault({ path: /.*/, latencyMs: LATENCY_MS });
    for (let i = 0; i < environments; i++) {
      const order = i % 2 === 0 ? (["ours", "client", "peer"] as const) : (["peer", "client", "ours"] as const);
      for (const who of order) {
        const port = await freePort();
        const emu =
          who === "peer"
            ? world.emulator({ layerDir: emptyLayer, functionDir: path.join(FIXTURES, "peer"), handler: "index.handler", env: { VAULT_ADDR: world.vault.url, VAULT_AUTH_ROLE: ROLE, SECRET_PATH: CONFIG_PATH } })
            : world.emulator({ layerDir: LAYER_DIR, functionDir: path.join(FIXTURES, who === "ours" ? "reader" : "client"), handler: "index.handler", env: world.agentEnv(port, { config: CONFIG_PATH }) });
        await runEnvironment(world, emu, invokes, samples[who], who);
      }
      opts.log(`peers: environment ${i + 1}/${environments}`);
    }
  } finally {
    fs.rmSync(emptyLayer, { recursive: true, force: true });
    await world.close();
  }

  const { ours, client, peer } = samples;
  const setup = `Both under the Lambda emulator (real processes, SIGSTOP between invocations), ${LATENCY_MS} ms injected on every Vault request, ${environments} environment(s) each, interleaved; the secret is the KV v2 ${CONFIG_PATH}.`;
  return [
    makeResult({
      group: GROUP,
      name: `init+${LATENCY_MS}ms-vault`,
      value: median(ours.initMs),
      unit: "ms",
      baseline: median(peer.initMs),
      target: "ratio ≤ 1 (no slower than the peer)",
      met: median(ours.initMs) <= median(peer.initMs),
      notes: `Init duration (emulator: start → runtime and extensions waiting for events). Ours: the extension registers once its listener is bound, then logs in and reads while the runtime starts a handler with no init work; ${describeSamples(ours.initMs)} ms. Peer: the runtime loads vault-auth-aws (aws4, got, @aws-sdk/credential-provider-node) and node-vault (axios), logs in at module init; ${describeSamples(peer.initMs)} ms. ${setup}`,
      digits: 1,
    }),
    makeResult({
      group: GROUP,
      name: `invoke+${LATENCY_MS}ms-vault`,
      value: median(ours.invokeMs),
      unit: "ms",
      baseline: median(peer.invokeMs),
      target: "ratio ≤ 1 (no slower than the peer)",
      met: median(ours.invokeMs) <= median(peer.invokeMs),
      notes: `Per invocation: event → response + post-invoke extension time; ${invokes} invocations per environment, median of all. Ours: fetch of /secrets/config (cached by the extension), ${median(ours.vaultCallsPerInvoke)} Vault call(s) per invocation; first invocation ${round(median(ours.firstInvokeMs), 1)} ms (Node 20 loads undici at the first fetch). With the package's client (vault-lambda-agent/client, node:http) instead of fetch: median ${round(median(client.invokeMs), 2)} ms, first invocation ${round(median(client.firstInvokeMs), 1)} ms. Peer: node-vault read per invocation, ${median(peer.vaultCallsPerInvoke)} Vault call(s); first invocation ${round(median(peer.firstInvokeMs), 1)} ms.`,
      digits: 2,
    }),
  ];
}
