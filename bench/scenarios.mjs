// The bench scenarios. Each gets { url, scale, ctx } and returns a result object; setup (users,
// chats, sockets, seeded history) is untimed. A result with lost/duplicates/failures > 0 fails the run.
import { performance } from "node:perf_hooks";
import { ServerEvent } from "../src/protocol/events.ts";
import { api, makeChats, makeUsers, openSocket, percentiles, pool } from "./client.mjs";
import { inspectWorker } from "./inspector.mjs";
import { cpuSeconds, rssMb } from "./server.mjs";

const tag = () => Math.random().toString(36).slice(2, 8);

/**
 * R chats × C sockets; the first S sockets of each chat send M messages each, at most W unacked.
 * Every other socket must receive every message exactly once; every send must be acked once.
 */
export async function messaging({ url, service, wsQuery = {}, timed = null }, { rooms: R, clients: C, senders: S, messages: M, window: W }) {
  const http = api(url);
  const run = tag();
  const users = await makeUsers(http, `f${run}`, C);
  const chats = await makeChats(http, users, R, `bench ${run}`);
  const roomSockets = [];
  for (const chatId of chats) {
    const socks = new Array(C);
    await pool(users.map((u, i) => [u, i]), 20, async ([u, i]) => (socks[i] = await openSocket(url, chatId, u, { query: wsQuery })));
    roomSockets.push(socks);
  }
  const expected = R * S * M * (C - 1);
  const latencies = new Float64Array(expected);
  const ackLatencies = new Float64Array(R * S * M);
  let delivered = 0, duplicates = 0, errors = 0, acked = 0, duplicateAcks = 0;
  let done;
  const allDone = new Promise((r) => (done = r));
  const check = () => acked === R * S * M && delivered + duplicates >= expected && done();
  const senders = [];
  for (const socks of roomSockets) {
    socks.forEach((sock, idx) => {
      const seen = new Uint8Array(S * M);
      const state = idx < S ? { sent: 0, inflight: 0, next: null, sentAt: new Float64Array(M), acked: new Uint8Array(M) } : null;
      sock.onFrame((event, data) => {
        if (event === ServerEvent.ReceiveMessage) {
          const [sender, seq, t] = data.content.split(":");
          const key = Number(sender) * M + Number(seq);
          if (seen[key]) duplicates++;
          else (seen[key] = 1), (latencies[delivered++] = performance.now() - Number(t));
          check();
        } else if (event === ServerEvent.MessageSent && state) {
          const seq = Number(data.clientId.split("-").pop());
          if (state.acked[seq]) duplicateAcks++;
          else (state.acked[seq] = 1), (ackLatencies[acked++] = performance.now() - state.sentAt[seq]);
          state.inflight--;
          state.next();
          check();
        } else if (event === ServerEvent.Error) {
          errors++;
          if (errors < 5) console.error("  error frame:", JSON.stringify(data));
          if (state) state.inflight--, state.next();
        }
      });
      if (state) senders.push({ sock, idx, state });
    });
  }
  // Optional: let the setup's background work (the new chat's calls to every member's inbox) finish first.
  if (process.env.BENCH_SETTLE_MS) await new Promise((r) => setTimeout(r, Number(process.env.BENCH_SETTLE_MS)));
  const d1Before = await benchD1(url, "reset");
  await timed?.start();
  // The runtime's CPU over the timed phase alone: per delivery, what a loaded machine's wall clock hides.
  const pid = service?.workerdPid();
  const cpu0 = pid ? cpuSeconds(pid) : null;
  const t0 = performance.now();
  for (const { sock, idx, state } of senders) {
    state.next = () => {
      while (state.inflight < W && state.sent < M) {
        const seq = state.sent++;
        state.inflight++;
        state.sentAt[seq] = performance.now();
        sock.send(`${idx}:${seq}:${state.sentAt[seq]}`, `${run}-${idx}-${seq}`);
      }
    };
    state.next();
  }
  // A big room's deliveries take a while on a loaded machine: at least 5,000 a second is asked of it.
  const timeoutS = Math.max(30, (R * S * M) / 200, expected / 5000);
  const timedOut = await Promise.race([allDone.then(() => false), new Promise((r) => setTimeout(() => r(true), timeoutS * 1000))]);
  const secs = (performance.now() - t0) / 1000;
  const cpuUs = cpu0 !== null ? (cpuSeconds(pid) - cpu0) * 1e6 : null;
  await timed?.stop();
  // Late duplicates would show up here.
  await new Promise((r) => setTimeout(r, 200));
  // Before the sockets close, so the counts are the messages' alone (not the disconnects').
  const d1 = d1Before && (await d1Copy(url, acked));
  for (const socks of roomSockets) for (const s of socks) s.close();
  return {
    ...(d1 ? { d1 } : {}),
    ...(d1?.d1_lag_timeout ? { d1_lag_timeout: d1.d1_lag_timeout } : {}),
    accepted_per_s: Math.round(acked / secs),
    deliveries_per_s: Math.round(delivered / secs),
    ...(cpuUs !== null ? { workerd_cpu_us_per_delivery: +(cpuUs / Math.max(1, delivered)).toFixed(2) } : {}),
    seconds: +secs.toFixed(2),
    ack_ms: percentiles(ackLatencies.subarray(0, acked)),
    delivery_ms: percentiles(latencies.subarray(0, delivered)),
    sent: R * S * M,
    acked,
    expected_deliveries: expected,
    delivered,
    lost: expected - delivered + (R * S * M - acked),
    duplicates: duplicates + duplicateAcks,
    errors,
    ...(timedOut ? { error: `timed out after ${timeoutS} s` } : {}),
  };
}

