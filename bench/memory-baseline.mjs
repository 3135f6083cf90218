#!/usr/bin/env node
// Whose memory is it? Runs the bare runtime (bench/bare-worker.js: same bindings, Durable Objects
// that only accept hibernatable sockets and relay frames; none of our code) through the same two
// loads our service gets:
//   idle — N sockets held: runtime workerd VmRSS while held minus before, per socket, next to our
//          service's idle scenario (bench/scenarios.mjs) in a fresh runtime of its own;
//   soak — the same sockets chatting like `npm run soak` (2 senders per room, --rate messages/s
//          each, --seconds long): RSS over time, to compare with the soak's growth.
// Options: --rooms 20 --clients 50 --hold 15 --seconds 60 --rate 1
import { parseArgs } from "node:util";
import { pool, webSocket } from "./client.mjs";
import { idle } from "./scenarios.mjs";
import { rssMb, startService } from "./server.mjs";

const { values: o } = parseArgs({
  options: {
    rooms: { type: "string", default: "20" },
    clients: { type: "string", default: "50" },
    hold: { type: "string", default: "15" },
    seconds: { type: "string", default: "60" },
    rate: { type: "string", default: "1" },
  },
});
const [R, C, T, S, RATE] = [o.rooms, o.clients, o.hold, o.seconds, o.rate].map(Number);
const SENDERS = 2;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function openBare(wsUrl, room) {
  return new Promise((resolve, reject) => {
    const ws = webSocket(`${wsUrl}/bare/${room}`);
    ws.received = 0;
    ws.onopen = () => resolve(ws);
    ws.onerror = () => reject(new Error(`connect to ${room} failed`));
  });
}

async function bare() {
  const service = await startService({ port: 8870, entry: "bench/bare-worker.js" });
  try {
    const pid = service.workerdPid();
    const wsUrl = service.url.replace(/^http/, "ws");
    await sleep(2000);
    const before = rssMb(pid);
    const rooms = Array.from({ length: R }, () => []);
    await pool(Array.from({ length: R * C }, (_, i) => i % R), 50, async (r) => rooms[r].push(await openBare(wsUrl, `room-${r}`)));
    const sockets = rooms.flat();
    await sleep(T * 1000);
    const held = rssMb(pid);

    for (const ws of sockets) ws.onmessage = () => ws.received++;
    const memory = [{ t: "0 s", rssMb: rssMb(pid) }];
    let sent = 0;
    const started = performance.now();
    const tick = setInterval(() => {
      for (const group of rooms) for (let s = 0; s < SENDERS; s++) (group[s].send(`${s}:${sent}`), sent++);
    }, 1000 / RATE);
    const sampler = setInterval(() => memory.push({ t: `${Math.round((performance.now() - started) / 1000)} s`, rssMb: rssMb(pid) }), 5000);
    await sleep(S * 1000);
    clearInterval(tick);
    clearInterval(sampler);
    const expected = sent * (C - 1);
    const drainUntil = Date.now() + 30_000;
    const received = () => sockets.reduce((n, ws) => n + ws.received, 0);
    while (received() < expected && Date.now() < drainUntil) await sleep(100);
    memory.push({ t: "end", rssMb: rssMb(pid) });
    for (const ws of sockets) ws.close();
    await sleep(15_000);
    memory.push({ t: "15 s after close", rssMb: rssMb(pid) });
    return {
      open: sockets.length,
      idle: { rss_mb: { before, held }, rss_kb_per_socket: +(((held - before) * 1024) / sockets.length).toFixed(1) },
      soak: { sent, expected_deliveries: expected, delivered: received(), memory },
    };
  } finally {
    await service.stop();
  }
}

async function ours() {
  const service = await startService({ port: 8880, entry: "bench/bench-worker.js" });
  try {
    return await idle({ url: service.url, service }, { rooms: R, clients: C, hold: T });
  } finally {
    await service.stop();
  }
}

const runtime = await bare();
const service = await ours();
const ratio = +(service.rss_kb_per_socket / runtime.idle.rss_kb_per_socket).toFixed(2);
console.error(`\n  idle: ${R * C} sockets over ${R} rooms held ${T} s, (runtime workerd VmRSS held − before) / sockets`);
console.error(`  bare runtime:  ${runtime.idle.rss_kb_per_socket} KB per socket (${runtime.idle.rss_mb.before} → ${runtime.idle.rss_mb.held} MB)`);
console.error(`  edge chat:     ${service.rss_kb_per_socket} KB per socket (${service.rss_mb.before} → ${service.rss_mb.held} MB)`);
console.error(`  ours / bare:   ${ratio}×`);
console.error(`\n  bare runtime soak: ${runtime.soak.sent} sent, ${runtime.soak.delivered}/${runtime.soak.expected_deliveries} delivered`);
for (const m of runtime.soak.memory) console.error(`  ${m.t.padEnd(18)}${m.rssMb} MB`);
console.log(JSON.stringify({ scenario: "memory-baseline", sockets: R * C, bare_runtime: runtime, edge_chat_idle: service, idle_ratio: ratio }));
process.exitCode = runtime.soak.delivered === runtime.soak.expected_deliveries && service.failures === 0 && service.lost === 0 ? 0 : 1;
