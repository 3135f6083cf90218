// End to end: the real `wrangler dev`, two registered users chatting with Node's global WebSocket,
// speaking only the wire contract.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientEvent, ServerEvent } from "../../src/protocol/events.ts";
import { useDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.E2E_PORT ?? 8790);
const tokens = [];

const dev = useDevServer({ port: PORT });
const http = (...args) => dev.http(...args);

function open(chatId, token) {
  const ws = new WebSocket(`${dev.server.url.replace("http", "ws")}/api/chats/${chatId}/ws?token=${token}`);
  const frames = [];
  const waiters = new Set();
  ws.addEventListener("message", (e) => {
    frames.push(JSON.parse(e.data));
    for (const w of waiters) w();
  });
  const until = (event, count = 1) =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hits = frames.filter((f) => f.event === event);
        if (hits.length >= count) {
          waiters.delete(check);
          clearTimeout(timer);
          resolve(hits[count - 1].data);
        }
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no ${event} within 10 s; got ${JSON.stringify(frames)}`));
      }, 10_000);
      waiters.add(check);
      check();
    });
  const send = (event, data) => ws.send(JSON.stringify({ event, data }));
  return { ws, frames, until, send };
}

test("two users chat in real time against wrangler dev", async () => {
  const suffix = Date.now().toString(36);
  const ann = (await http("POST", "/api/auth/register", { username: `ann_${suffix}`, password: "password-ann" })).body;
  const bob = (await http("POST", "/api/auth/register", { username: `bob_${suffix}`, password: "password-bob" })).body;
  tokens.push(ann.token, bob.token);
  const chat = await http("POST", "/api/chats", { type: "direct", userId: bob.user.id }, ann.token);
  assert.equal(chat.status, 201);

  const a = open(chat.body.id, ann.token);
  await a.until(ServerEvent.JoinedChat);
  const b = open(chat.body.id, bob.token);
  await b.until(ServerEvent.JoinedChat);
  assert.deepEqual((await a.until(ServerEvent.UserOnline)).user, bob.user);

  b.send(ClientEvent.TypingStart, {});
  assert.deepEqual((await a.until(ServerEvent.UserTyping)).user, bob.user);

  a.send(ClientEvent.SendMessage, { content: "hi bob", clientId: "e2e-1" });
  const ack = await a.until(ServerEvent.MessageSent);
  const got = await b.until(ServerEvent.ReceiveMessage);
  assert.equal(got.id, ack.messageId);
  assert.equal(got.content, "hi bob");

  b.send(ClientEvent.SendMessage, { content: "hi ann" });
  assert.equal((await a.until(ServerEvent.ReceiveMessage)).content, "hi ann");
  assert.deepEqual((await a.until(ServerEvent.UserStoppedTyping)).user, bob.user);

  const history = await http("GET", `/api/chats/${chat.body.id}/messages`, undefined, bob.token);
  assert.deepEqual(history.body.messages.map((m) => m.content), ["hi bob", "hi ann"]);

  a.ws.close();
  b.ws.close();
});

test("serves the web app with security headers, and the API beside it", async () => {
  const page = await fetch(dev.server.url + "/");
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type"), /text\/html/);
  assert.match(await page.text(), /<script type="module" src="\/app.js">/);
  const csp = page.headers.get("content-security-policy");
  assert.match(csp, /script-src 'self'/);
  assert.doesNotMatch(csp, /unsafe-inline/);
  assert.equal(page.headers.get("x-content-type-options"), "nosniff");
  assert.equal(page.headers.get("referrer-policy"), "no-referrer");
  const script = await fetch(dev.server.url + "/app.js");
  assert.match(script.headers.get("content-type"), /javascript/);
  const api = await fetch(dev.server.url + "/api/nope");
  assert.equal(api.status, 401);
});

test("a token in the query string never reaches the dev server's log", async () => {
  // wrangler logs a request when it is done with it; on a busy machine that can take a while.
  const logged = () => dev.server.output.some((line) => /GET \/api\/chats\/\d+\/ws 101/.test(line));
  for (const start = Date.now(); !logged() && Date.now() - start < 10_000; ) await new Promise((r) => setTimeout(r, 50));
  assert.ok(logged(), "the upgrades were logged");
  assert.ok(tokens.length === 2);
  for (const token of tokens) assert.deepEqual(dev.server.output.filter((line) => line.includes(token) || line.includes("token=")), []);
});

test("the rooms parse frames with zod's compiled parser: it was built while the Worker started", () => {
  // src/protocol/compiled-schemas.ts warns when zod hands a schema back uncompiled; the runtime
  // allows `new Function` only at startup, which the unit tests (eval allowed throughout) cannot show.
  assert.ok(dev.server.output.some((line) => /GET \/api\/chats\/\d+\/ws 101/.test(line)), "a room served a socket");
  assert.deepEqual(dev.server.output.filter((line) => line.includes("zod could not compile")), []);
});
