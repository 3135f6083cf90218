// `npm run bench -- cost`: what one message costs, counted by the bench Worker's billing counters
// (bench/bench-worker.js) and priced at Cloudflare's published rates (PRICES, docs/PERFORMANCE.md).
// Four kinds of chat, each with and without one typing pair (typing_start + typing_stop) per message:
// members online hold the chat socket and their inbox socket, and mark what they read the way the
// web app does (mark_read at most once a second). Setup (users, chats, connects) is not counted.
// Each case is a new chat (a room that has just started: its first copy to D1 is how it learns who
// has an inbox open), counted until D1 has every message and the counters have stood still for 1.5 s.
// The push case: the offline members of a group of 10 each have a browser subscribed to a push
// service of the bench's own on loopback (it decrypts each push to count the messages it stands
// for); counted until every message reached every offline member by push and the queue is empty,
// with the queue's operations (written, read, deleted) and the consumer's invocations.
// `messages`: per case (100; `npm run bench -- quick cost` and the CI test, test/e2e/cost.test.mjs, send 60).
import { createServer } from "node:http";
import { ClientEvent, InboxEvent, ServerEvent } from "../src/protocol/events.ts";
import { pushLimits } from "../src/protocol/push.ts";
import { decryptPush, newSubscriber } from "../test/support/push-receiver.ts";
import { api, makeUsers, openSocket, webSocket } from "./client.mjs";

/** Cloudflare Workers Paid, per unit, as published (docs/PERFORMANCE.md cites the pages and the date read). */
export const PRICES = {
  workerRequest: 0.3 / 1e6,
  durableObjectRequest: 0.15 / 1e6,
  /** Incoming WebSocket messages to a Durable Object are billed as requests at 20:1. */
  webSocketMessagesPerRequest: 20,
  durableObjectRowWritten: 1.0 / 1e6,
  d1RowWritten: 1.0 / 1e6,
  /** Cloudflare Queues: every 64 KB written, read or deleted (a push job is under 1 KB: one each). */
  queueOperation: 0.4 / 1e6,
};

