#!/usr/bin/env node
// Soak: 1,000 sockets over 50 chats chatting for 60 s (`npm run soak`; not in CI: it takes ~2 min).
// Two senders per chat send at a steady pace; every socket checks that it receives every other
// socket's messages exactly once, and marks what it received as read the way the web app does
// (`mark_read` at most once a second). Prints the runtime workerd's memory every 5 s: it must stay
// flat. Runs the counting Worker (bench/bench-worker.js) and reports D1 statements and rows written per
// message sent, counted from the first send until every message and marker reached D1.
// Options: --rooms 50 --clients 20 --seconds 60 --rate 2 (messages per second per sender) --url (an already running service).
import { parseArgs } from "node:util";
import { ClientEvent, ServerEvent } from "../src/protocol/events.ts";
import { api, makeChats, makeUsers, openSocket, percentiles, pool } from "./client.mjs";
import { rssMb, startService } from "./server.mjs";

const { values: o } = parseArgs({
  options: {
    rooms: { type: "string", default: "50" },
    clients: { type: "string", default: "20" },
    seconds: { type: "string", default: "60" },
    rate: { type: "string", default: "2" },
    url: { type: "string" },
    port: { type: "string", default: "8890" },
    entry: { type: "string", default: "bench/bench-worker.js" },
  },
});
const [R, C, T, RATE] = [o.rooms, o.clients, o.seconds, o.rate].map(Number);
const SENDERS = 2;
const READ_INTERVAL_MS = 1000;

