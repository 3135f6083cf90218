#!/usr/bin/env node
// Soak: 1,000 sockets over 50 chats with a real chat's traffic (`npm run soak`; not in CI: it takes
// ~2 min). In every chat of 20 members:
// - two senders send at a steady pace (--rate messages a second each, in lockstep across chats);
// - a typing pair: two other members type the way the web app does (src/web/chat-view.ts: one
//   `typing_start` when typing begins and again while typing once more than 3 s passed since the last,
//   `typing_stop` then the message on send): 5 s typing, a message, 5 s idle, over and over, each
//   typist at its own offset (0.1 messages a second each, whatever --rate is; --no-typing: none);
// - every socket marks what it received as read the way the web app does (`mark_read` at most once
//   a second; --no-reads: never).
// Every socket checks it receives every other socket's messages exactly once and in order, and counts
// every frame it receives by event. Sockets connect with `receipts=batched` (--receipts legacy: without
// it), the batched read receipts of issue 31 (`reads_updated`, one frame per socket per window; a
// server without them ignores the parameter and sends `read_updated`, one frame per moved marker).
// Printed per run, per message sent (messages = the senders' and the typists'):
// - frames received by event, and frames per message per member = frames received by all the soak's
//   sockets / messages sent / members per chat (every frame counts: receive_message, message_sent,
//   read_updated, reads_updated, user_typing, user_stopped_typing, …; 1.0 is one frame per member per
//   message, the least a chat can cost: the message to 19 members and the ack to its sender);
// - the frames the clients sent into rooms, by event;
// - from the counting Worker (bench/bench-worker.js): Durable Object storage rows written (by
//   statement), D1 statements and rows written, RPC calls by method (`InboxRoom.relay`: inbox calls),
//   counted from the first send until every message reached D1 and the counters stand still.
// Prints the runtime workerd's memory every 5 s (single run): it must flatten.
// Options: --rooms 50 --clients 20 --seconds 60 --rate 2 (messages per second per sender) --no-reads
// --no-typing --receipts batched|legacy --url (an already running service; D1/DO counts need the
// counting Worker) --port 8890 --entry bench/bench-worker.js --series (the slowest delivery per 100 ms
// of send time: which burst set the p99).
// Sweep: `npm run soak -- --sweep 0.25,0.5,1,2,4` runs each rate for --seconds (20 by default) on the
// same 1,000 sockets, with read markers and then without (--no-reads: only without), back to back per
// rate, and prints a table per mode and the highest rate at which delivery p99 stays under 250 ms
// (that rate and every lower one swept: p99 < 250 ms, nothing lost or duplicated). ~6 min. A
// warm-up run (--warmup 5 s at the lowest rate) comes first and is not reported.
import { parseArgs } from "node:util";
import { ClientEvent, ServerEvent } from "../src/protocol/events.ts";
import { api, makeChats, makeUsers, openSocket, percentiles, pool } from "./client.mjs";
import { rssMb, startService } from "./server.mjs";

