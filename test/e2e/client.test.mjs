// The typed client against the real Worker under wrangler dev: REST, live chat, and a server crash
// in the middle of a conversation, after which nothing is lost and nothing arrives twice.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startDevServer } from "../support/dev-server.mjs";
import { loadClient, nodeEnvironment } from "../support/client-bundle.mjs";

const PORT = Number(process.env.CLIENT_TEST_PORT ?? 8796);
let server, client;
const connections = [];
// The crash test streams faster than the contract's per-user limit allows.
const vars = { MESSAGE_RATE_PER_SECOND: 1000, MESSAGE_BURST: 1000 };

before(async () => {
  [server, client] = await Promise.all([startDevServer({ port: PORT, vars }), loadClient()]);
});
after(async () => {
  for (const conn of connections) conn.close();
  await server?.stop();
});

const until = async (predicate, what, timeoutMs = 20_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${typeof what === "function" ? what() : what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
};

test("REST helpers cover the chat lifecycle and report errors as ApiError", async () => {
  const { ApiClient, ApiError } = client;
  const ann = new ApiClient(server.url);
  const bob = new ApiClient(server.url);
  const suffix = Date.now().toString(36);
  const a = await ann.register(`ann_${suffix}`, "password-ann");
  const b = await bob.register(`bob_${suffix}`, "password-bob");
  assert.deepEqual(await ann.me(), a.user);
  assert.deepEqual(await ann.searchUsers(`bob_${suffix}`), [b.user]);
  const group = await ann.createChat({ type: "group", name: "Plans", memberIds: [b.user.id] });
  await ann.renameChat(group.id, "Weekend");
  const posted = await bob.postMessage(group.id, "hello", "c-1");
  assert.equal((await ann.history(group.id)).messages[0].id, posted.id);
  await ann.markRead(group.id, posted.id);
  assert.equal((await ann.getChat(group.id)).unreadCount, 0);
  assert.equal((await ann.setRole(group.id, b.user.id, "admin")).role, "admin");
  await bob.removeMember(group.id, b.user.id);
  await assert.rejects(bob.getChat(group.id), (e) => e instanceof ApiError && e.status === 403 && e.code === "forbidden");
  await assert.rejects(new ApiClient(server.url).login(`ann_${suffix}`, "wrong password"), (e) => e.status === 401);
});

test("a crash mid-conversation loses nothing and duplicates nothing", async () => {
  const { ApiClient, ChatConnection, ServerEvent } = client;
  const suffix = Date.now().toString(36);
  const ann = new ApiClient(server.url);
  const bob = new ApiClient(server.url);
  await ann.register(`cann_${suffix}`, "password-ann");
  const b = await bob.register(`cbob_${suffix}`, "password-bob");
  const chat = await ann.createChat({ type: "direct", userId: b.user.id });

  const open = (api) => {
    const conn = new ChatConnection({ baseUrl: server.url, token: api.token, chatId: chat.id, env: nodeEnvironment() });
    const received = [];
    conn.on(ServerEvent.ReceiveMessage, (m) => received.push(m.content));
    conn.connect();
    connections.push(conn);
    return { conn, received };
  };
  const sender = open(ann);
  const watcher = open(bob);
  await until(() => sender.conn.state === "open" && watcher.conn.state === "open", "both open");

  const total = 60;
  const acks = [];
  for (let i = 0; i < total; i++) {
    acks.push(sender.conn.sendMessage(`m${i}`));
    if (i === 20) await server.kill(); // wrangler and workerd die at once, mid-stream
  }
  await until(() => sender.conn.state === "reconnecting", "the sender notices");
  server = await startDevServer({ port: PORT, persistTo: server.persistTo, vars });
  const ids = (await Promise.all(acks)).map((a) => a.messageId);
  assert.equal(new Set(ids).size, total, "every message acknowledged once, each with its own id");

  await until(() => watcher.received.length >= total, () => `the watcher has everything (has ${watcher.received.length}, ${watcher.conn.state})`, 45_000);
  await new Promise((r) => setTimeout(r, 300));
  const expected = Array.from({ length: total }, (_, i) => `m${i}`);
  assert.deepEqual(watcher.received, expected);
  const history = (await bob.history(chat.id, { limit: 100 })).messages.map((m) => m.content);
  assert.deepEqual(history, expected, "history holds every message exactly once, in order");
  sender.conn.close();
  watcher.conn.close();
});
