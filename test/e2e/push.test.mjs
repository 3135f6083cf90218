// End to end: Web Push against the real `wrangler dev` (its emulated queue included), with a push
// service of the test's own on loopback. It does what a push service does with each push (checks the
// VAPID JWT's ES256 signature against `k`, `aud`, `exp` and `sub`) and what the browser does
// (decrypts the aes128gcm body with the subscriber's keys, made here as `pushManager.subscribe`
// makes them), and answers as each endpoint is told to: 201, 410, or 503 a few times first.
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";
import { ClientEvent, ServerEvent } from "../../src/protocol/events.ts";
import { pushPayload } from "../../src/protocol/push.ts";
import { decryptPush, newSubscriber, verifyVapid } from "../support/push-receiver.ts";
import { useDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.PUSH_TEST_PORT ?? 8846);
const dev = useDevServer({ port: PORT, log: process.env.PUSH_TEST_LOG ? (line) => console.error(line) : undefined });
const http = (...args) => dev.http(...args);

/** The push service: per endpoint, the subscriber's keys, how to answer, and every push it took. */
const service = { url: "", endpoints: new Map(), problems: [] };
let server;

before(async () => {
  server = createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", async () => {
      const endpoint = `${service.url}${req.url}`;
      const entry = service.endpoints.get(endpoint);
      try {
        if (!entry) throw new Error(`a push to an endpoint nobody subscribed: ${endpoint}`);
        assert.equal(req.method, "POST");
        assert.equal(req.headers["content-encoding"], "aes128gcm");
        const { claims, key } = await verifyVapid(req.headers.authorization ?? null, endpoint);
        const { plaintext } = await decryptPush(new Uint8Array(Buffer.concat(chunks)), entry.subscriber);
        const payload = JSON.parse(plaintext);
        assert.equal(pushPayload.safeParse(payload).success, true, plaintext);
        const status = entry.answer(entry.requests.length);
        entry.requests.push({ at: Date.now(), status, payload, claims, key, headers: req.headers });
        res.writeHead(status, status === 503 ? { "Retry-After": "1" } : {}).end();
      } catch (err) {
        service.problems.push(String(err?.stack ?? err));
        res.writeHead(400).end();
      }
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  service.url = `http://127.0.0.1:${server.address().port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  assert.deepEqual(service.problems, [], "every push verified and decrypted");
});

let seq = 0;
/** A browser of `user` subscribing through the API, as the web app does; `answer(n)` is the service's status for its n-th push. */
async function subscribe(user, answer = () => 201) {
  const subscriber = await newSubscriber();
  const endpoint = `${service.url}/push/${user.user.username}-${seq++}`;
  const entry = { subscriber, answer, requests: [] };
  service.endpoints.set(endpoint, entry);
  const res = await http("POST", "/api/push/subscriptions", { endpoint, expirationTime: null, keys: subscriber.keys }, user.token);
  assert.equal(res.status, 201);
  return { endpoint, ...entry, delivered: () => entry.requests.filter((r) => r.status === 201).map((r) => r.payload) };
}

async function until(check, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const register = async (name) => (await http("POST", "/api/auth/register", { username: `${name}_${Date.now().toString(36)}${seq++}`, password: "password-push" })).body;

async function group(owner, members) {
  const res = await http("POST", "/api/chats", { type: "group", name: `push ${seq++}`, memberIds: members.map((m) => m.user.id) }, owner.token);
  assert.equal(res.status, 201);
  return res.body;
}

const send = async (chat, user, content) => {
  const res = await http("POST", `/api/chats/${chat.id}/messages`, { content }, user.token);
  assert.equal(res.status, 201);
  return res.body;
};

function openChat(chatId, token) {
  const ws = new WebSocket(`${dev.server.url.replace("http", "ws")}/api/chats/${chatId}/ws?token=${token}`);
  const frames = [];
  ws.addEventListener("message", (e) => e.data !== "pong" && frames.push(JSON.parse(e.data)));
  const of = (event) => frames.filter((f) => f.event === event).map((f) => f.data);
  return {
    ws,
    of,
    until: (event, count = 1) => until(() => of(event).length >= count, `${count} × ${event}`),
    send: (event, data) => ws.send(JSON.stringify({ event, data })),
  };
}

/** A push that reaches another endpoint after the one watched would have: room to be sure one did not come. */
const SETTLE_MS = 300;

test("serves the VAPID key without a token, and pushes are signed with it", async () => {
  const res = await fetch(`${dev.server.url}/api/push/vapid-public-key`);
  assert.equal(res.status, 200);
  const { key } = await res.json();
  assert.match(key, /^B[A-Za-z0-9_-]{86}$/);
  const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
  const chat = await group(ann, [bob]);
  const phone = await subscribe(bob);
  await send(chat, ann, "signed");
  await until(() => phone.requests.length === 1, "the push");
  const [push] = phone.requests;
  assert.equal(push.key, key);
  assert.equal(push.claims.aud, service.url);
  assert.match(push.claims.sub, /^(mailto:|https:)/);
  // The topic names no chat (an HMAC of the user and the chat: see PROTOCOL.md).
  assert.match(push.headers.topic, /^[A-Za-z0-9_-]{22}$/);
  assert.equal(push.headers.urgency, "normal");
  assert.ok(Number(push.headers.ttl) > 0);
});

test("subscribe and unsubscribe", async () => {
  const ann = await register("ann");
  const subscriber = await newSubscriber();
  const endpoint = `${service.url}/push/subscribe-${seq++}`;
  const body = { endpoint, expirationTime: null, keys: subscriber.keys };
  assert.equal((await http("POST", "/api/push/subscriptions", body, ann.token)).status, 201);
  assert.equal((await http("POST", "/api/push/subscriptions", body, ann.token)).status, 200);
  assert.equal((await http("POST", "/api/push/subscriptions", body)).status, 401);
  assert.equal((await http("POST", "/api/push/subscriptions", { ...body, endpoint: "http://push.example/x" }, ann.token)).status, 400);
  assert.equal((await http("DELETE", "/api/push/subscriptions", { endpoint }, ann.token)).status, 204);
  assert.equal((await http("DELETE", "/api/push/subscriptions", { endpoint }, ann.token)).status, 204);
});

test("an offline member is pushed, decrypted as sent; a member with the chat open is not", async () => {
  const [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
  const chat = await group(ann, [bob, cid]);
  const bobs = await subscribe(bob);
  const cids = await subscribe(cid);
  const a = openChat(chat.id, ann.token);
  await a.until(ServerEvent.JoinedChat);
  const b = openChat(chat.id, bob.token);
  await b.until(ServerEvent.JoinedChat);
  const first = await send(chat, ann, "Lunch at 12?");
  await until(() => cids.requests.length === 1, "cid's push");
  assert.deepEqual(cids.delivered(), [
    { type: "message", chatId: chat.id, chatName: chat.name, isGroup: true, sender: ann.user, count: 1, messageId: first.id, sentAt: first.timestamp, preview: "Lunch at 12?" },
  ]);
  // Bob had the chat open: nothing for him. Once he closes it, the next message is his first push.
  b.ws.close();
  await a.until(ServerEvent.UserOffline);
  const second = await send(chat, ann, "Or 1?");
  await until(() => bobs.requests.length === 1, "bob's push");
  assert.deepEqual(bobs.delivered().map((p) => [p.messageId, p.count]), [[second.id, 1]]);
  a.ws.close();
});

test("a burst of 10 messages is at most 3 pushes, counting all 10", async () => {
  const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
  const chat = await group(ann, [bob]);
  const phone = await subscribe(bob);
  const a = openChat(chat.id, ann.token);
  await a.until(ServerEvent.JoinedChat);
  for (let i = 0; i < 10; i++) a.send(ClientEvent.SendMessage, { content: `burst ${i}`, clientId: `burst-${i}` });
  await a.until(ServerEvent.MessageSent, 10);
  await until(() => phone.delivered().reduce((n, p) => n + p.count, 0) === 10, "pushes counting all 10 messages");
  assert.ok(phone.requests.length <= 3, `${phone.requests.length} pushes`);
  assert.equal(phone.delivered().at(-1).preview, "burst 9");
  a.ws.close();
});

test("410 ends the subscription: nothing is sent to it again", async () => {
  const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
  const gone = await subscribe(bob, () => 410);
  const kept = await subscribe(bob);
  const first = await group(ann, [bob]);
  await send(first, ann, "to a gone browser");
  await until(() => gone.requests.length === 1 && kept.requests.length === 1, "both browsers' pushes");
  // Another chat, so no pacing stands between: the kept browser is pushed, the gone one never again.
  const second = await group(ann, [bob]);
  await send(second, ann, "again");
  await until(() => kept.requests.length === 2, "the kept browser's second push");
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  assert.equal(gone.requests.length, 1);
});

test("mute stops pushes; unmuting starts them again, without counting what came while muted", async () => {
  const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
  const chat = await group(ann, [bob]);
  const phone = await subscribe(bob);
  assert.equal((await http("PUT", `/api/chats/${chat.id}/mute`, undefined, bob.token)).status, 204);
  assert.equal((await http("GET", `/api/chats/${chat.id}`, undefined, bob.token)).body.muted, true);
  await send(chat, ann, "while muted");
  assert.equal((await http("DELETE", `/api/chats/${chat.id}/mute`, undefined, bob.token)).status, 204);
  const after = await send(chat, ann, "after unmute");
  await until(() => phone.requests.length >= 1, "the push after unmuting");
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  assert.deepEqual(phone.delivered().map((p) => [p.messageId, p.count]), [[after.id, 1]]);
});

test("unsubscribing and removal stop pushes", async () => {
  const [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
  const chat = await group(ann, [bob, cid]);
  const old = await subscribe(bob);
  const bobNew = await subscribe(bob);
  const cids = await subscribe(cid);
  assert.equal((await http("DELETE", "/api/push/subscriptions", { endpoint: old.endpoint }, bob.token)).status, 204);
  assert.equal((await http("DELETE", `/api/chats/${chat.id}/members/${cid.user.id}`, undefined, ann.token)).status, 204);
  await send(chat, ann, "after the unsubscribe and the removal");
  await until(() => bobNew.requests.length === 1, "bob's remaining browser's push");
  await new Promise((r) => setTimeout(r, SETTLE_MS));
  assert.equal(old.requests.length, 0);
  assert.equal(cids.requests.length, 0);
});

test("a push service that is down is retried after its Retry-After, and sends are never held up", async () => {
  const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
  const chat = await group(ann, [bob]);
  // 503 with Retry-After: 1 twice, then up.
  const phone = await subscribe(bob, (n) => (n < 2 ? 503 : 201));
  const a = openChat(chat.id, ann.token);
  await a.until(ServerEvent.JoinedChat);
  a.send(ClientEvent.SendMessage, { content: "while the service is down", clientId: "down-0" });
  await a.until(ServerEvent.MessageSent, 1);
  // While the push is being retried, the chat goes on: every send is acknowledged.
  await until(() => phone.requests.length >= 1, "the first, refused, push");
  for (let i = 1; i <= 20; i++) a.send(ClientEvent.SendMessage, { content: `during the outage ${i}`, clientId: `down-${i}` });
  await a.until(ServerEvent.MessageSent, 21);
  // The first message's push gets through once the service is back (the push for the 20 sent
  // during the outage, paced 5 s after it, may reach the service before its last retry does).
  await until(() => phone.delivered().some((p) => p.preview === "while the service is down"), "the first push, once the service is back", 30_000);
  assert.deepEqual(phone.requests.slice(0, 3).map((r) => r.status), [503, 503, 201]);
  // Each retry waited at least the second the service asked for.
  assert.ok(phone.requests[1].at - phone.requests[0].at >= 900, `retried after ${phone.requests[1].at - phone.requests[0].at} ms`);
  assert.ok(phone.requests[2].at - phone.requests[1].at >= 900, `retried after ${phone.requests[2].at - phone.requests[1].at} ms`);
  a.ws.close();
});
