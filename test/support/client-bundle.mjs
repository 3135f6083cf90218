// The TypeScript client, bundled on the fly so Node-side tests use exactly the shipped code.
import { build } from "esbuild";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export async function loadClient() {
  const outfile = join(mkdtempSync(join(tmpdir(), "edge-chat-client-")), "client.mjs");
  await build({
    entryPoints: [fileURLToPath(new URL("../../src/client/index.ts", import.meta.url))],
    outfile,
    bundle: true,
    format: "esm",
    platform: "neutral",
    logLevel: "warning",
  });
  return import(outfile);
}

/** Node ≥ 22 has WebSocket, fetch and timers globally: the same environment a browser gives. */
export const nodeEnvironment = () => ({
  WebSocket: globalThis.WebSocket,
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h),
  random: Math.random,
});