/**
 * The bench Worker's D1 counters (bench/bench-worker.js); null when the service is not the bench
 * Worker (e.g. --url to another server).
 */
async function benchD1(url, action) {
  try {
    const res = await fetch(`${url}/__bench/d1${action === "reset" ? "/reset" : ""}`, { method: action === "reset" ? "POST" : "GET" });
    if (!res.ok) return null;
    const body = await res.json();
    return typeof body?.statements === "number" && typeof body?.copied_messages === "number" ? body : null;
  } catch {
    return null;
  }
}

/**
 * Waits (at most 30 s) until the rooms have copied every acknowledged message to D1, then reports
 * what the scenario cost in D1 per message, and the lag from each ack to its D1 row.
 */
async function d1Copy(url, acked) {
  const deadline = Date.now() + 30_000;
  let d1 = await benchD1(url);
  while (d1 && d1.copied_messages < acked && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    d1 = (await benchD1(url)) ?? d1;
  }
  if (!d1) return null;
  const per = (n) => +(n / Math.max(1, acked)).toFixed(4);
  return {
    caught_up: d1.copied_messages >= acked,
    copied_messages: d1.copied_messages,
    statements: d1.statements,
    statements_per_message: per(d1.statements),
    calls: d1.calls,
    calls_per_message: per(d1.calls),
    rows_written: d1.rows_written,
    rows_written_per_message: per(d1.rows_written),
    lag_ms: d1.lag_ms,
    ...(d1.copied_messages < acked ? { d1_lag_timeout: `${d1.copied_messages}/${acked} copied after 30 s` } : {}),
  };
}

