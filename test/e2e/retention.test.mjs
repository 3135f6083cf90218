// Retention end to end against `wrangler dev` (issue 29): a group's messages older than its
// `retentionSeconds` leave history, `since`, D1's copy, the search index and R2 (their files), and
// open sockets hear `messages_expired`. The test-only RETENTION_MIN_SECONDS lets it use 2 s instead
// of the contract's minute (test/e2e/safety-blackbox.test.mjs runs the real minute).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { messagesInD1, useDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.RETENTION_TEST_PORT ?? 8830);
const dev = useDevServer({ port: PORT, vars: { RETENTION_MIN_SECONDS: 2 } });
const wrangler = join(fileURLToPath(new URL("../..", import.meta.url)), "scripts", "wrangler.mjs");

/** Whether the local R2 bucket holds `key` (read by wrangler from the dev server's state, not through the API). */
function inR2(key) {
  const res = spawnSync(process.execPath, [wrangler, "r2", "object", "get", `edge-chat-files/${key}`, "--local", "--persist-to", dev.server.persistTo, "--pipe"], { encoding: "utf8" });
  return res.status === 0 && res.stdout.length > 0;
}

async function until(check, what, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("a message older than the group's retention is gone from history, since, D1, search and R2 within a minute; sockets hear messages_expired", async () => {
  const suffix = Date.now().toString(36);
  const ann = (await dev.http("POST", "/api/auth/register", { username: `rann_${suffix}`, password: "password-ann" })).body;
  const bob = (await dev.http("POST", "/api/auth/register", { username: `rbob_${suffix}`, password: "password-bob" })).body;
  const chat = (await dev.http("POST", "/api/chats", { type: "group", name: "Ephemeral", memberIds: [bob.user.id] }, ann.token)).body;

  const upload = await fetch(`${dev.server.url}/api/chats/${chat.id}/attachments`, {
    method: "POST",
    headers: { authorization: `Bearer ${ann.token}`, "content-type": "text/plain", "x-file-name": "note.txt" },
    body: "a file that expires",
  });
  assert.equal(upload.status, 201);
  const file = await upload.json();
  const word = `lighthouse${suffix}`;
  const first = (await dev.http("POST", `/api/chats/${chat.id}/messages`, { content: `the ${word} keeper`, attachmentIds: [file.id] }, ann.token)).body;
  const second = (await dev.http("POST", `/api/chats/${chat.id}/messages`, { content: `another ${word}` }, bob.token)).body;
  const search = async () => (await dev.http("GET", `/api/search?q=${word}`, undefined, bob.token)).body.results.map((r) => r.message.id);
  await until(async () => (await search()).length === 2, "search to find both messages", 20_000);
  assert.ok(inR2(file.id), "the file is in R2");

  const socket = new WebSocket(`${dev.server.url.replace("http", "ws")}/api/chats/${chat.id}/ws?token=${bob.token}`);
  const frames = [];
  socket.addEventListener("message", (e) => e.data !== "pong" && frames.push(JSON.parse(e.data)));
  await until(() => frames.some((f) => f.event === "joined_chat"), "joined_chat", 10_000);

  const setAt = Date.now();
  const patched = await dev.http("PATCH", `/api/chats/${chat.id}`, { retentionSeconds: 2 }, ann.token);
  assert.equal(patched.status, 200);
  assert.equal(patched.body.retentionSeconds, 2);

  await until(() => frames.some((f) => f.event === "messages_expired"), "messages_expired", 60_000);
  assert.deepEqual(frames.find((f) => f.event === "messages_expired").data, { chatId: chat.id, throughId: second.id });
  assert.deepEqual((await dev.http("GET", `/api/chats/${chat.id}/messages`, undefined, ann.token)).body.messages, []);
  assert.equal((await dev.http("GET", `/api/attachments/${file.id}`, undefined, ann.token)).status, 404);
  await until(async () => (await search()).length === 0, "search to find nothing", 60_000);
  await until(() => messagesInD1(dev.server.persistTo, chat.id).length === 0 && !inR2(file.id), "D1's copy and R2 to be empty", 60_000);
  const elapsed = Date.now() - setAt;
  assert.ok(elapsed < 60_000, `everything gone ${elapsed} ms after the setting`);

  // A socket that connects later with `since` gets the expiry first and nothing of what went.
  const late = new WebSocket(`${dev.server.url.replace("http", "ws")}/api/chats/${chat.id}/ws?token=${ann.token}&since=0`);
  const lateFrames = [];
  late.addEventListener("message", (e) => e.data !== "pong" && lateFrames.push(JSON.parse(e.data)));
  await until(() => lateFrames.some((f) => f.event === "replay_done"), "replay_done", 10_000);
  assert.deepEqual(lateFrames.map((f) => f.event), ["joined_chat", "messages_expired", "replay_done"]);
  // The next message continues the ids.
  const next = (await dev.http("POST", `/api/chats/${chat.id}/messages`, { content: "after" }, ann.token)).body;
  assert.equal(next.id, second.id + 1);
  assert.ok(first.id < second.id);
  socket.close();
  late.close();
});