const service = o.url ? null : await startService({ port: Number(o.port), entry: o.entry });
const url = o.url ?? service.url;
const pid = service?.workerdPid();
const memory = [];
const sample = (label) => memory.push({ t: label, rssMb: rssMb(pid) });
/** The counting Worker's D1 counters (reset first if asked), or null when the service is not that Worker. */
async function d1Counters(reset = false) {
  const res = await fetch(`${url}/__bench/d1${reset ? "/reset" : ""}`, { method: reset ? "POST" : "GET" }).catch(() => null);
  return res?.ok ? res.json() : null;
}
try {
  const http = api(url);
  const run = Date.now().toString(36);
  console.error(`setup: ${C} users, ${R} chats, ${R * C} sockets`);
  const users = await makeUsers(http, `soak${run}`, C);
  const chats = await makeChats(http, users, R, `soak ${run}`);
  const rooms = [];
  for (const chatId of chats) {
    const sockets = new Array(C);
    await pool(users.map((u, i) => [u, i]), 25, async ([u, i]) => (sockets[i] = await openSocket(url, chatId, u)));
    rooms.push(sockets);
  }
  sample("0 s (connected)");

  // Per receiving socket: the next sequence number expected from each sender (order and gaps), and
  // the newest message id it received and the one it last marked read.
  let sent = 0, acked = 0, delivered = 0, duplicates = 0, gaps = 0, errors = 0;
  const latencies = [];
  const reads = [];
  for (const sockets of rooms) {
    sockets.forEach((sock, idx) => {
      const expectNext = new Array(SENDERS).fill(0);
      const read = { sock, newest: 0, reported: 0 };
      reads.push(read);
      sock.onFrame((event, data) => {
        if (event === ServerEvent.ReceiveMessage) {
          read.newest = Math.max(read.newest, data.id);
          const [sender, seq, at] = data.content.split(":").map(Number);
          if (seq < expectNext[sender]) duplicates++;
          else {
            if (seq > expectNext[sender]) gaps += seq - expectNext[sender];
            expectNext[sender] = seq + 1;
            delivered++;
            latencies.push(performance.now() - at);
          }
        } else if (event === ServerEvent.MessageSent && idx < SENDERS) acked++;
        else if (event === ServerEvent.Error) errors++;
      });
    });
  }
  const seqs = rooms.map(() => new Array(SENDERS).fill(0));
  const counting = await d1Counters(true);
  const reader = setInterval(() => {
    for (const r of reads) {
      if (r.newest > r.reported && !r.sock.closed) r.sock.ws.send(JSON.stringify({ event: ClientEvent.MarkRead, data: { messageId: (r.reported = r.newest) } }));
    }
  }, READ_INTERVAL_MS);
  const started = performance.now();
  const tick = setInterval(() => {
    rooms.forEach((sockets, r) => {
      for (let s = 0; s < SENDERS; s++) {
        const seq = seqs[r][s]++;
        sockets[s].send(`${s}:${seq}:${performance.now()}`, `soak-${r}-${s}-${seq}`);
        sent++;
      }
    });
  }, 1000 / RATE);
  const sampler = setInterval(() => sample(`${Math.round((performance.now() - started) / 1000)} s`), 5000);
  await new Promise((r) => setTimeout(r, T * 1000));
  clearInterval(tick);
  clearInterval(sampler);
  const expected = sent * (C - 1);
  const drainUntil = Date.now() + 30_000;
  while ((acked < sent || delivered + duplicates < expected) && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 100));
  sample("end");
  // The last markers, then the copies that carry them: counted until D1 has every message and the
  // counters stand still.
  await new Promise((r) => setTimeout(r, READ_INTERVAL_MS + 200));
  clearInterval(reader);
  let d1 = await d1Counters();
  for (let last = -1; counting && Date.now() < drainUntil + 60_000; ) {
    if (d1.copied_messages >= sent && d1.statements === last) break;
    last = d1.statements;
    await new Promise((r) => setTimeout(r, 3000));
    d1 = await d1Counters();
  }
  for (const sockets of rooms) for (const s of sockets) s.close();
  // Memory held by traffic (send buffers, caches) should drain once it stops; a leak would not.
  await new Promise((r) => setTimeout(r, 15_000));
  sample("15 s after close");

  const result = {
    scenario: "soak",
    sockets: R * C,
    rooms: R,
    seconds: T,
    sent,
    acked,
    expected_deliveries: expected,
    delivered,
    lost: expected - delivered,
    duplicates,
    gaps,
    errors,
    deliveries_per_s: Math.round(delivered / T),
    latency_ms: percentiles(latencies),
    ...(counting
      ? {
          d1: {
            statements: d1.statements,
            statements_per_message: +(d1.statements / sent).toFixed(4),
            rows_written_per_message: +(d1.rows_written / sent).toFixed(3),
            copied_messages: d1.copied_messages,
            caught_up: d1.copied_messages >= sent,
            ack_to_d1_lag_ms: d1.lag_ms,
            statements_by_sql: Object.fromEntries(Object.entries(d1.by_statement?.d1 ?? {}).map(([sql, e]) => [sql, e.statements])),
          },
        }
      : {}),
    memory,
  };
  console.error("\n  time              runtime workerd RSS");
  for (const m of memory) console.error(`  ${m.t.padEnd(18)}${m.rssMb ?? "?"} MB`);
  // Warm-up growth (heaps and buffers reaching their working size) flattens out; a leak grows with
  // every message, so it shows in the second half as much as in the first.
  const during = memory.filter((m) => m.t.endsWith(" s") || m.t === "end");
  const mid = during[Math.floor(during.length / 2)];
  if (during.length > 2 && during.every((m) => m.rssMb != null)) {
    const first = mid.rssMb - during[0].rssMb, second = during.at(-1).rssMb - mid.rssMb;
    result.rss_growth_mb = { first_half: +first.toFixed(1), second_half: +second.toFixed(1) };
    console.error(`\n  RSS growth while chatting: first half +${first.toFixed(1)} MB, second half +${second.toFixed(1)} MB`);
  }
  console.error(`\n  sent ${sent}, acked ${acked}, delivered ${delivered}/${expected}, lost ${result.lost}, duplicates ${duplicates}, gaps ${gaps}, errors ${errors}`);
  console.error(`  delivery latency p50 ${result.latency_ms.p50} ms, p99 ${result.latency_ms.p99} ms`);
  if (result.d1) console.error(`  D1: ${result.d1.statements} statements, ${result.d1.statements_per_message} per message, ${result.d1.rows_written_per_message} rows written per message; ack→D1 lag p50 ${result.d1.ack_to_d1_lag_ms.p50} / p99 ${result.d1.ack_to_d1_lag_ms.p99} ms${result.d1.caught_up ? "" : " (NOT caught up)"}`);
  console.log(JSON.stringify(result));
  process.exitCode = result.lost || duplicates || gaps || errors || acked !== sent || result.d1?.caught_up === false ? 1 : 0;
} finally {
  await service?.stop();
}
