// `npm run bench -- cost`: what one message costs, counted by the bench Worker's billing counters
// (bench/bench-worker.js) and priced at Cloudflare's published rates (PRICES, docs/PERFORMANCE.md).
// Four kinds of chat, each with and without one typing pair (typing_start + typing_stop) per message:
// members online hold the chat socket and their inbox socket, and mark what they read the way the
// web app does (mark_read at most once a second). Setup (users, chats, connects) is not counted.
// Each case is a new chat (a room that has just started: its first copy to D1 is how it learns who
// has an inbox open), counted until D1 has every message and the counters have stood still for 1.5 s.
// `messages`: per case (100; `npm run bench -- quick cost` and the CI test, test/e2e/cost.test.mjs, send 60).
import { ClientEvent, InboxEvent, ServerEvent } from "../src/protocol/events.ts";
import { api, makeUsers, openSocket, webSocket } from "./client.mjs";

/** Cloudflare Workers Paid, per unit, as published (docs/PERFORMANCE.md cites the pages and the date read). */
export const PRICES = {
  workerRequest: 0.3 / 1e6,
  durableObjectRequest: 0.15 / 1e6,
  /** Incoming WebSocket messages to a Durable Object are billed as requests at 20:1. */
  webSocketMessagesPerRequest: 20,
  durableObjectRowWritten: 1.0 / 1e6,
  d1RowWritten: 1.0 / 1e6,
};

const CASES = [
  { name: "1:1, both online", members: 2, online: 2 },
  { name: "group of 10, 3 online", members: 10, online: 3 },
  { name: "group of 100, 20 online", members: 100, online: 20 },
];
const RATE_PER_SECOND = 20;
const READ_INTERVAL_MS = 1000;
/** Counted until nothing moved for this long (the room's last copy and its inbox calls included). */
const SETTLED_MS = 1500;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tag = () => Math.random().toString(36).slice(2, 7);

async function counters(url, reset = false) {
  const res = await fetch(`${url}/__bench/d1${reset ? "/reset" : ""}`, { method: reset ? "POST" : "GET" });
  if (!res.ok) throw new Error("the cost scenario needs the bench Worker (bench/bench-worker.js)");
  return res.json();
}

/** The counters once `ready` holds and nothing has moved for `quietMs` (or at `deadline`). */
async function settled(url, quietMs, ready = () => true, deadline = Date.now() + 30_000) {
  const moved = (a, b) => a.statements !== b.statements || JSON.stringify(a.billed) !== JSON.stringify(b.billed);
  let c = await counters(url);
  for (let still = Date.now(); Date.now() < deadline; ) {
    await sleep(250);
    const next = await counters(url);
    if (moved(c, next)) still = Date.now();
    c = next;
    if (ready(c) && Date.now() - still >= quietMs) break;
  }
  return c;
}

function openInbox(base, user) {
  return new Promise((resolve, reject) => {
    const ws = webSocket(`${base.replace(/^http/, "ws")}/api/inbox/ws?token=${user.token}`);
    ws.onmessage = ({ data }) => data !== "pong" && JSON.parse(data).event === InboxEvent.InboxReady && resolve(ws);
    ws.onerror = () => reject(new Error("inbox upgrade failed"));
  });
}

/** A new chat for one case. A direct chat is one per pair: each case gets its own pair, so each starts with a new room. */
async function makeChat(http, users, { members }, typing) {
  const [owner, ...others] = members === 2 && typing ? users.slice(2, 4) : users.slice(0, members);
  const chat =
    members === 2
      ? await http("POST", "/api/chats", { type: "direct", userId: others[0].id }, owner.token)
      : await http("POST", "/api/chats", { type: "group", name: `cost ${tag()}`, memberIds: others.map((u) => u.id) }, owner.token);
  return { chat, members: [owner, ...others] };
}