const { values: o } = parseArgs({
  options: {
    rooms: { type: "string", default: "50" },
    clients: { type: "string", default: "20" },
    seconds: { type: "string" },
    rate: { type: "string", default: "2" },
    sweep: { type: "string" },
    "no-reads": { type: "boolean", default: false },
    "no-typing": { type: "boolean", default: false },
    receipts: { type: "string", default: "batched" },
    warmup: { type: "string", default: "5" },
    url: { type: "string" },
    port: { type: "string", default: "8890" },
    entry: { type: "string", default: "bench/bench-worker.js" },
    series: { type: "boolean", default: false },
  },
});
const [R, C, RATE] = [o.rooms, o.clients, o.rate].map(Number);
const SWEEP = o.sweep ? o.sweep.split(",").map(Number).sort((a, b) => a - b) : null;
if (SWEEP?.some((r) => !(r > 0))) throw new Error(`--sweep takes rates above 0, comma-separated: ${o.sweep}`);
const T = Number(o.seconds ?? (SWEEP ? 20 : 60));
const SENDERS = 2;
/** The typing pair: the members right after the senders. */
const TYPISTS = o["no-typing"] ? 0 : Math.max(0, Math.min(2, C - SENDERS - 1));
const READ_INTERVAL_MS = 1000;
/** The web app's typing cadence (src/web/chat-view.ts TYPING_IDLE_MS): a new typing_start once more than this passed. */
const TYPING_RENEW_MS = 3000;
const TYPE_MS = 5000;
const TYPING_CYCLE_MS = 10_000;
const KEY_MS = 250;
/** Delivery p99 under this is "keeps up" (issue 31). */
const P99_LIMIT_MS = 250;
/** A run's backlog may take this long to arrive after its last send; what has not by then is lost. */
const DRAIN_MS = 60_000;
/** No frame for this long (longer than a batched receipt window) and the run's frames are all in. */
const QUIET_MS = 1500;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * `--series`: the slowest delivery of the messages sent in each 100 ms of the run. A p99 is set by
 * about one burst of the run: this shows which (it found the inbox calls of a room's first reads).
 */
function slowestBySendTime(series, started) {
  const slowest = new Map();
  for (const [at, ms] of series) {
    const bucket = Math.round((at - started) / 100) * 100;
    slowest.set(bucket, Math.max(slowest.get(bucket) ?? 0, ms));
  }
  return [...slowest].sort((a, b) => a[0] - b[0]).map(([t, ms]) => `${t}:${Math.round(ms)}`).join(" ");
}

const service = o.url ? null : await startService({ port: Number(o.port), entry: o.entry });
const url = o.url ?? service.url;
const pid = service?.workerdPid();
/** The counting Worker's counters (reset first if asked), or null when the service is not that Worker. */
async function counters(reset = false) {
  const res = await fetch(`${url}/__bench/d1${reset ? "/reset" : ""}`, { method: reset ? "POST" : "GET" }).catch(() => null);
  return res?.ok ? res.json() : null;
}

/** The run in progress: what its sockets received and sent. A message carries its run's number, so a straggler never counts in a later run. */
let run = null;
const runs = [];
function newRun(spec) {
  return { ...spec, n: runs.length, sent: 0, acked: 0, delivered: 0, duplicates: 0, gaps: 0, errors: 0, late: 0, latencies: [], typistLatencies: [], series: [], frames: {}, framesIn: {}, lastFrameAt: performance.now() };
}
let errorsShown = 0;

try {
  const http = api(url);
  const tag = Date.now().toString(36);
  console.error(`setup: ${C} users, ${R} chats, ${R * C} sockets (receipts=${o.receipts})`);
  const setupStarted = performance.now();
  const users = await makeUsers(http, `soak${tag}`, C);
  const chats = await makeChats(http, users, R, `soak ${tag}`);
  const query = o.receipts === "legacy" ? {} : { receipts: o.receipts };
  const rooms = [];
  for (const chatId of chats) {
    const sockets = new Array(C);
    await pool(users.map((u, i) => [u, i]), 25, async ([u, i]) => (sockets[i] = await openSocket(url, chatId, u, { query })));
    rooms.push(sockets);
  }
  console.error(`setup: ${((performance.now() - setupStarted) / 1000).toFixed(1)} s`);

  // Per receiving socket: the next sequence number expected from each sender and typist (order and
  // gaps), and the newest message id it received and the one it last marked read.
  const reads = [];
  const typists = [];
  let setupFrames = 0;
  rooms.forEach((sockets, r) => {
    sockets.forEach((sock, idx) => {
      const expectNext = new Array(SENDERS + TYPISTS).fill(0);
      const read = { sock, newest: 0, reported: 0 };
      reads.push(read);
      if (idx >= SENDERS && idx < SENDERS + TYPISTS) typists.push({ sock, r, s: idx, seq: 0, typingSent: 0, cycleStart: 0 });
      sock.onFrame((event, data) => {
        if (!run) return void setupFrames++;
        run.frames[event] = (run.frames[event] ?? 0) + 1;
        run.lastFrameAt = performance.now();
        if (event === ServerEvent.ReceiveMessage) {
          read.newest = Math.max(read.newest, data.id);
          const [sender, seq, at, n] = data.content.split(":").map(Number);
          if (n !== run.n) return void (runs[n].late++, run.late++);
          if (seq < expectNext[sender]) run.duplicates++;
          else {
            if (seq > expectNext[sender]) run.gaps += seq - expectNext[sender];
            expectNext[sender] = seq + 1;
            run.delivered++;
            run.latencies.push(performance.now() - at);
            if (o.series) run.series.push([at, performance.now() - at]);
            if (sender >= SENDERS) run.typistLatencies.push(performance.now() - at);
          }
        } else if (event === ServerEvent.MessageSent) {
          if (Number(data.clientId?.split("-")[1]) === run.n) run.acked++;
          else run.late++;
        }
        else if (event === ServerEvent.Error) {
          run.errors++;
          if (errorsShown++ < 5) console.error("  error frame:", JSON.stringify(data));
        }
      });
    });
  });
  const seqs = rooms.map(() => new Array(SENDERS).fill(0));
  /** A frame into a room, counted by event. */
  const sendFrame = (sock, event, data) => {
    run.framesIn[event] = (run.framesIn[event] ?? 0) + 1;
    sock.ws.send(JSON.stringify({ event, data }));
  };
  const sendMessage = (sock, s, seq, r) => {
    run.framesIn[ClientEvent.SendMessage] = (run.framesIn[ClientEvent.SendMessage] ?? 0) + 1;
    sock.send(`${s}:${seq}:${performance.now()}:${run.n}`, `soak-${run.n}-${r}-${s}-${seq}`);
    run.sent++;
  };

  /** Waits until the counters stand still (and `ready` holds), polling every second; the last reading. */
  async function countersSettled(ready = () => true, deadline = Date.now() + 60_000) {
    let c = await counters();
    if (!c) return null;
    const moved = (a, b) => a.statements !== b.statements || JSON.stringify(a.billed) !== JSON.stringify(b.billed);
    for (;;) {
      await sleep(1000);
      const next = await counters();
      const still = !moved(c, next);
      c = next;
      if ((still && ready(c)) || Date.now() > deadline) return c;
    }
  }

  /** One run: `seconds` of traffic at `rate`, drained and counted. */
  async function soakRun({ rate, seconds, reads: marking, typing, memory }) {
    run = newRun({ rate, seconds, reads: marking, typing });
    runs.push(run);
    const counting = !!(await counters(true));
    const reader = marking
      ? setInterval(() => {
          for (const r of reads) if (r.newest > r.reported && !r.sock.closed) sendFrame(r.sock, ClientEvent.MarkRead, { messageId: (r.reported = r.newest) });
        }, READ_INTERVAL_MS)
      : null;
    const started = performance.now();
    for (const t of typists) t.cycleStart = started + Math.random() * TYPING_CYCLE_MS;
    const typingTick = typing
      ? setInterval(() => {
          const now = performance.now();
          for (const t of typists) {
            if (now < t.cycleStart) continue;
            if (now - t.cycleStart < TYPE_MS) {
              // A keystroke: the web app says it types when more than 3 s passed since it last did.
              if (t.typingSent === 0 || now - t.typingSent > TYPING_RENEW_MS) (sendFrame(t.sock, ClientEvent.TypingStart, {}), (t.typingSent = now));
            } else {
              // Send: typing stops, then the message.
              if (t.typingSent) sendFrame(t.sock, ClientEvent.TypingStop, {});
              t.typingSent = 0;
              sendMessage(t.sock, t.s, t.seq++, t.r);
              t.cycleStart += TYPING_CYCLE_MS;
            }
          }
        }, KEY_MS)
      : null;
    const tick = setInterval(() => {
      rooms.forEach((sockets, r) => {
        for (let s = 0; s < SENDERS; s++) sendMessage(sockets[s], s, seqs[r][s]++, r);
      });
    }, 1000 / rate);
    const sampler = memory ? setInterval(() => memory.push({ t: `${Math.round((performance.now() - started) / 1000)} s`, rssMb: rssMb(pid) }), 5000) : null;
    await sleep(seconds * 1000);
    clearInterval(tick);
    clearInterval(typingTick);
    clearInterval(sampler);
    // The typists leave the composer: their typing ends as the web app's idle timer would end it.
    for (const t of typists) if (t.typingSent) (sendFrame(t.sock, ClientEvent.TypingStop, {}), (t.typingSent = 0));
    const stopped = performance.now();
    const expected = run.sent * (C - 1);
    const drainUntil = Date.now() + DRAIN_MS;
    while ((run.acked < run.sent || run.delivered + run.duplicates < expected) && Date.now() < drainUntil) await sleep(100);
    const drainMs = Math.round(performance.now() - stopped);
    if (o.series) console.error(`  slowest delivery by send time (ms into the run: ms): ${slowestBySendTime(run.series, started)}`);
    memory?.push({ t: "end", rssMb: rssMb(pid) });
    // The last markers, then their receipts (a batched window is 1 s), then the copies that carry
    // them to D1: counted until D1 has every message and the counters stand still.
    if (reader) {
      await sleep(READ_INTERVAL_MS + 200);
      clearInterval(reader);
    }
    for (const quietUntil = Date.now() + 30_000; performance.now() - run.lastFrameAt < QUIET_MS && Date.now() < quietUntil; ) await sleep(100);
    const sent = run.sent;
    const c = counting ? await countersSettled((c) => c.copied_messages >= sent) : null;
    return report(run, { expected, drainMs, c });
  }

  function report(run, { expected, drainMs, c }) {
    const { sent } = run;
    const per = (n, digits = 3) => +(n / sent).toFixed(digits);
    const totalFrames = Object.values(run.frames).reduce((a, b) => a + b, 0);
    const byEvent = Object.fromEntries(
      Object.entries(run.frames)
        .sort((a, b) => b[1] - a[1])
        .map(([event, n]) => [event, { frames: n, per_message: per(n, 2), per_message_per_member: +(n / sent / C).toFixed(3) }]),
    );
    const result = {
      rate: run.rate,
      seconds: run.seconds,
      reads: run.reads,
      typing: run.typing,
      receipts: o.receipts,
      sockets: R * C,
      rooms: R,
      members_per_chat: C,
      sent,
      acked: run.acked,
      expected_deliveries: expected,
      delivered: run.delivered,
      lost: expected - run.delivered,
      duplicates: run.duplicates,
      gaps: run.gaps,
      errors: run.errors,
      late: run.late,
      drain_ms: drainMs,
      deliveries_per_s: Math.round(run.delivered / run.seconds),
      latency_ms: percentiles(run.latencies),
      typists_latency_ms: percentiles(run.typistLatencies),
      frames: { total: totalFrames, per_message_per_member: sent ? +(totalFrames / sent / C).toFixed(3) : null, by_event: byEvent },
      frames_in_per_message: Object.fromEntries(Object.entries(run.framesIn).map(([e, n]) => [e, per(n)])),
    };
    if (c) {
      const b = c.billed;
      const doRows = b.do_rows_written + b.do_kv_puts + b.do_alarm_sets;
      const rowsPerMessage = (m) => Object.fromEntries(Object.entries(m ?? {}).filter(([, e]) => e.rows_written > 0).map(([sql, e]) => [sql, per(e.rows_written)]));
      result.do = { rows_written: doRows, rows_written_per_message: per(doRows), rows_by_statement_per_message: rowsPerMessage(c.by_statement?.do) };
      result.d1 = {
        statements: c.statements,
        statements_per_message: per(c.statements, 4),
        rows_written_per_message: per(c.rows_written),
        copied_messages: c.copied_messages,
        caught_up: c.copied_messages >= sent,
        ack_to_d1_lag_ms: c.lag_ms,
        statements_by_sql: Object.fromEntries(Object.entries(c.by_statement?.d1 ?? {}).map(([sql, e]) => [sql, e.statements])),
      };
      result.requests_per_message = {
        ws_frames_into_rooms: per(b.do_ws_incoming),
        rpc_by_method: Object.fromEntries(Object.entries(c.rpc_by_method ?? {}).map(([m, n]) => [m, per(n)])),
        alarms: per(b.do_alarm),
      };
    }
    return result;
  }

  const failed = (r) => r.lost || r.duplicates || r.gaps || r.errors || r.acked !== r.sent || r.d1?.caught_up === false;
  const num = (n) => n.toLocaleString("en-US");

  function printRun(r) {
    console.error(`\n  sent ${num(r.sent)} (senders ${SENDERS} × ${R} chats at ${r.rate}/s${r.typing && TYPISTS ? `, typists ${TYPISTS} × ${R}` : ""}), acked ${num(r.acked)}, delivered ${num(r.delivered)}/${num(r.expected_deliveries)}, lost ${r.lost}, duplicates ${r.duplicates}, gaps ${r.gaps}, errors ${r.errors}${r.late ? `, late (from an earlier run) ${r.late}` : ""}`);
    console.error(`  delivery latency p50 ${r.latency_ms.p50} ms, p99 ${r.latency_ms.p99} ms, max ${r.latency_ms.max} ms (all arrived ${r.drain_ms} ms after the last send)${r.typists_latency_ms.p50 === null ? "" : `; the typists' messages alone p50 ${r.typists_latency_ms.p50} / p99 ${r.typists_latency_ms.p99} ms`}`);
    console.error(`\n  frames received per message sent (${num(r.sent)} messages; ${C} members per chat; reads ${r.reads ? "on" : "off"}, typing ${r.typing && TYPISTS ? "on" : "off"}, receipts=${r.receipts}):`);
    console.error(`    ${"event".padEnd(22)}${"frames".padStart(12)}${"per message".padStart(14)}${"per message per member".padStart(25)}`);
    for (const [event, e] of Object.entries(r.frames.by_event)) console.error(`    ${event.padEnd(22)}${num(e.frames).padStart(12)}${String(e.per_message).padStart(14)}${String(e.per_message_per_member).padStart(25)}`);
    console.error(`    ${"all".padEnd(22)}${num(r.frames.total).padStart(12)}${(r.frames.total / r.sent).toFixed(2).padStart(14)}${String(r.frames.per_message_per_member).padStart(25)}`);
    console.error(`  frames per message per member = frames received by all ${num(R * C)} sockets / messages sent / ${C} members per chat: ${r.frames.per_message_per_member}`);
    console.error(`  frames into rooms per message: ${Object.entries(r.frames_in_per_message).map(([e, n]) => `${e} ${n}`).join(", ")}`);
    if (r.do) {
      console.error(`  room storage (Durable Object): ${r.do.rows_written_per_message} rows written per message: ${Object.entries(r.do.rows_by_statement_per_message).map(([s, n]) => `${n} ${s}`).join("; ")}`);
      console.error(`  D1: ${r.d1.statements} statements, ${r.d1.statements_per_message} per message, ${r.d1.rows_written_per_message} rows written per message; ack→D1 lag p50 ${r.d1.ack_to_d1_lag_ms.p50} / p99 ${r.d1.ack_to_d1_lag_ms.p99} ms${r.d1.caught_up ? "" : " (NOT caught up)"}`);
      console.error(`  requests per message: ${r.requests_per_message.ws_frames_into_rooms} frames into rooms, ${r.requests_per_message.alarms} alarms, RPC ${Object.entries(r.requests_per_message.rpc_by_method).map(([m, n]) => `${m} ${n}`).join(", ") || "none"}`);
    }
  }

  // Setup's own frames (user_online) and the rooms' first copies settle before anything is counted.
  await countersSettled();
  if (!SWEEP) {
    const memory = [{ t: "0 s (connected)", rssMb: rssMb(pid) }];
    const r = await soakRun({ rate: RATE, seconds: T, reads: !o["no-reads"], typing: !o["no-typing"], memory });
    for (const sockets of rooms) for (const s of sockets) s.close();
    // Memory held by traffic (send buffers, caches) should drain once it stops; a leak would not.
    await sleep(15_000);
    memory.push({ t: "15 s after close", rssMb: rssMb(pid) });
    const result = { scenario: "soak", ...r, memory };
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
    printRun(r);
    console.log(JSON.stringify(result));
    process.exitCode = failed(r) ? 1 : 0;
  } else {
    const modes = o["no-reads"] ? [false] : [true, false];
    const results = [];
    const sweepStarted = Date.now();
    // The first seconds after setup run slower (rooms' first copies, the runtime warming up): a
    // short run at the lowest rate first, not reported.
    if (Number(o.warmup) > 0) {
      const w = await soakRun({ rate: SWEEP[0], seconds: Number(o.warmup), reads: modes[0], typing: !o["no-typing"] });
      console.error(`  warm-up (${o.warmup} s at ${SWEEP[0]}, not reported): p50 ${w.latency_ms.p50} / p99 ${w.latency_ms.p99} ms, lost ${w.lost}`);
    }
    for (const rate of SWEEP) {
      for (const marking of modes) {
        const at = new Date().toISOString().slice(11, 19);
        const r = await soakRun({ rate, seconds: T, reads: marking, typing: !o["no-typing"] });
        r.started_utc = at;
        results.push(r);
        console.error(
          `  ${at} UTC  rate ${rate}, reads ${marking ? "on " : "off"}: sent ${r.sent}, p50 ${r.latency_ms.p50} / p99 ${r.latency_ms.p99} ms, lost ${r.lost}, dup ${r.duplicates}, frames/msg/member ${r.frames.per_message_per_member}` +
            (r.do ? `, DO rows/msg ${r.do.rows_written_per_message}, D1 st/msg ${r.d1.statements_per_message}` : "") + `, workerd ${rssMb(pid) ?? "?"} MB`,
        );
      }
    }
    const highest = {};
    for (const marking of modes) {
      const rows = results.filter((r) => r.reads === marking);
      console.error(`\n  ${marking ? "with read markers" : "without read markers"} (typing ${!o["no-typing"] && TYPISTS ? "on" : "off"}, receipts=${o.receipts}, ${T} s per rate, ${num(R * C)} sockets in ${R} chats of ${C}):`);
      console.error(`    ${"rate".padEnd(6)}${"UTC".padEnd(10)}${"sent".padStart(7)}${"p50 ms".padStart(10)}${"p99 ms".padStart(10)}${"lost".padStart(6)}${"dup".padStart(5)}${"frames/msg/member".padStart(19)}${"read frames/msg/member".padStart(24)}${"DO rows/msg".padStart(13)}${"D1 st/msg".padStart(11)}${"D1 rows/msg".padStart(13)}`);
      for (const r of rows) {
        const readFrames = ["read_updated", "reads_updated"].reduce((n, e) => n + (r.frames.by_event[e]?.frames ?? 0), 0);
        console.error(
          `    ${String(r.rate).padEnd(6)}${r.started_utc.padEnd(10)}${String(r.sent).padStart(7)}${String(r.latency_ms.p50).padStart(10)}${String(r.latency_ms.p99).padStart(10)}${String(r.lost).padStart(6)}${String(r.duplicates).padStart(5)}${String(r.frames.per_message_per_member).padStart(19)}${(readFrames / r.sent / C).toFixed(3).padStart(24)}` +
            `${String(r.do?.rows_written_per_message ?? "-").padStart(13)}${String(r.d1?.statements_per_message ?? "-").padStart(11)}${String(r.d1?.rows_written_per_message ?? "-").padStart(13)}`,
        );
      }
      // The highest rate at which delivery keeps up: it and every lower rate swept under the limit, nothing lost.
      let best = null;
      for (const r of rows) {
        if (r.latency_ms.p99 < P99_LIMIT_MS && !r.lost && !r.duplicates && !r.gaps) best = r.rate;
        else break;
      }
      highest[marking ? "with_reads" : "without_reads"] = best;
      const under = rows.filter((r) => r.latency_ms.p99 < P99_LIMIT_MS && !r.lost && !r.duplicates && !r.gaps).map((r) => r.rate);
      console.error(`    highest rate with delivery p99 under ${P99_LIMIT_MS} ms: ${best === null ? `none (not even ${rows[0].rate})` : `${best} messages a second per sender (${best * SENDERS * R} a second in all, plus the typists')`}; every rate under it: ${under.join(", ") || "none"}`);
    }
    console.error(`\n  sweep: ${Math.round((Date.now() - sweepStarted) / 1000)} s`);
    for (const sockets of rooms) for (const s of sockets) s.close();
    console.log(JSON.stringify({ scenario: "soak-sweep", seconds_per_rate: T, p99_limit_ms: P99_LIMIT_MS, highest_rate_p99_under_limit: highest, runs: results }));
    process.exitCode = results.some(failed) ? 1 : 0;
  }
} finally {
  await service?.stop();
}