const CASES = [
  { name: "1:1, both online", members: 2, online: 2 },
  { name: "group of 10, 3 online", members: 10, online: 3 },
  { name: "group of 100, 20 online", members: 100, online: 20 },
  { name: "group of 10, 3 online, 7 pushed", members: 10, online: 3, push: true },
  // A large chat (LARGE_ROOM_MEMBERS, 1,000 by default): occupancy, throttled typing, paced inboxes.
  { name: "group of 1,000, 100 online", members: 1000, online: 100, large: true },
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

/**
 * A push service on loopback: each push is decrypted with its subscriber's keys, and the messages it
 * stands for (`count`) are added up per subscription and chat.
 */
async function startPushService() {
  const subscribers = new Map();
  const counted = new Map();
  let pushes = 0;
  const server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const endpoint = `${url}${req.url}`;
      try {
        const { plaintext } = await decryptPush(new Uint8Array(Buffer.concat(chunks)), subscribers.get(endpoint));
        const { chatId, count } = JSON.parse(plaintext);
        const key = `${endpoint} ${chatId}`;
        counted.set(key, (counted.get(key) ?? 0) + count);
        pushes++;
        res.writeHead(201).end();
      } catch {
        res.writeHead(400).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}`;
  return {
    /** Subscribes a browser of `user` (through the API, as the web app does); its endpoint. */
    async subscribe(http, user) {
      const subscriber = await newSubscriber();
      const endpoint = `${url}/push/${user.id}`;
      subscribers.set(endpoint, subscriber);
      await http("POST", "/api/push/subscriptions", { endpoint, expirationTime: null, keys: subscriber.keys }, user.token);
      return endpoint;
    },
    /** The messages of `chatId` the pushes to `endpoint` stood for. */
    countedFor: (endpoint, chatId) => counted.get(`${endpoint} ${chatId}`) ?? 0,
    get pushes() {
      return pushes;
    },
    close: () => new Promise((resolve) => (server.closeAllConnections(), server.close(resolve))),
  };
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

async function runCase(url, { chat, members }, { name, online, push }, typing, MESSAGES, pushService) {
  const present = members.slice(0, online);
  // The push case: every member not in the app has a browser subscribed (setup, not counted).
  const http = api(url);
  const pushed = push ? await Promise.all(members.slice(online).map((user) => pushService.subscribe(http, user))) : [];
  const pushesBefore = pushService?.pushes ?? 0;
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
  // Every message reaches every offline member by push: the last push comes a pacing interval after the one before.
  const allPushed = () => pushed.every((endpoint) => pushService.countedFor(endpoint, chat.id) >= MESSAGES);
  while (push && !allPushed() && Date.now() < deadline + pushLimits.pacingMs) await sleep(100);
  const queueDrained = (c) => c.billed.queue_deletes + c.billed.queue_retries >= c.billed.queue_writes;
  const c = await settled(url, SETTLED_MS, (c) => c.copied_messages >= MESSAGES && queueDrained(c), deadline + pushLimits.pacingMs);
  for (const t of timers) clearInterval(t);
  for (const s of sockets) s.close();
  for (const ws of inboxes) ws.close();

  const b = c.billed;
  const per = (n) => n / MESSAGES;
  const doRequests = b.do_rpc + b.do_fetch + b.do_alarm + b.do_ws_incoming / PRICES.webSocketMessagesPerRequest;
  const doRowsWritten = b.do_rows_written + b.do_kv_puts + b.do_alarm_sets;
  const queueOperations = b.queue_writes + b.queue_reads + b.queue_deletes;
  const perMessage = {
    // The push queue's consumer invocations are billed as Worker requests.
    worker_requests: per(b.worker_requests + b.queue_invocations),
    do_requests: per(doRequests),
    do_ws_messages_in: per(b.do_ws_incoming),
    do_rows_written: per(doRowsWritten),
    d1_statements: per(c.statements),
    d1_rows_written: per(c.rows_written),
    queue_operations: per(queueOperations),
  };
  const dollars =
    perMessage.worker_requests * PRICES.workerRequest +
    perMessage.do_requests * PRICES.durableObjectRequest +
    perMessage.do_rows_written * PRICES.durableObjectRowWritten +
    perMessage.d1_rows_written * PRICES.d1RowWritten +
    perMessage.queue_operations * PRICES.queueOperation;
  const round = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, +v.toFixed(3)]));
  // Where the rows come from: per statement (and alarm set), rows written per message, and how many
  // copies to D1 ran (each reads the open inboxes once).
  const rowsPerMessage = (m) => Object.fromEntries(Object.entries(m).filter(([, e]) => e.rows_written > 0).map(([sql, e]) => [sql, +per(e.rows_written).toFixed(3)]));
  const copies = Object.entries(c.by_statement.d1).find(([sql]) => /^SELECT .*inbox_open/.test(sql))?.[1].statements ?? 0;
  const rpcPerMessage = Object.fromEntries(Object.entries(c.rpc_by_method).map(([method, n]) => [method, +per(n).toFixed(3)]));
  const breakdown = { copies, rpc_per_message: rpcPerMessage, billed_per_message: round(Object.fromEntries(Object.entries(b).map(([k, v]) => [k, per(v)]))), do_rows_per_message: rowsPerMessage(c.by_statement.do), d1_rows_per_message: rowsPerMessage(c.by_statement.d1) };
  const row = { case: `${name}${typing ? " + typing pair" : ""}`, acked, per_message: round({ ...perMessage, do_rpc: per(b.do_rpc) }), usd_per_million_messages: +(dollars * 1e6).toFixed(2), caught_up: c.copied_messages >= MESSAGES, breakdown };
  if (!push) return row;
  // What one push costs beyond the message: the queue's operations, the consumer's invocations, and its D1 statement.
  const pushes = pushService.pushes - pushesBefore;
  const consumerStatements = Object.entries(c.by_statement.d1).filter(([sql]) => /push_subscriptions/.test(sql) && !/inbox_open/.test(sql)).reduce((n, [, e]) => n + e.statements, 0);
  const perPush = { queue_operations: queueOperations / pushes, consumer_invocations: b.queue_invocations / pushes, d1_statements: consumerStatements / pushes };
  const pushDollars = perPush.queue_operations * PRICES.queueOperation + perPush.consumer_invocations * PRICES.workerRequest;
  return {
    ...row,
    caught_up: row.caught_up && allPushed(),
    pushes: { delivered: pushes, per_message: +(pushes / MESSAGES).toFixed(3), per_push: round(perPush), usd_per_million_pushes: +(pushDollars * 1e6).toFixed(2), retries: b.queue_retries },
  };
}

/**
 * `typing`: which variants of each kind of chat to run (the CI test runs only the one with typing, a
 * superset); `large`: whether to run the large chat too (it registers 1,000 users first; the CI test
 * leaves it out).
 */
export async function cost({ url }, { messages = 100, typing = [false, true], large = true } = {}) {
  const http = api(url);
  const kinds = CASES.filter((c) => large || !c.large);
  const users = await makeUsers(http, `cost${tag()}`, Math.max(...kinds.map((c) => c.members)));
  // The push case's users of their own: their subscriptions must not push the other cases' members.
  const pushUsers = await makeUsers(http, `costpush${tag()}`, Math.max(...CASES.filter((c) => c.push).map((c) => c.members)));
  const pushService = await startPushService();
  const cases = kinds.flatMap((kind) => typing.map((withTyping) => ({ kind, withTyping })));
  // Every chat first: creating one tells every member's inbox (chat_added) and starts objects, work
  // that must not be counted as the messages'.
  for (const c of cases) c.chat = await makeChat(http, c.kind.push ? pushUsers : users, c.kind, c.withTyping);
  const rows = [];
  try {
    for (const { kind, withTyping, chat } of cases) rows.push(await runCase(url, chat, kind, withTyping, messages, pushService));
  } finally {
    await pushService.close();
  }
  const failures = rows.filter((r) => r.acked < messages || !r.caught_up).length;
  return { messages_per_case: messages, rate_per_second: RATE_PER_SECOND, rows, failures };
}