async function runCase(url, { chat, members }, { name, online }, typing, MESSAGES) {
  const present = members.slice(0, online);
  const sockets = await Promise.all(present.map((user) => openSocket(url, chat.id, user)));
  const inboxes = await Promise.all(present.map((user) => openInbox(url, user)));
  const [sender, ...readers] = sockets;
  let acked = 0;
  sender.onFrame((event) => event === ServerEvent.MessageSent && acked++);
  const timers = readers.map((sock) => {
    let newest = 0;
    let reported = 0;
    sock.onFrame((event, data) => event === ServerEvent.ReceiveMessage && (newest = Math.max(newest, data.id)));
    return setInterval(() => {
      if (newest > reported) sock.ws.send(JSON.stringify({ event: ClientEvent.MarkRead, data: { messageId: (reported = newest) } }));
    }, READ_INTERVAL_MS);
  });
  await settled(url, 1000);
  await counters(url, true);
  for (let i = 0; i < MESSAGES; i++) {
    if (typing) {
      sender.ws.send(JSON.stringify({ event: ClientEvent.TypingStart, data: {} }));
      sender.ws.send(JSON.stringify({ event: ClientEvent.TypingStop, data: {} }));
    }
    sender.send(`cost ${i}`, `cost-${tag()}-${i}`);
    await sleep(1000 / RATE_PER_SECOND);
  }
  const deadline = Date.now() + 40_000;
  while (acked < MESSAGES && Date.now() < deadline) await sleep(50);
  await sleep(READ_INTERVAL_MS + 200); // the last markers
  const c = await settled(url, SETTLED_MS, (c) => c.copied_messages >= MESSAGES, deadline);
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.close();
  for (const ws of inboxes) ws.close();

  const b = c.billed;
  const per = (n) => n / MESSAGES;
  const doRequests = b.do_rpc + b.do_fetch + b.do_alarm + b.do_ws_incoming / PRICES.webSocketMessagesPerRequest;
  const doRowsWritten = b.do_rows_written + b.do_kv_puts + b.do_alarm_sets;
  const perMessage = {
    worker_requests: per(b.worker_requests),
    do_requests: per(doRequests),
    do_ws_messages_in: per(b.do_ws_incoming),
    do_rows_written: per(doRowsWritten),
    d1_statements: per(c.statements),
    d1_rows_written: per(c.rows_written),
  };
  const dollars =
    perMessage.worker_requests * PRICES.workerRequest +
    perMessage.do_requests * PRICES.durableObjectRequest +
    perMessage.do_rows_written * PRICES.durableObjectRowWritten +
    perMessage.d1_rows_written * PRICES.d1RowWritten;
  const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +v.toFixed(3)]));
  // Where the rows come from: per statement (and alarm set), rows written per message, and how many
  // copies to D1 ran (each reads the open inboxes once).
  const rowsPerMessage = (m) => Object.fromEntries(Object.entries(m).filter(([, e]) => e.rows_written > 0).map(([sql, e]) => [sql, +per(e.rows_written).toFixed(3)]));
  const copies = Object.entries(c.by_statement.d1).find(([sql]) => /^SELECT .*inbox_open. = 1/.test(sql))?.[1].statements ?? 0;
  const breakdown = { copies, billed_per_message: round(Object.fromEntries(Object.entries(b).map(([k, v]) => [k, per(v)]))), do_rows_per_message: rowsPerMessage(c.by_statement.do), d1_rows_per_message: rowsPerMessage(c.by_statement.d1) };
  return { case: `${name}${typing ? " + typing pair" : ""}`, acked, per_message: round(perMessage), usd_per_million_messages: +(dollars * 1e6).toFixed(2), caught_up: c.copied_messages >= MESSAGES, breakdown };
}

/** `typing`: which variants of each kind of chat to run (the CI test runs only the one with typing, a superset). */
export async function cost({ url }, { messages = 100, typing = [false, true] } = {}) {
  const http = api(url);
  const users = await makeUsers(http, `cost${tag()}`, Math.max(...CASES.map((c) => c.members)));
  const cases = CASES.flatMap((kind) => typing.map((withTyping) => ({ kind, withTyping })));
  // Every chat first: creating one tells every member's inbox (chat_added) and starts objects, work
  // that must not be counted as the messages'.
  for (const c of cases) c.chat = await makeChat(http, users, c.kind, c.withTyping);
  const rows = [];
  for (const { kind, withTyping, chat } of cases) rows.push(await runCase(url, chat, kind, withTyping, messages));
  const failures = rows.filter((r) => r.acked < messages || !r.caught_up).length;
  return { messages_per_case: messages, rate_per_second: RATE_PER_SECOND, rows, failures };
}
