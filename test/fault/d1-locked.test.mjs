// D1 fault test of the real kind: while two members chat, another process holds the local D1 file
// under an exclusive SQLite lock for 25 s (longer if the checks take longer), so every D1 call fails (`SQLITE_BUSY`, surfacing as a
// D1_ERROR), as production D1 fails with "overloaded", "network connection lost" or "internal
// error". The room is the record: socket sends are acknowledged and delivered, history, `since`,
// HTTP sends and reads keep working on the token versions the Worker had cached (checked again past
// their 10 s freshness, so the stale fallback is what answers), a new socket connects, and the routes
// that need D1 answer 503 with Retry-After; nothing answers another 5xx. After the lock, the copy
// resumes by itself and D1 holds every acknowledged message exactly once.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { after, before, test } from "node:test";
import { d1File, messagesInD1, startDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.FAULT_D1_TEST_PORT ?? 8806);
const LOCK_MS = 25_000;
const SOCKET_SENDS = 15;
/** src/auth/token-versions.ts FRESH_MS: past it, a request must ask D1 for the version again. */
const FRESH_MS = 10_000;
let server;
let locker;
const sockets = [];

before(async () => {
  server = await startDevServer({ port: PORT });
});
after(async () => {
  for (const s of sockets) s.ws.close();
  locker?.kill("SIGKILL");
  await server?.stop();
  if (server) rmSync(server.persistTo, { recursive: true, force: true });
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Another process holding `file` under `BEGIN EXCLUSIVE`. Resolves once the lock is held, with
 * `release()`, which ends the lock (a rollback) and resolves when the process has exited. The
 * process gives up the lock by itself after `maxMs`, should the test never release it.
 */
async function lock(file, maxMs) {
  const script = `
    const { DatabaseSync } = require("node:sqlite");
    const db = new DatabaseSync(process.argv[1]);
    db.exec("BEGIN EXCLUSIVE");
    process.stdout.write("locked\\n");
    const release = () => { db.exec("ROLLBACK"); db.close(); process.exit(0); };
    process.stdin.on("data", release);
    setTimeout(release, Number(process.argv[2]));
  `;
  locker = spawn(process.execPath, ["-e", script, file, String(maxMs)], { stdio: ["pipe", "pipe", "inherit"] });
  const exitCode = new Promise((resolve) => locker.on("exit", resolve));
  await new Promise((resolve, reject) => {
    locker.stdout.once("data", (d) => (String(d).startsWith("locked") ? resolve() : reject(new Error(String(d)))));
    locker.once("exit", (code) => reject(new Error(`locker exited ${code} before locking`)));
  });
  return {
    at: Date.now(),
    release: async () => {
      locker.stdin.end("release\n");
      assert.equal(await exitCode, 0, "the lock was held until released");
    },
  };
}

async function http(method, path, { token, body, headers = {} } = {}) {
  const res = await fetch(server.url + path, {
    method,
    headers: {
      ...(body === undefined ? {} : { "content-type": typeof body === "string" ? "text/plain" : "application/json" }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  const text = await res.text();
  const json = res.headers.get("content-type")?.includes("application/json");
  return { status: res.status, retryAfter: res.headers.get("retry-after"), body: json && text ? JSON.parse(text) : text };
}

/** A chat socket with a frame inbox to wait on. */
async function openSocket(chatId, token, query = "") {
  const ws = new WebSocket(`${server.url.replace("http", "ws")}/api/chats/${chatId}/ws?token=${encodeURIComponent(token)}${query}`);
  const socket = { ws, frames: [], closed: null };
  ws.addEventListener("message", (e) => e.data !== "pong" && socket.frames.push(JSON.parse(e.data)));
  ws.addEventListener("close", (e) => (socket.closed = e.code));
  sockets.push(socket);
  await new Promise((resolve, reject) => {
    ws.addEventListener("open", resolve, { once: true });
    ws.addEventListener("error", () => reject(new Error("socket refused")), { once: true });
  });
  ws.send("ping"); // Makes server closes prompt (docs/ARCHITECTURE.md, "Server-initiated closes").
  await until(socket, (f) => f.event === "joined_chat", "joined_chat");
  return socket;
}

const of = (socket, event) => socket.frames.filter((f) => f.event === event).map((f) => f.data);

async function until(socket, match, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = socket.frames.find((f) => match(f));
    if (found) return found.data;
    if (socket.closed !== null) throw new Error(`socket closed (${socket.closed}) waiting for ${what}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(socket.frames).slice(-1000)}`);
    await sleep(10);
  }
}

test("D1 locked for 25 s: the chat keeps going from the room, D1's routes say 503, and D1 ends with every acknowledged message once", { timeout: 150_000 }, async () => {
  const suffix = Date.now().toString(36);
  const password = "password-locked";
  const register = async (name) => {
    const res = await http("POST", "/api/auth/register", { body: { username: `${name}_${suffix}`, password } });
    assert.equal(res.status, 201);
    return res.body;
  };
  const [ann, bob, cat] = [await register("ann"), await register("bob"), await register("cat")];
  // Cat is a member who never reads: her unread count in D1's copy is every message from the others.
  const created = await http("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "locked", memberIds: [bob.user.id, cat.user.id] } });
  assert.equal(created.status, 201);
  const chatId = created.body.id;
  const c = `/api/chats/${chatId}`;

  // Sockets open (the room loads its members from D1 once), one message, and each member's token
  // version read by the Worker: what an ordinary chat has before the outage.
  const a = await openSocket(chatId, ann.token);
  const b = await openSocket(chatId, bob.token);
  const acked = new Map(); // clientId → message id
  const send = async (content, clientId) => {
    a.ws.send(JSON.stringify({ event: "send_message", data: { content, clientId } }));
    const ack = await until(a, (f) => f.event === "message_sent" && f.data.clientId === clientId, `ack of ${clientId}`);
    acked.set(clientId, ack.messageId);
    await until(b, (f) => f.event === "receive_message" && f.data.id === ack.messageId, `delivery of ${clientId}`);
  };
  await send("before the lock", "pre");
  for (const user of [ann, bob]) assert.equal((await http("GET", "/api/me", { token: user.token })).status, 200);
  const versionsReadAt = Date.now();

  const held = await lock(d1File(server.persistTo), 120_000);
  const answers = []; // every answer during the lock: route → status
  const check = async (label, status, promise) => {
    const res = await promise;
    answers.push({ label, status: res.status });
    assert.equal(res.status, status, `${label}: ${res.status} ${JSON.stringify(res.body)}`);
    if (status === 503) {
      assert.equal(res.retryAfter, "1", `${label}: Retry-After`);
      assert.deepEqual(Object.keys(res.body).sort(), ["code", "error"], `${label}: the contract's error shape`);
      assert.equal(res.body.code, "unavailable", label);
    }
    return res.body;
  };

  /** Every route, answered the way it must be while D1 is locked. */
  const sweep = async (phase) => {
    // Served by the room and the token alone.
    const posted = await check(`${phase} POST messages`, 201, http("POST", `${c}/messages`, { token: bob.token, body: { content: `http ${phase}`, clientId: `http-${phase}` } }));
    acked.set(`http-${phase}`, posted.id);
    await until(a, (f) => f.event === "receive_message" && f.data.id === posted.id, `delivery of the ${phase} HTTP post`);
    const history = await check(`${phase} GET messages`, 200, http("GET", `${c}/messages?limit=100`, { token: bob.token }));
    assert.deepEqual(history.messages.map((m) => m.id), [...acked.values()].sort((x, y) => x - y), `${phase}: history has every acknowledged message`);
    await check(`${phase} GET changes`, 200, http("GET", `${c}/changes`, { token: bob.token }));
    await check(`${phase} POST read`, 204, http("POST", `${c}/read`, { token: bob.token, body: { messageId: posted.id } }));
    await check(`${phase} GET me`, 200, http("GET", "/api/me", { token: ann.token }));
    await check(`${phase} POST refresh`, 200, http("POST", "/api/auth/refresh", { token: ann.token }));
    const upload = await check(`${phase} POST attachments`, 201, http("POST", `${c}/attachments`, { token: ann.token, body: "hello", headers: { "x-file-name": "a.txt" } }));
    await check(`${phase} GET attachment`, 200, http("GET", `/api/attachments/${upload.id}`, { token: ann.token }));
    const chat = await check(`${phase} GET chat`, 200, http("GET", c, { token: bob.token }));
    assert.equal(chat.lastReadMessageId, posted.id, `${phase}: the chat object has the caller's own read`);
    // Need D1.
    const list = await check(`${phase} GET chats`, 200, http("GET", "/api/chats", { token: ann.token }));
    assert.equal(list.chats.find((x) => x.id === chatId)?.lastMessage?.id, Math.max(...acked.values()), `${phase}: the chat list has the newest message`);
    await check(`${phase} GET users`, 503, http("GET", "/api/users?q=b", { token: ann.token }));
    await check(`${phase} GET search`, 503, http("GET", "/api/search?q=before", { token: ann.token }));
    await check(`${phase} POST login`, 503, http("POST", "/api/auth/login", { body: { username: ann.user.username, password } }));
    await check(`${phase} POST register`, 503, http("POST", "/api/auth/register", { body: { username: `new_${phase}_${suffix}`, password } }));
  };

  // 15 socket sends spread over the lock, around two sweeps: one while the cached versions are
  // fresh, one after their freshness ran out (the Worker then asks D1, which fails, and uses them).
  for (let i = 0; i < 5; i++) await send(`locked ${i}`, `s${i}`);
  await sweep("fresh");
  await sleep(Math.max(0, versionsReadAt + FRESH_MS + 500 - Date.now()));
  for (let i = 5; i < 10; i++) await send(`locked ${i}`, `s${i}`);
  await sweep("stale");
  // A new socket for a member whose version is cached connects and catches up from the room.
  const back = await openSocket(chatId, bob.token, `&since=${acked.get("pre")}`);
  const replayed = await until(back, (f) => f.event === "replay_done", "replay_done");
  assert.equal(replayed.lastId, Math.max(...acked.values()));
  assert.deepEqual(of(back, "receive_message").map((m) => m.id), [...acked.values()].filter((id) => id > acked.get("pre")).sort((x, y) => x - y));
  for (let i = 10; i < SOCKET_SENDS; i++) await send(`locked ${i}`, `s${i}`);

  // The lock lasts 25 s, or as long as the checks took if longer: all of them ran under it, and D1
  // still refuses right before it ends.
  await sleep(Math.max(0, held.at + LOCK_MS - Date.now()));
  await check("end GET users", 503, http("GET", "/api/users?q=b", { token: ann.token }));
  const socketAcks = [...acked.keys()].filter((k) => /^s\d+$/.test(k));
  assert.equal(socketAcks.length, SOCKET_SENDS, "every socket send acknowledged while locked");
  assert.equal(of(b, "receive_message").filter((m) => /^locked \d+$/.test(m.content)).length, SOCKET_SENDS, "and delivered");
  assert.deepEqual(answers.filter((r) => r.status >= 500 && r.status !== 503), [], "no 5xx but 503");
  await held.release();

  // The copy resumes by itself at its next retry (the backoff doubles from 1 s: about 8 s after a
  // 25 s lock; 60 s allowed). The chat list and the chat come from the rooms, so D1 itself is read
  // (read-only) until it holds as many of the chat's messages as were acknowledged.
  const total = acked.size;
  const inD1 = () => messagesInD1(server.persistTo, chatId);
  const deadline = Date.now() + 60_000;
  let rows;
  while ((rows = inD1()).length < total) {
    assert.ok(Date.now() < deadline, `D1 caught up: ${rows.length} of ${total} acknowledged messages`);
    await sleep(250);
  }
  // Every acknowledged message exactly once, with its id.
  assert.deepEqual(
    rows.map((r) => [r.client_id, r.id]),
    [...acked.entries()].sort((x, y) => x[1] - y[1]),
    "D1 holds every acknowledged message exactly once",
  );
});
