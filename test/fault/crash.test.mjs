// Crash test: one sender streams 500 messages with clientIds into a chat watched by three sockets;
// the whole `wrangler dev` process group is killed with SIGKILL mid-stream and restarted on the
// same local state. The typed client reconnects with `since` and resends what was unacknowledged.
// Every acknowledged message must be stored exactly once, and every watcher must end with the full
// sequence: no gap, no duplicate, in order. The room's log is the record; once its outbox has
// drained (the copy resumes by itself after the restart), D1 holds each message exactly once too.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { loadClient, nodeEnvironment } from "../support/client-bundle.mjs";
import { messagesInD1, startDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.FAULT_TEST_PORT ?? 8798);
const TOTAL = 500;
const KILL_AFTER = 200;
// Streaming 500 messages needs more than the contract's 10 a second per user.
const vars = { MESSAGE_RATE_PER_SECOND: 10_000, MESSAGE_BURST: 10_000 };
let server, client;
const connections = [];

before(async () => {
  [server, client] = await Promise.all([startDevServer({ port: PORT, vars }), loadClient()]);
});
after(async () => {
  for (const conn of connections) conn.close();
  await server?.stop();
});

async function until(predicate, describe, timeoutMs, refresh = async () => {}) {
  const deadline = Date.now() + timeoutMs;
  while ((await refresh(), !predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${describe()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("SIGKILL mid-stream: every acknowledged message exactly once, every watcher gap-free", { timeout: 120_000 }, async () => {
  const { ApiClient, ChatConnection, ServerEvent } = client;
  const suffix = Date.now().toString(36);
  const sender = new ApiClient(server.url);
  await sender.register(`crash_s_${suffix}`, "password-sender");
  const watchers = [];
  for (let i = 0; i < 3; i++) {
    const api = new ApiClient(server.url);
    await api.register(`crash_w${i}_${suffix}`, "password-watcher");
    watchers.push({ api });
  }
  const memberIds = [];
  for (const w of watchers) memberIds.push((await w.api.me()).id);
  const chat = await sender.createChat({ type: "group", name: "crash", memberIds });

  const open = (api) => {
    const conn = new ChatConnection({ baseUrl: server.url, token: api.token, chatId: chat.id, env: nodeEnvironment() });
    const received = [];
    conn.on(ServerEvent.ReceiveMessage, (m) => received.push(m));
    conn.connect();
    connections.push(conn);
    return { conn, received };
  };
  const out = open(sender);
  for (const w of watchers) Object.assign(w, open(w.api));
  await until(() => [out, ...watchers].every((s) => s.conn.state === "open"), () => "all sockets open", 20_000);

  const acked = new Map();
  const pending = [];
  for (let i = 0; i < TOTAL; i++) {
    const content = `msg ${i}`;
    pending.push(out.conn.sendMessage(content, `crash-${i}`).then((ack) => acked.set(content, ack.messageId)));
    if (i === KILL_AFTER) {
      // Let some acknowledgements come back, then kill wrangler and workerd at once: no shutdown.
      await until(() => acked.size > 50, () => `${acked.size} acks before the kill`, 20_000);
      await server.kill();
    }
  }
  const ackedBeforeRestart = acked.size;
  assert.ok(ackedBeforeRestart > 50 && ackedBeforeRestart < TOTAL, `the kill came mid-stream (${ackedBeforeRestart} acked)`);
  server = await startDevServer({ port: PORT, persistTo: server.persistTo, vars });
  await Promise.all(pending);

  const ids = [...acked.values()];
  assert.equal(acked.size, TOTAL, "every message acknowledged");
  assert.equal(new Set(ids).size, TOTAL, "each with its own id");

  // Newest page first, then back in time.
  let page = await sender.history(chat.id, { limit: 100 });
  let history = page.messages;
  while (page.hasMore) {
    page = await sender.history(chat.id, { before: history[0].id, limit: 100 });
    history = [...page.messages, ...history];
  }
  const expected = Array.from({ length: TOTAL }, (_, i) => `msg ${i}`);
  assert.deepEqual(history.map((m) => m.content), expected, "history: each message once, in send order");
  for (const m of history) assert.equal(acked.get(m.content), m.id, "acknowledged with the stored id");

  for (const [i, w] of watchers.entries()) {
    await until(() => w.received.length >= TOTAL, () => `watcher ${i} has ${w.received.length}/${TOTAL} (${w.conn.state})`, 60_000);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(w.received.map((m) => m.id), history.map((m) => m.id), `watcher ${i}: full, gap-free, duplicate-free, in order`);
  }

  // D1's copy, read from its file: every acknowledged message exactly once, with its id.
  let copied = [];
  await until(
    () => copied.length >= TOTAL,
    () => `D1 has ${copied.length} of ${TOTAL} messages`,
    30_000,
    async () => (copied = messagesInD1(server.persistTo, chat.id)),
  );
  assert.deepEqual(copied.map((r) => [r.content, r.id]), history.map((m) => [m.content, m.id]), "D1 holds the log's messages, each once");
});
