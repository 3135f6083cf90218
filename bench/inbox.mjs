#!/usr/bin/env node
// Bench scenario for the per-user inbox (issue 7), against a running server:
//
//   1 group of --members users (default 200); --open of them (default 5, the sender included) have
//   the chat socket open, all the others only their inbox socket. The sender sends --messages at
//   --rate per second, alternating --rounds times (default 2) between no inbox socket connected and
//   every other member's inbox connected (alternating keeps a noisy machine from favouring one side). Reported: the sender's ack latency (send -> message_sent) p50/p99/max in both
//   phases, and the chat_activity events the inboxes received per message.
//
//   npm run bench:inbox -- --url http://127.0.0.1:8787
//
// The room rate-limits each sender (10/s, burst 20 by default): run the server with
//   --var MESSAGE_RATE_PER_SECOND:100000 --var MESSAGE_BURST:100000
// Node 24 (global fetch and WebSocket). Bounded by --timeout seconds (default 180).
// Prints a table, then one line of JSON (the last line of stdout) for `npm run bench`.
import { parseArgs } from "node:util";
import { ClientEvent, InboxEvent, ServerEvent } from "../src/protocol/events.ts";

const { values: args, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: "string" },
    members: { type: "string", default: "200" },
    open: { type: "string", default: "5" },
    messages: { type: "string" },
    rate: { type: "string", default: "50" },
    rounds: { type: "string" },
    timeout: { type: "string", default: "180" },
  },
});
if (!args.url) {
  console.error("usage: node bench/inbox.mjs --url http://127.0.0.1:8787 [--members 200] [--open 5] [--messages 200] [--rate 50] [--rounds 2] [--timeout 180] [quick]");
  process.exit(2);
}
const base = args.url.replace(/\/$/, "");
const wsBase = base.replace(/^http/, "ws");
const MEMBERS = Number(args.members);
const OPEN = Number(args.open);
// `quick` (as `npm run bench quick` passes it): one short round.
const quick = positionals.includes("quick");
const MESSAGES = Number(args.messages ?? (quick ? 100 : 200));
const RATE = Number(args.rate);
const ROUNDS = Number(args.rounds ?? (quick ? 1 : 2));
const WARMUP = 20;
/** How long inboxes get to receive the last coalesced window after the last ack. */
const SETTLE_MS = 3000;

const deadline = setTimeout(() => {
  console.error(`bench:inbox gave up after ${args.timeout} s`);
  process.exit(3);
}, Number(args.timeout) * 1000);
deadline.unref();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function http(method, path, body, token) {
  const res = await fetch(base + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

/** Runs `fn` over `items` with at most `limit` at a time (registration hashes passwords: CPU-bound). */
async function pool(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i], i);
      }
    }),
  );
  return out;
}

