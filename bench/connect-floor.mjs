#!/usr/bin/env node
// How far is our connect from the runtime's own? Runs, in one sitting and alternating, N connects at
// concurrency K against (a) the bare runtime (bench/bare-worker.js: the Worker forwards the upgrade
// to an object that accepts it and sends one frame; no token, no membership, none of our code) and
// (b) our service's connect scenario (token check, the room's membership and `joined_chat`). Both
// wait for the first frame and close. The bare figure is the ceiling our connects can reach on this
// machine; compare it with Socket.IO's in the same minute (../shared/bench/load.mjs --scenario connect).
// Options: --connections 2000 --concurrency 50 --rounds 2 --port 8880
import { parseArgs } from "node:util";
import { pool, percentiles, webSocket } from "./client.mjs";
import { connect } from "./scenarios.mjs";
import { startService } from "./server.mjs";

const { values: o } = parseArgs({
  options: {
    connections: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "50" },
    rounds: { type: "string", default: "2" },
    port: { type: "string", default: "8880" },
  },
});
const [N, K, ROUNDS, PORT] = [o.connections, o.concurrency, o.rounds, o.port].map(Number);

function openBare(wsUrl) {
  return new Promise((resolve, reject) => {
    const ws = webSocket(`${wsUrl}/bare/connect-floor?hello`);
    ws.onmessage = () => resolve(ws);
    ws.onerror = () => reject(new Error("bare connect failed"));
  });
}

async function bareConnects(url) {
  const wsUrl = url.replace(/^http/, "ws");
  const lat = [];
  let failures = 0;
  const t0 = performance.now();
  await pool(Array.from({ length: N }, (_, i) => i), K, async () => {
    const s = performance.now();
    try {
      const ws = await openBare(wsUrl);
      lat.push(performance.now() - s);
      ws.close();
    } catch {
      failures++;
    }
  });
  const secs = (performance.now() - t0) / 1000;
  return { connects_per_s: Math.round(lat.length / secs), failures, connect_ms: percentiles(lat) };
}

const bare = await startService({ port: PORT, entry: "bench/bare-worker.js" });
const ours = await startService({ port: PORT + 10 });
const rows = [];
try {
  // Warm both (the first connects compile and construct the objects).
  await bareConnects(bare.url);
  await connect({ url: ours.url }, { connections: 100, concurrency: K });
  for (let round = 1; round <= ROUNDS; round++) {
    const floor = await bareConnects(bare.url);
    const edge = await connect({ url: ours.url }, { connections: N, concurrency: K });
    rows.push({ round, bare: floor, edge: { connects_per_s: edge.connects_per_s, failures: edge.failures, connect_ms: edge.connect_ms } });
    console.error(`round ${round}: bare runtime ${floor.connects_per_s}/s (p99 ${floor.connect_ms.p99} ms), edge-chat ${edge.connects_per_s}/s (p99 ${edge.connect_ms.p99} ms): ${(edge.connects_per_s / floor.connects_per_s).toFixed(2)}× the floor`);
  }
} finally {
  await bare.stop();
  await ours.stop();
}
console.log(JSON.stringify({ scenario: "connect-floor", connections: N, concurrency: K, rounds: rows }));
if (rows.some((r) => r.bare.failures || r.edge.failures)) process.exit(1);
