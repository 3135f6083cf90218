// Issue 29's "Done when", as a black box: only the public HTTP API and WebSocket of a real
// `wrangler dev` with the deployment's own settings (the contract's 60 s retention floor; no
// test-only variable). Takes up to two minutes for the retention check.
import assert from "node:assert/strict";
import { test } from "node:test";
import { useDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.SAFETY_BLACKBOX_PORT ?? 8834);
const dev = useDevServer({ port: PORT });
const suffix = Date.now().toString(36);
const register = async (name) => (await dev.http("POST", "/api/auth/register", { username: `${name}_${suffix}`, password: `password-${name}` })).body;

/** The first frame of `event` on a new socket, after sending `frame` once joined. */
function socketAnswer(chatId, token, frame, event) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${dev.server.url.replace("http", "ws")}/api/chats/${chatId}/ws?token=${token}`);
    const timer = setTimeout(() => (ws.close(), reject(new Error(`no ${event}`))), 10_000);
    ws.addEventListener("message", (e) => {
      if (e.data === "pong") return;
      const { event: name, data } = JSON.parse(e.data);
      if (name === "joined_chat") ws.send(JSON.stringify(frame));
      if (name === event) (clearTimeout(timer), ws.close(), resolve(data));
    });
  });
}

test("a blocked user's direct chat and sends are refused with blocked", async () => {
  const [ann, bob] = [await register("bxann"), await register("bxbob")];
  assert.equal((await dev.http("PUT", `/api/users/${bob.user.id}/block`, undefined, ann.token)).status, 204);
  const open = await dev.http("POST", "/api/chats", { type: "direct", userId: ann.user.id }, bob.token);
  assert.equal(open.status, 403);
  assert.equal(open.body.code, "blocked");
  // The chat the blocker opened: the blocked user's sends are refused, over HTTP and the socket.
  const chat = (await dev.http("POST", "/api/chats", { type: "direct", userId: bob.user.id }, ann.token)).body;
  const http = await dev.http("POST", `/api/chats/${chat.id}/messages`, { content: "let me in" }, bob.token);
  assert.equal(http.status, 403);
  assert.equal(http.body.code, "blocked");
  const error = await socketAnswer(chat.id, bob.token, { event: "send_message", data: { content: "let me in", clientId: "bx-1" } }, "error");
  assert.equal(error.code, "blocked");
  assert.deepEqual((await dev.http("GET", `/api/chats/${chat.id}/messages`, undefined, ann.token)).body.messages, []);
});

test("a report reaches the group's admins and not the others", async () => {
  const [ann, bob, cid] = [await register("rxann"), await register("rxbob"), await register("rxcid")];
  const group = (await dev.http("POST", "/api/chats", { type: "group", name: "Reports", memberIds: [bob.user.id, cid.user.id] }, ann.token)).body;
  const message = (await dev.http("POST", `/api/chats/${group.id}/messages`, { content: "something rude" }, cid.token)).body;
  assert.equal((await dev.http("POST", `/api/chats/${group.id}/messages/${message.id}/report`, { reason: "rude" }, bob.token)).status, 202);
  const admin = await dev.http("GET", `/api/chats/${group.id}/reports`, undefined, ann.token);
  assert.equal(admin.status, 200);
  assert.deepEqual(admin.body.reports.map((r) => [r.message.id, r.reporter.id, r.reason]), [[message.id, bob.user.id, "rude"]]);
  for (const other of [bob, cid]) assert.equal((await dev.http("GET", `/api/chats/${group.id}/reports`, undefined, other.token)).status, 403);
});

test("slow mode refuses a second send within the period", async () => {
  const [ann, bob] = [await register("sxann"), await register("sxbob")];
  const group = (await dev.http("POST", "/api/chats", { type: "group", name: "Slow", memberIds: [bob.user.id] }, ann.token)).body;
  assert.equal((await dev.http("PATCH", `/api/chats/${group.id}`, { slowModeSeconds: 30 }, ann.token)).body.slowModeSeconds, 30);
  assert.equal((await dev.http("POST", `/api/chats/${group.id}/messages`, { content: "one" }, bob.token)).status, 201);
  const res = await fetch(`${dev.server.url}/api/chats/${group.id}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${bob.token}` },
    body: JSON.stringify({ content: "two" }),
  });
  assert.equal(res.status, 429);
  assert.equal((await res.json()).code, "slow_mode");
  assert.ok(Number(res.headers.get("retry-after")) > 0);
  const error = await socketAnswer(group.id, bob.token, { event: "send_message", data: { content: "three", clientId: "sx-1" } }, "error");
  assert.equal(error.code, "slow_mode");
  assert.ok(error.retryAfter > 0 && error.retryAfter <= 30);
  assert.deepEqual((await dev.http("GET", `/api/chats/${group.id}/messages`, undefined, ann.token)).body.messages.map((m) => m.content), ["one"]);
});

test("a message in a chat with retentionSeconds: 60 is gone from history and search within two minutes", { timeout: 180_000 }, async () => {
  const [ann, bob] = [await register("txann"), await register("txbob")];
  const group = (await dev.http("POST", "/api/chats", { type: "group", name: "Retention", memberIds: [bob.user.id] }, ann.token)).body;
  assert.equal((await dev.http("PATCH", `/api/chats/${group.id}`, { retentionSeconds: 60 }, ann.token)).body.retentionSeconds, 60);
  const word = `ephemeral${suffix}`;
  const sentAt = Date.now();
  const message = (await dev.http("POST", `/api/chats/${group.id}/messages`, { content: `an ${word} message` }, bob.token)).body;
  const found = async () => (await dev.http("GET", `/api/search?q=${word}`, undefined, ann.token)).body.results.map((r) => r.message.id);
  const inHistory = async () => (await dev.http("GET", `/api/chats/${group.id}/messages`, undefined, ann.token)).body.messages.map((m) => m.id);
  // Findable first (the copy to D1 is about a second behind), so "gone" below is retention's doing.
  for (let i = 0; i < 80 && (await found()).length === 0; i++) await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(await found(), [message.id]);
  while ((await inHistory()).length > 0 || (await found()).length > 0) {
    assert.ok(Date.now() - sentAt < 120_000, "still there two minutes after it was sent");
    await new Promise((r) => setTimeout(r, 1000));
  }
  const gone = Date.now() - sentAt;
  assert.ok(gone >= 60_000, `gone after ${gone} ms: not before it expired`);
  console.log(`retention: gone from history and search ${(gone / 1000).toFixed(1)} s after it was sent (expired at 60 s)`);
});