/** A socket that records frames and lets callers wait for one matching a predicate. */
function open(path, token, onFrame = () => {}) {
  const ws = new WebSocket(`${wsBase}${path}?token=${encodeURIComponent(token)}`);
  const waiters = new Set();
  const frames = [];
  ws.addEventListener("message", (e) => {
    if (e.data === "pong") return;
    const frame = JSON.parse(e.data);
    frames.push(frame);
    onFrame(frame);
    for (const w of waiters) w(frame);
  });
  const waitFor = (predicate, what, ms = 15_000) =>
    new Promise((resolve, reject) => {
      const hit = frames.find(predicate);
      if (hit) return resolve(hit);
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${what} within ${ms} ms`));
      }, ms);
      const check = (frame) => {
        if (!predicate(frame)) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(frame);
      };
      waiters.add(check);
    });
  const closed = new Promise((resolve) => ws.addEventListener("close", resolve));
  return { ws, frames, waitFor, close: () => (ws.close(1000), closed) };
}

function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}
const round = (x) => (x === null ? null : Math.round(x * 10) / 10);

/**
 * Sends `count` messages from the sender's chat socket at RATE per second (open loop: the schedule
 * does not wait for acks) and measures each ack. Returns latencies and the id of the last message.
 */
async function sendPhase(sender, label, count) {
  const sentAt = new Map();
  const latencies = [];
  let errors = 0;
  let lastId = 0;
  let done;
  const allAcked = new Promise((r) => (done = r));
  const onFrame = (frame) => {
    const { clientId } = frame.data ?? {};
    if (!sentAt.has(clientId)) return;
    if (frame.event === ServerEvent.MessageSent) {
      latencies.push(performance.now() - sentAt.get(clientId));
      lastId = Math.max(lastId, frame.data.messageId);
    } else if (frame.event === ServerEvent.Error) {
      errors++;
    } else return;
    sentAt.delete(clientId);
    if (latencies.length + errors === count) done();
  };
  sender.listeners.add(onFrame);
  const start = performance.now();
  for (let i = 0; i < count; i++) {
    const due = start + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    const clientId = `${label}-${i}-${Math.random().toString(36).slice(2, 8)}`;
    sentAt.set(clientId, performance.now());
    sender.socket.ws.send(JSON.stringify({ event: ClientEvent.SendMessage, data: { content: `${label} ${i}`, clientId } }));
  }
  await Promise.race([allAcked, sleep(15_000)]);
  sender.listeners.delete(onFrame);
  return { sent: count, latencies, errors, lastId };
}

/** Several phases of one condition as one row. */
function summarise(phases) {
  const sorted = phases.flatMap((p) => p.latencies).sort((a, b) => a - b);
  const sent = phases.reduce((n, p) => n + p.sent, 0);
  const errors = phases.reduce((n, p) => n + p.errors, 0);
  return { sent, acked: sorted.length, errors, p50: round(percentile(sorted, 50)), p99: round(percentile(sorted, 99)), max: round(sorted.at(-1) ?? null) };
}

async function main() {
  const run = Date.now().toString(36);
  const started = performance.now();
  const users = await pool(Array.from({ length: MEMBERS }, (_, i) => i), 8, (i) =>
    http("POST", "/api/auth/register", { username: `bi${run}_${i}`, password: "bench-password" }),
  );
  const [owner, ...rest] = users;
  const chat = await http("POST", "/api/chats", { type: "group", name: `inbox bench ${run}`, memberIds: rest.map((u) => u.user.id) }, owner.token);
  const setupSeconds = round((performance.now() - started) / 1000);

  // Chat sockets: the sender (owner) and OPEN-1 receivers.
  const listeners = new Set();
  const senderSocket = open(`/api/chats/${chat.id}/ws`, owner.token, (f) => listeners.forEach((l) => l(f)));
  const sender = { socket: senderSocket, listeners };
  const receivers = users.slice(1, OPEN).map((u) => open(`/api/chats/${chat.id}/ws`, u.token));
  await Promise.all([senderSocket, ...receivers].map((s) => s.waitFor((f) => f.event === ServerEvent.JoinedChat, "joined_chat")));

  await sendPhase(sender, "warmup", WARMUP);
  const inboxUsers = users.slice(OPEN);
  const withoutPhases = [];
  const withPhases = [];
  let totalEvents = 0;
  let perInbox = inboxUsers.map(() => 0);
  let correct = 0;
  let sentSoFar = WARMUP;
  for (let round = 0; round < ROUNDS; round++) {
    const without = await sendPhase(sender, `no-inbox-${round}`, MESSAGES);
    withoutPhases.push(without);
    sentSoFar += without.latencies.length;

    // Every member without the chat open opens only the inbox.
    const inboxes = inboxUsers.map((u) => open("/api/inbox/ws", u.token));
    await Promise.all(inboxes.map((s) => s.waitFor((f) => f.event === InboxEvent.InboxReady, "inbox_ready")));
    // Let the previous phase's last window flush before counting.
    await sleep(1000);
    const before = inboxes.map((s) => s.frames.length);
    const withInboxes = await sendPhase(sender, `inbox-${round}`, MESSAGES);
    withPhases.push(withInboxes);
    sentSoFar += withInboxes.latencies.length;
    const activityOf = (s, i) => s.frames.slice(before[i]).filter((f) => f.event === InboxEvent.ChatActivity && f.data.chatId === chat.id);
    const settleBy = performance.now() + SETTLE_MS;
    while (performance.now() < settleBy && !inboxes.every((s, i) => activityOf(s, i).at(-1)?.data.lastMessage.id === withInboxes.lastId)) await sleep(100);
    const events = inboxes.map(activityOf);
    totalEvents += events.reduce((n, e) => n + e.length, 0);
    perInbox = perInbox.map((n, i) => n + events[i].length);
    // Nobody but the sender wrote and no inbox user read: each one's unread count is every message.
    correct = events.filter((e) => e.at(-1)?.data.lastMessage.id === withInboxes.lastId && e.at(-1)?.data.unreadCount === sentSoFar).length;
    await Promise.all(inboxes.map((s) => s.close()));
  }
  const without = { stats: summarise(withoutPhases) };
  const withInboxes = { stats: summarise(withPhases) };
  const acked = withInboxes.stats.acked || 1;

  await Promise.all([senderSocket, ...receivers].map((s) => s.close()));

  const result = {
    scenario: "inbox",
    members: MEMBERS,
    chatOpen: OPEN,
    inboxOnly: inboxUsers.length,
    messagesPerPhase: MESSAGES,
    rounds: ROUNDS,
    ratePerSecond: RATE,
    setupSeconds,
    withoutInboxes: without.stats,
    withInboxes: withInboxes.stats,
    inboxEvents: {
      total: totalEvents,
      perMessage: round(totalEvents / acked),
      perMessagePerInbox: Math.round((totalEvents / acked / inboxUsers.length) * 1000) / 1000,
      perInboxMin: Math.min(...perInbox),
      perInboxMax: Math.max(...perInbox),
      finalStateCorrect: `${correct}/${inboxUsers.length}`,
    },
  };

  const row = (name, s) => `| ${name.padEnd(22)} | ${String(s.acked).padStart(5)}/${String(s.sent).padEnd(5)} | ${String(s.errors).padStart(6)} | ${String(s.p50).padStart(7)} | ${String(s.p99).padStart(7)} | ${String(s.max).padStart(7)} |`;
  console.log(`inbox bench: 1 group of ${MEMBERS}, ${OPEN} with the chat open, ${inboxUsers.length} with only the inbox; ${ROUNDS} rounds of ${MESSAGES} messages at ${RATE}/s per phase`);
  console.log("| phase                  | acked/sent  | errors | p50 ms  | p99 ms  | max ms  |");
  console.log("| ---------------------- | ----------- | ------ | ------- | ------- | ------- |");
  console.log(row("without inboxes", without.stats));
  console.log(row(`with ${inboxUsers.length} inboxes`, withInboxes.stats));
  const ev = result.inboxEvents;
  console.log(`inbox chat_activity: ${ev.total} in all, ${ev.perMessage} per message (${ev.perMessagePerInbox} per message per inbox; ${ev.perInboxMin}-${ev.perInboxMax} per inbox); final state correct in ${ev.finalStateCorrect} inboxes (last round)`);
  console.log(JSON.stringify(result));
  if (without.stats.errors + withInboxes.stats.errors > 0) console.error("some sends were refused: is the server running with a raised MESSAGE_RATE_PER_SECOND / MESSAGE_BURST?");
  process.exit(0);
}

main().catch((err) => {
  console.error(`bench:inbox failed: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
