#!/usr/bin/env node
// How far is our connect from the runtime's own? Runs, in one sitting and alternating, N connects at
// concurrency K against (a) the bare runtime (bench/bare-worker.js: the Worker forwards the upgrade
// to an object that accepts it and sends one frame; no token, no membership, none of our code) and
// (b) our service's connect scenario (token check, the room's membership and `joined_chat`). Both
// wait for the first frame and close. The bare figure is the ceiling our connects can reach on this
// machine.
// `--socketio ../shared/bench` adds (c) the Socket.IO reference server of that folder, measured by its
// own load tool in the same rounds, so the ceiling is also a ratio to Socket.IO from one sitting.
// `--after-big` first puts each target through compare.sh's big scenario (1,000 sockets, 500
// messages each delivered to the 999 others), as compare.sh does before its connect, and measures
// the rounds after it: what the runtime keeps from those sockets slows its later connects.
// Options: --connections 2000 --concurrency 50 --rounds 2 --port 8880
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pool, percentiles, webSocket } from "./client.mjs";
import { connect, messaging } from "./scenarios.mjs";
import { startService } from "./server.mjs";

const { values: o } = parseArgs({
  options: {
    connections: { type: "string", default: "2000" },
    concurrency: { type: "string", default: "50" },
    rounds: { type: "string", default: "2" },
    port: { type: "string", default: "8880" },
    socketio: { type: "string" },
    "after-big": { type: "boolean", default: false },
  },
});
const [N, K, ROUNDS, PORT] = [o.connections, o.concurrency, o.rounds, o.port].map(Number);
/** compare.sh's big scenario. */
const BIG = { rooms: 1, clients: 1000, senders: 1, messages: 500, window: 20 };

function openBare(wsUrl, room = "connect-floor") {
  return new Promise((resolve, reject) => {
    const ws = webSocket(`${wsUrl}/bare/${room}?hello`);
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

/**
 * The big scenario's load on the bare runtime: its object relays each frame to every other socket,
 * so 1,000 sockets and 500 frames, at most `window` unreceived, are the same deliveries.
 */
async function bareBig(url) {
  const wsUrl = url.replace(/^http/, "ws");
  const sockets = new Array(BIG.clients);
  await pool(Array.from({ length: BIG.clients }, (_, i) => i), 20, async (i) => (sockets[i] = await openBare(wsUrl, "big")));
  let received = 0;
  let wake = () => {};
  for (const ws of sockets.slice(1)) ws.onmessage = () => (received++, wake());
  const others = BIG.clients - 1;
  for (let sent = 0; sent < BIG.messages; ) {
    // At most `window` messages not yet delivered to every other socket.
    while (sent < BIG.messages && sent - Math.floor(received / others) < BIG.window) sockets[0].send(`m${sent++}`);
    await new Promise((r) => ((wake = r), setTimeout(r, 1000)));
  }
  while (received < BIG.messages * others) await new Promise((r) => ((wake = r), setTimeout(r, 1000)));
  for (const ws of sockets) ws.close();
}

/**
 * The shared bench folder's Socket.IO server, and its load tool's scenarios against it. Both run on
 * the `node` a shell would find, as compare.sh runs them: not the Node 24 npm puts first on PATH for
 * us, which better-sqlite3's native build for the machine's Node refuses.
 */
async function startSocketIo(dir) {
  const folder = resolve(dir);
  const port = PORT + 20;
  const dbDir = mkdtempSync(join(tmpdir(), "edge-chat-floor-sio-"));
  const PATH = (process.env.PATH ?? "").split(delimiter).filter((d) => !d.includes(join("node_modules", ".bin"))).join(delimiter);
  const child = spawn("node", ["socketio-server.mjs"], {
    cwd: folder,
    env: { ...process.env, PATH, PORT: String(port), DB_PATH: join(dbDir, "baseline.db") },
    stdio: "ignore",
  });
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(url).then(() => true, () => false)) break;
    if (i > 100 || child.exitCode !== null) throw new Error(`the Socket.IO server in ${folder} did not start (did \`npm install\` run there?)`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const load = (args) => {
    const run = spawnSync("node", ["load.mjs", "--target", "socketio", "--url", url, ...args], { cwd: folder, env: { ...process.env, PATH }, encoding: "utf8" });
    const result = JSON.parse(run.stdout.trim().split("\n").pop() || "{}");
    if (run.status !== 0 || result.error) throw new Error(`load.mjs ${args.join(" ")} failed: ${run.stderr}`);
    return result;
  };
  return {
    connects: () => {
      const r = load(["--scenario", "connect", "--connections", String(N), "--concurrency", String(K)]);
      return { connects_per_s: r.connects_per_s, failures: r.failures, connect_ms: r.latency_ms };
    },
    big: () => load(["--scenario", "fanout", ...Object.entries(BIG).flatMap(([k, v]) => [`--${k}`, String(v)])]),
    stop: () => (child.kill(), rmSync(dbDir, { recursive: true, force: true })),
  };
}

const rows = [];
const ratio = (a, b) => (a / b).toFixed(2);
let bare, ours, socketIo;
try {
  socketIo = o.socketio ? await startSocketIo(o.socketio) : null;
  bare = await startService({ port: PORT, entry: "bench/bare-worker.js" });
  ours = await startService({ port: PORT + 10 });
  // Warm all (the first connects compile and construct the objects).
  await bareConnects(bare.url);
  await connect({ url: ours.url }, { connections: 100, concurrency: K });
  if (o["after-big"]) {
    await bareBig(bare.url);
    await messaging({ url: ours.url }, BIG);
    socketIo?.big();
  }
  for (let round = 1; round <= ROUNDS; round++) {
    const sio = socketIo?.connects();
    const floor = await bareConnects(bare.url);
    const edge = await connect({ url: ours.url }, { connections: N, concurrency: K });
    rows.push({ round, ...(sio ? { socketio: sio } : {}), bare: floor, edge: { connects_per_s: edge.connects_per_s, failures: edge.failures, connect_ms: edge.connect_ms } });
    const toSio = sio ? `; Socket.IO ${sio.connects_per_s}/s (p99 ${sio.connect_ms.p99} ms): the floor ${ratio(floor.connects_per_s, sio.connects_per_s)}×, edge-chat ${ratio(edge.connects_per_s, sio.connects_per_s)}× Socket.IO` : "";
    console.error(`round ${round}${o["after-big"] ? " (after big)" : ""}: bare runtime ${floor.connects_per_s}/s (p99 ${floor.connect_ms.p99} ms), edge-chat ${edge.connects_per_s}/s (p99 ${edge.connect_ms.p99} ms): ${ratio(edge.connects_per_s, floor.connects_per_s)}× the floor${toSio}`);
  }
} finally {
  socketIo?.stop();
  await bare?.stop();
  await ours?.stop();
}
console.log(JSON.stringify({ scenario: "connect-floor", connections: N, concurrency: K, afterBig: o["after-big"], rounds: rows }));
if (rows.some((r) => r.bare.failures || r.edge.failures || r.socketio?.failures)) process.exit(1);
