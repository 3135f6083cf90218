// End to end: tokens expire after TOKEN_TTL_SECONDS under the real `wrangler dev`, and a refresh
// before then keeps the session going.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { loadClient, nodeEnvironment } from "../support/client-bundle.mjs";
import { startDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.TOKEN_TEST_PORT ?? 8794);
const TTL = 3;
let server, client;

before(async () => {
  [server, client] = await Promise.all([startDevServer({ port: PORT, vars: { TOKEN_TTL_SECONDS: TTL } }), loadClient()]);
});
after(async () => {
  await server?.stop();
});

async function post(path, body, token) {
  const res = await fetch(server.url + path, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}
const me = async (token) => (await fetch(`${server.url}/api/me`, { headers: { authorization: `Bearer ${token}` } })).status;
const claims = (token) => JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString());
const exp = (token) => claims(token).exp;

test("a token lives TOKEN_TTL_SECONDS; refreshed before then, the session goes on", async () => {
  const registered = await post("/api/auth/register", { username: `ttl_${Date.now().toString(36)}`, password: "password-ttl" });
  assert.equal(registered.status, 201);
  const first = registered.body.token;
  assert.equal(await me(first), 200);
  // Checked first, so that a var that did not reach the Worker fails here instead of sleeping a day.
  assert.equal(exp(first) - claims(first).iat, TTL);

  // A second on, so the refreshed token's exp (whole seconds) is later than the first's.
  await sleep(1100);
  const refreshed = await post("/api/auth/refresh", undefined, first);
  assert.equal(refreshed.status, 200);
  const second = refreshed.body.token;
  assert.ok(exp(second) > exp(first), "the refreshed token expires later");

  // Just past the first token's exp: it is refused everywhere, the refreshed one still works.
  await sleep(Math.max(0, exp(first) * 1000 - Date.now()) + 100);
  assert.equal(await me(first), 401);
  const late = await post("/api/auth/refresh", undefined, first);
  assert.equal(late.status, 401);
  assert.equal(late.body.code, "unauthorized");
  assert.equal(await me(second), 200);

  // And the refreshed token ends too, TOKEN_TTL_SECONDS after it was issued.
  await sleep(Math.max(0, exp(second) * 1000 - Date.now()) + 100);
  assert.equal(await me(second), 401);
});

test("the typed client's sockets outlive several token lifetimes without reconnecting; without a refresher they end with 4001", async () => {
  const { ApiClient, ChatConnection, InboxConnection, ServerEvent, TokenRefresher } = client;
  const api = new ApiClient(server.url);
  await api.register(`keep_${Date.now().toString(36)}`, "password-keep");
  const chat = await api.createChat({ type: "group", name: "keep", memberIds: [] });
  const env = nodeEnvironment();

  const watch = (conn) => {
    const seen = { states: [], authenticated: 0 };
    conn.on("state", ({ state, closeCode }) => seen.states.push(closeCode === undefined ? state : `${state}:${closeCode}`));
    conn.on(ServerEvent.Authenticated, () => seen.authenticated++);
    return seen;
  };
  const kept = new ChatConnection({ baseUrl: server.url, token: api.token, chatId: chat.id, env });
  const inbox = new InboxConnection({ baseUrl: server.url, token: api.token, env });
  // A second connection on a token nobody refreshes: it must end when its token does.
  const lapsing = new ChatConnection({ baseUrl: server.url, token: api.token, chatId: chat.id, env });
  const keptSeen = watch(kept);
  const inboxSeen = watch(inbox);
  const lapsingSeen = watch(lapsing);
  const refresher = new TokenRefresher(api, env);
  refresher.attach(kept);
  refresher.attach(inbox);
  for (const conn of [kept, inbox, lapsing]) conn.connect();
  refresher.start();

  // Three token lifetimes.
  await sleep(TTL * 3 * 1000 + 500);
  assert.ok(keptSeen.authenticated >= 2, `re-authenticated ${keptSeen.authenticated} times`);
  assert.ok(inboxSeen.authenticated >= 2, `inbox re-authenticated ${inboxSeen.authenticated} times`);
  assert.deepEqual(keptSeen.states, ["connecting", "open"], "the chat socket never reconnected");
  assert.deepEqual(inboxSeen.states, ["connecting", "open"], "the inbox socket never reconnected");
  assert.equal(lapsingSeen.states.at(-1), "closed:4001");
  assert.equal(lapsing.error?.code, "unauthorized");
  const ack = await kept.sendMessage("still here");
  assert.ok(ack.messageId > 0);
  refresher.stop();
  kept.close();
  inbox.close();
});