/** N connects (HTTP auth + upgrade + joined_chat) at concurrency K, each closed after joining. */
export async function connect({ url }, { connections: N, concurrency: K }) {
  const http = api(url);
  const users = await makeUsers(http, `c${tag()}`, 20);
  const [chatId] = await makeChats(http, users, 1, "bench connect");
  const lat = [];
  let failures = 0;
  const t0 = performance.now();
  await pool(Array.from({ length: N }, (_, i) => i), K, async (i) => {
    const s = performance.now();
    try {
      const sock = await openSocket(url, chatId, users[i % users.length]);
      lat.push(performance.now() - s);
      sock.close();
    } catch (e) {
      if (failures++ < 3) console.error("  connect failed:", e.message);
    }
  });
  const secs = (performance.now() - t0) / 1000;
  return { connects_per_s: Math.round(lat.length / secs), ok: lat.length, failures, seconds: +secs.toFixed(2), connect_ms: percentiles(lat) };
}

/**
 * R chats × C sockets held T seconds. Memory per socket from workerd's RSS. Hibernation proof: the
 * number of live JS WebSocket objects in the Worker isolate (Chrome DevTools protocol,
 * Runtime.queryObjects after a forced GC) while the rooms are awake vs after the hold; every socket
 * still answers ping (the runtime's auto-response) while its room is evicted, and a message sent
 * afterwards in each room still reaches all its other sockets (the room woke up and works).
 */
export async function idle({ url, service }, { rooms: R, clients: C, hold: T }) {
  const http = api(url);
  const users = await makeUsers(http, `i${tag()}`, C);
  const chats = await makeChats(http, users, R, "bench idle");
  const pid = service?.workerdPid();
  // Opt-in: a second inspector session on the runtime made wrangler restart it mid-hold here.
  const inspector = service && process.env.BENCH_COUNT_OBJECTS ? await inspectWorker(service.inspectorPort, "core:user:", () => fetch(`${url}/api/me`)).catch((e) => (console.error("  inspector:", e.message), null)) : null;
  // Rooms constructed so far (bench/bench-worker.js): a room counts again each time it wakes from eviction.
  const constructed = () => fetch(`${url}/__bench/rooms`).then((r) => (r.ok ? r.json() : null)).then((b) => b?.constructed ?? null, () => null);
  await new Promise((r) => setTimeout(r, 2000));
  const before = { rss_mb: rssMb(pid), ws_objects: await inspector?.countWebSockets() };
  const socks = [];
  let failures = 0;
  const pairs = chats.flatMap((chatId) => users.map((u) => [chatId, u]));
  const t0 = performance.now();
  await pool(pairs, 50, async ([chatId, u]) => {
    try {
      socks.push(await openSocket(url, chatId, u, 60_000));
    } catch (e) {
      if (failures++ < 3) console.error("  connect failed:", e.message);
    }
  });
  const openSecs = (performance.now() - t0) / 1000;
  const awake = { rss_mb: rssMb(pid), ws_objects: await inspector?.countWebSockets(), rooms_constructed: await constructed() };
  console.error(`  holding ${socks.length} sockets for ${T} s`);
  await new Promise((r) => setTimeout(r, T * 1000));
  const held = { rss_mb: rssMb(pid), ws_objects: await inspector?.countWebSockets() };
  // Pings are answered by the runtime without waking the room.
  for (const s of socks) s.ping();
  const pingDeadline = Date.now() + 15_000;
  while (socks.some((s) => s.pongs === 0) && Date.now() < pingDeadline) await new Promise((r) => setTimeout(r, 100));
  const pongs = socks.filter((s) => s.pongs > 0).length;
  const afterPing = { ws_objects: await inspector?.countWebSockets(), rooms_constructed: await constructed() };
  // Then each room must wake and deliver one message to all of its other sockets.
  const byChat = Map.groupBy(socks, (s) => s.chatId);
  let woke = 0, lostAfterWake = 0;
  const wakeLat = [];
  await pool([...byChat.values()], 10, async (group) => {
    const content = `wake ${tag()}`;
    const receivers = group.slice(1).map(
      (s) => new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), 15_000);
        s.onFrame((event, data) => event === ServerEvent.ReceiveMessage && data.content === content && (clearTimeout(timer), resolve(true)));
      }),
    );
    const s0 = performance.now();
    group[0].send(content, `wake-${tag()}`);
    const got = await Promise.all(receivers);
    wakeLat.push(performance.now() - s0);
    lostAfterWake += got.filter((g) => !g).length;
    if (got.every(Boolean)) woke++;
  });
  const afterWake = await constructed();
  for (const s of socks) s.close();
  await new Promise((r) => setTimeout(r, 3000));
  const after = { rss_mb: rssMb(pid), ws_objects: await inspector?.countWebSockets() };
  inspector?.close();
  const perSocketKb = before.rss_mb != null ? +(((held.rss_mb - before.rss_mb) * 1024) / Math.max(1, socks.length)).toFixed(1) : null;
  return {
    open: socks.length,
    failures: failures + (socks.length - pongs),
    open_seconds: +openSecs.toFixed(2),
    held_s: T,
    rss_mb: { before: before.rss_mb, awake: awake.rss_mb, held: held.rss_mb, after_close: after.rss_mb },
    rss_kb_per_socket: perSocketKb,
    ws_objects_in_isolate: { before: before.ws_objects, awake: awake.ws_objects, held: held.ws_objects, after_ping: afterPing.ws_objects, after_close: after.ws_objects },
    pongs,
    // Evicted during the hold = constructed again by the wake-up message (ping did not wake them).
    rooms_constructed: { awake: awake.rooms_constructed, after_hold_and_ping: afterPing.rooms_constructed, after_wake: afterWake },
    rooms_evicted_and_rebuilt: afterWake != null && afterPing.rooms_constructed != null ? afterWake - afterPing.rooms_constructed : null,
    rooms_woken_and_delivered: woke,
    wake_delivery_ms: percentiles(wakeLat),
    lost: lostAfterWake,
    duplicates: 0,
  };
}

/** Seeds one chat with N messages (untimed), then pages all of it newest-first with `before`, P readers at once. */
export async function history({ url }, { messages: N, readers: P, limit }) {
  const http = api(url);
  const users = await makeUsers(http, `h${tag()}`, 2);
  const [chatId] = await makeChats(http, users, 1, "bench history");
  const sock = await openSocket(url, chatId, users[0]);
  await new Promise((resolve, reject) => {
    let sent = 0, acked = 0, inflight = 0;
    const next = () => {
      while (inflight < 100 && sent < N) inflight++, sock.send(`history ${sent}`, `h-${sent++}`);
      if (acked === N) resolve();
    };
    sock.onFrame((event, data) => {
      if (event === ServerEvent.MessageSent) acked++, inflight--, next();
      if (event === ServerEvent.Error) reject(new Error(JSON.stringify(data)));
    });
    next();
  });
  sock.close();
  const pageLat = [];
  let lost = 0, duplicates = 0, pages = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: P }, async () => {
      const ids = new Set();
      let before = null, prevFirst = Infinity;
      for (;;) {
        const s = performance.now();
        const page = await http("GET", `/api/chats/${chatId}/messages?limit=${limit}${before ? `&before=${before}` : ""}`, null, users[1].token);
        pageLat.push(performance.now() - s);
        pages++;
        const ms = page.messages;
        for (let i = 0; i < ms.length; i++) {
          if (ids.has(ms[i].id)) duplicates++;
          ids.add(ms[i].id);
          if (i > 0 && ms[i].id <= ms[i - 1].id) duplicates++;
        }
        if (ms.length && ms.at(-1).id >= prevFirst) duplicates++;
        if (!page.hasMore || !ms.length) break;
        prevFirst = ms[0].id;
        before = ms[0].id;
      }
      lost += N - ids.size;
    }),
  );
  const secs = (performance.now() - t0) / 1000;
  return {
    pages,
    pages_per_s: Math.round(pages / secs),
    messages_per_s: Math.round((P * N) / secs),
    seconds: +secs.toFixed(2),
    page_ms: percentiles(pageLat),
    lost,
    duplicates,
  };
}
