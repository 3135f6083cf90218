// Browser tests: two people in two Chromium contexts use the real web app against `wrangler dev`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientEvent, ServerEvent } from "../../src/protocol/events.ts";
import { api, messages, openChatWith, openListed, register, send, textBecomes, tokenOf, useBrowser, WAIT } from "../support/browser.mjs";
import { startDevServer } from "../support/dev-server.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT ?? 8792);
// Seeding a long history needs more than the contract's 10 messages a second.
const ctx = useBrowser({ port: PORT, vars: { MESSAGE_RATE_PER_SECOND: 1000, MESSAGE_BURST: 1000 } });

const suffix = Date.now().toString(36).slice(-5);
// "password-<name>": the second-device test logs in with one.
const person = (name, viewport) => register(ctx.browser, ctx.server.url, `${name}_${suffix}`, { password: `password-${name}`, viewport, pages: ctx.pages });

test("two people chat both ways with typing, presence and a visit offline", async () => {
  const ann = await person("ann");
  const bob = await person("bob", { width: 390, height: 780 });
  await openChatWith(ann.page, bob.username);
  // Bob's list learns of the new chat live, through his inbox.
  await openListed(bob.page, ann.username);

  await ann.page.getByTestId("online").filter({ hasText: bob.username }).waitFor(WAIT);
  await send(ann.page, "hi <b>bob</b>");
  await bob.page.getByTestId("messages").getByText("hi <b>bob</b>").waitFor(WAIT);
  assert.equal(await bob.page.locator(".msg b").count(), 0, "content is rendered as text, not HTML");
  await send(bob.page, "hey ann");
  await ann.page.getByTestId("messages").getByText("hey ann").waitFor(WAIT);
  await ann.page.locator(".msg.mine:not(.pending)").first().waitFor(WAIT);

  await bob.page.getByTestId("composer").pressSequentially("typing...");
  await ann.page.getByTestId("typing").filter({ hasText: `${bob.username} is typing…` }).waitFor(WAIT);
  await bob.page.getByTestId("composer").press("Enter");
  await ann.page.getByTestId("messages").getByText("typing...").waitFor(WAIT);
  await textBecomes(ann.page.getByTestId("typing"), "");

  // Bob goes away (his browser closes); ann writes meanwhile; bob comes back and sees it once.
  await bob.page.close();
  await ann.page.getByTestId("online").filter({ hasText: "nobody else online" }).waitFor(WAIT);
  await send(ann.page, "while you were away");
  await ann.page.locator(".msg.mine:not(.pending)").filter({ hasText: "while you were away" }).waitFor(WAIT);
  const back = await bob.context.newPage();
  ctx.pages.push(back);
  await back.goto(ctx.server.url + "/");
  await back.getByTestId("chat-list").getByTestId("unread").filter({ hasText: "1" }).waitFor(WAIT);
  await openListed(back, ann.username);
  await back.getByTestId("messages").getByText("while you were away").waitFor(WAIT);
  assert.deepEqual(await messages(back), ["hi <b>bob</b>", "hey ann", "typing...", "while you were away"]);

  // The server goes down: both show "Reconnecting…", ann's message waits, and arrives exactly once.
  await ctx.server.kill();
  await ann.page.getByTestId("banner").filter({ hasText: "Reconnecting" }).waitFor(WAIT);
  await back.getByTestId("banner").filter({ hasText: "Reconnecting" }).waitFor(WAIT);
  await send(ann.page, "sent during the outage");
  await ann.page.locator(".msg.pending").filter({ hasText: "sent during the outage" }).waitFor(WAIT);
  ctx.server = await startDevServer({ port: PORT, persistTo: ctx.server.persistTo, vars: { MESSAGE_RATE_PER_SECOND: 1000, MESSAGE_BURST: 1000 } });
  await back.getByTestId("messages").getByText("sent during the outage").waitFor({ timeout: 40_000 });
  await ann.page.locator(".msg.mine:not(.pending)").filter({ hasText: "sent during the outage" }).waitFor(WAIT);
  await textBecomes(back.getByTestId("banner"), "");
  assert.deepEqual(await messages(back), ["hi <b>bob</b>", "hey ann", "typing...", "while you were away", "sent during the outage"]);
  assert.deepEqual(await messages(ann.page), await messages(back));
  await ann.context.close();
  await bob.context.close();
});

/** A shown message by its exact text (not by a reply's quote of it). */
const message = (page, text) => page.getByTestId("messages").getByTestId("message").filter({ has: page.locator(".text", { hasText: new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`) }) });

test("a chat list the server cannot give at start (503) keeps the session: the app says so and loads it again", async () => {
  const ann = await person("uann");
  const bob = await person("ubob");
  await openChatWith(ann.page, bob.username);
  // Bob's next start: his first list request is answered 503, as when a chat's room cannot answer.
  let refused = 0;
  await bob.page.route("**/api/chats", (route) => {
    if (route.request().method() !== "GET" || refused > 0) return route.continue();
    refused++;
    return route.fulfill({ status: 503, contentType: "application/json", headers: { "Retry-After": "1" }, body: JSON.stringify({ error: "some of your chats cannot be read now; try again shortly", code: "unavailable" }) });
  });
  await bob.page.reload();
  await bob.page.getByTestId("app-error").filter({ hasText: "could not be loaded" }).waitFor(WAIT);
  await bob.page.getByTestId("me").waitFor(WAIT);
  await bob.page.getByTestId("chat-list").getByText(ann.username, { exact: true }).waitFor(WAIT);
  await textBecomes(bob.page.getByTestId("app-error"), "");
  assert.equal(refused, 1);
  assert.ok(await tokenOf(bob.page), "still signed in");
  await ann.context.close();
  await bob.context.close();
});

test("a chat added while the list is on its way stays listed: the older answer does not take it off", async () => {
  const ann = await person("hann");
  const bob = await person("hbob");
  // Bob opens the app again in a new tab. It fetches the list, opens its inbox socket, and fetches the
  // list again once the inbox is open. That second answer is read from the server at once (before
  // Ann's chat exists) and held until his inbox has told him of the chat. It is told apart by the
  // socket opened before it, and the routes are the new tab's: the first tab's requests never count.
  await bob.page.close();
  const page = await bob.context.newPage();
  ctx.pages.push(page);
  let inboxOpened = false;
  await page.routeWebSocket(/\/api\/inbox\/ws/, (ws) => {
    ws.connectToServer();
    inboxOpened = true;
  });
  let holding = false;
  let release;
  const gate = new Promise((resolve) => (release = resolve));
  let held;
  const answerHeld = new Promise((resolve) => (held = resolve));
  await page.route("**/api/chats", async (route) => {
    if (route.request().method() !== "GET" || !inboxOpened || holding) return route.continue();
    holding = true;
    const response = await route.fetch();
    held();
    await gate;
    await route.fulfill({ response });
  });
  await page.goto(ctx.server.url + "/");
  await answerHeld;

  await openChatWith(ann.page, bob.username);
  await page.getByTestId("chat-list").getByText(ann.username, { exact: true }).waitFor(WAIT);
  const applied = page.waitForResponse((res) => res.url().endsWith("/api/chats") && res.request().method() === "GET");
  release();
  await applied;
  await page.evaluate(() => new Promise((resolve) => setTimeout(resolve, 200)));
  assert.equal(await page.getByTestId("chat-list").getByText(ann.username, { exact: true }).count(), 1);
  await openListed(page, ann.username);
  await ann.context.close();
  await bob.context.close();
});

test("messages that live: two people edit, delete, react and reply, and see each other's changes live and after a reload", async () => {
  const ann = await person("mann");
  const bob = await person("mbob");
  // Bob's chat socket goes through a route the test can cut (see the outage below).
  let cut = false;
  const open = [];
  const bobSockets = [];
  await bob.page.routeWebSocket(/\/api\/chats\/\d+\/ws/, (ws) => {
    bobSockets.push(ws.url());
    if (cut) return ws.close({ code: 1011, reason: "offline" });
    open.push({ ws, server: ws.connectToServer() });
  });
  await openChatWith(ann.page, bob.username);
  await openListed(bob.page, ann.username);
  await ann.page.getByTestId("online").filter({ hasText: bob.username }).waitFor(WAIT);

  // Ann writes with a typo and fixes it: both see the new text, marked edited.
  await send(ann.page, "helo bob");
  await message(bob.page, "helo bob").waitFor(WAIT);
  await ann.page.locator(".msg.mine:not(.pending)").filter({ hasText: "helo bob" }).waitFor(WAIT);
  await message(ann.page, "helo bob").getByTestId("edit").click();
  await ann.page.getByTestId("edit-input").fill("hello bob");
  await ann.page.getByTestId("edit-input").press("Enter");
  for (const page of [ann.page, bob.page]) {
    await message(page, "hello bob").getByTestId("edited").waitFor(WAIT);
  }
  assert.equal(await message(bob.page, "helo bob").count(), 0);
  // Bob cannot edit or delete Ann's message in their direct chat.
  assert.equal(await message(bob.page, "hello bob").getByTestId("edit").count(), 0);
  assert.equal(await message(bob.page, "hello bob").getByTestId("delete").count(), 0);

  // Bob reacts from the picker; then Ann reacts the same by clicking the count, and takes it back.
  await message(bob.page, "hello bob").getByTestId("react").click();
  await message(bob.page, "hello bob").getByTestId("reaction-picker").getByRole("button", { name: "React with 👍" }).click();
  const thumbs = (page, text = "hello bob") => message(page, text).locator('[data-testid="reaction"][data-emoji="👍"]');
  await thumbs(ann.page).filter({ hasText: "👍 1" }).waitFor(WAIT);
  await thumbs(bob.page).filter({ hasText: "👍 1" }).waitFor(WAIT);
  assert.equal(await thumbs(bob.page).getAttribute("aria-pressed"), "true", "Bob's own reaction is highlighted for him");
  assert.equal(await thumbs(ann.page).getAttribute("aria-pressed"), "false");
  await thumbs(ann.page).click();
  await thumbs(bob.page).filter({ hasText: "👍 2" }).waitFor(WAIT);
  await thumbs(ann.page).filter({ hasText: "👍 2" }).waitFor(WAIT);
  assert.equal(await thumbs(ann.page).getAttribute("aria-pressed"), "true");
  await thumbs(ann.page).click();
  await thumbs(bob.page).filter({ hasText: "👍 1" }).waitFor(WAIT);
  await thumbs(ann.page).filter({ hasText: "👍 1" }).waitFor(WAIT);

  // Bob replies to Ann's message: the bar says to what, the reply quotes it on both sides.
  await message(bob.page, "hello bob").getByTestId("reply").click();
  await bob.page.getByTestId("reply-bar").filter({ hasText: "hello bob" }).waitFor(WAIT);
  await send(bob.page, "nice to hear from you");
  assert.equal(await bob.page.getByTestId("reply-bar").isHidden(), true, "the bar closes once the reply is sent");
  for (const page of [ann.page, bob.page]) {
    await message(page, "nice to hear from you").getByTestId("quote").filter({ hasText: "hello bob" }).waitFor(WAIT);
  }
  // Clicking the quote goes to the original.
  const originalId = await message(ann.page, "hello bob").getAttribute("data-message-id");
  await message(ann.page, "nice to hear from you").getByTestId("quote").click();
  assert.equal(await ann.page.evaluate(() => document.activeElement?.getAttribute("data-message-id")), originalId);

  // Bob writes something he regrets and deletes it: it keeps its place, as "message deleted".
  await send(bob.page, "oops, wrong chat");
  await message(ann.page, "oops, wrong chat").waitFor(WAIT);
  await bob.page.locator(".msg.mine:not(.pending)").filter({ hasText: "oops, wrong chat" }).waitFor(WAIT);
  await message(bob.page, "oops, wrong chat").getByTestId("delete").click();
  await message(bob.page, "oops, wrong chat").getByTestId("confirm-delete").click();
  for (const page of [ann.page, bob.page]) await message(page, "message deleted").waitFor(WAIT);
  assert.equal(await message(ann.page, "oops, wrong chat").count(), 0);
  // Ann edits her message again: the reply's quote follows.
  await message(ann.page, "hello bob").getByTestId("edit").click();
  await ann.page.getByTestId("edit-input").fill("hello bob!");
  await ann.page.getByTestId("edit-input").press("Enter");
  await message(bob.page, "nice to hear from you").getByTestId("quote").filter({ hasText: "hello bob!" }).waitFor(WAIT);

  // Bob's connection drops (a laptop lid closes); Ann reacts to his reply meanwhile. Back online, his
  // open chat catches up on the change without a reload: the socket's changesSince replay.
  cut = true;
  for (const { ws, server: upstream } of open.splice(0)) {
    upstream.close();
    ws.close({ code: 1011, reason: "offline" });
  }
  await bob.page.getByTestId("banner").filter({ hasText: "Reconnecting" }).waitFor(WAIT);
  await message(ann.page, "nice to hear from you").getByTestId("react").click();
  await message(ann.page, "nice to hear from you").getByRole("button", { name: "React with 🎉" }).click();
  const party = (page) => message(page, "nice to hear from you").locator('[data-testid="reaction"][data-emoji="🎉"]');
  await party(ann.page).filter({ hasText: "🎉 1" }).waitFor(WAIT);
  cut = false;
  await textBecomes(bob.page.getByTestId("banner"), "");
  await party(bob.page).filter({ hasText: "🎉 1" }).waitFor(WAIT);
  assert.match(bobSockets.at(-1), /[?&]since=\d+&changesSince=\d+/, "the reconnect asked for the changes it missed");

  // Bob has read Ann's message: she sees it under that message.
  await message(ann.page, "hello bob!").getByTestId("seen-by").filter({ hasText: `Seen by ${bob.username}` }).waitFor(WAIT);

  // After a reload both see every message in its current state.
  const expected = ["hello bob!", "nice to hear from you", "message deleted"];
  for (const [page, other] of [[ann.page, bob.username], [bob.page, ann.username]]) {
    await page.reload();
    await openListed(page, other);
    await message(page, "message deleted").waitFor(WAIT);
    assert.deepEqual(await messages(page), expected);
    await message(page, "hello bob!").getByTestId("edited").waitFor(WAIT);
    await message(page, "nice to hear from you").getByTestId("quote").filter({ hasText: "hello bob!" }).waitFor(WAIT);
    assert.equal(await thumbs(page, "hello bob!").textContent(), "👍 1");
    assert.equal(await thumbs(page, "hello bob!").getAttribute("aria-pressed"), page === bob.page ? "true" : "false");
    assert.equal(await party(page).textContent(), "🎉 1");
    assert.equal(await message(page, "message deleted").getByTestId("reaction").count(), 0);
    assert.equal(await message(page, "message deleted").getByTestId("reply").count(), 0, "nothing can be done to a deleted message");
  }
  await message(ann.page, "hello bob!").getByTestId("seen-by").filter({ hasText: `Seen by ${bob.username}` }).waitFor(WAIT);
  await ann.context.close();
  await bob.context.close();
});

test("a group admin removes a member, whose view says so", async () => {
  const ann = await person("gann");
  const cid = await person("gcid");
  await ann.page.getByTestId("group-name").fill("Book club");
  await ann.page.getByTestId("create-group").click();
  await ann.page.getByTestId("chat-title").filter({ hasText: "Book club" }).waitFor(WAIT);
  await ann.page.getByTestId("admin-toggle").click();
  await ann.page.getByTestId("add-member-input").fill(cid.username);
  await ann.page.getByTestId("add-member-input").press("Enter");
  await ann.page.getByTestId("admin-panel").getByText(cid.username).waitFor(WAIT);

  await openListed(cid.page, "Book club");
  await send(cid.page, "glad to be here");
  await ann.page.getByTestId("messages").getByText("glad to be here").waitFor(WAIT);
  // The admin may delete a member's message; the member sees it go.
  await message(ann.page, "glad to be here").getByTestId("delete").click();
  await message(ann.page, "glad to be here").getByTestId("confirm-delete").click();
  await message(cid.page, "message deleted").waitFor(WAIT);

  await ann.page.getByTestId(`remove-${cid.username}`).click();
  await cid.page.getByTestId("banner").filter({ hasText: "You were removed from this chat." }).waitFor(WAIT);
  assert.equal(await cid.page.getByTestId("composer").isDisabled(), true);
  await cid.page.getByTestId("chat-list").getByText("Book club").waitFor({ state: "detached", ...WAIT });
  await ann.context.close();
  await cid.context.close();
});

test("seen by names every reader whose receipt came in the same batched window", async () => {
  const ann = await person("wann");
  const bob = await person("wbob");
  const cid = await person("wcid");
  const url = ctx.server.url;
  const idOf = async (who) => (await api(url, await tokenOf(who.page), "/api/me")).id;
  await api(url, await tokenOf(ann.page), "/api/chats", { type: "group", name: "Readers three", memberIds: [await idOf(bob), await idOf(cid)] });

  // The receipts Ann's page is sent: the app's client asks for them batched, one frame per window.
  const batches = [];
  ann.page.on("websocket", (ws) => ws.on("framereceived", ({ payload }) => {
    if (!String(payload).includes(`"${ServerEvent.ReadsUpdated}"`)) return; // also "pong", not JSON
    batches.push(JSON.parse(String(payload)).data.reads.map((r) => r.user.username).sort());
  }));
  await ann.page.reload();
  await openListed(ann.page, "Readers three");
  await send(ann.page, "read me, both of you");
  await ann.page.locator(".msg.mine:not(.pending)").filter({ hasText: "read me, both of you" }).waitFor(WAIT);

  // Bob and Cid open the chat at once (each reads the message on opening): one window, one frame.
  for (const who of [bob, cid]) await who.page.getByTestId("chat-list").getByText("Readers three", { exact: true }).waitFor(WAIT);
  await Promise.all([bob, cid].map((who) => openListed(who.page, "Readers three")));
  const names = [bob.username, cid.username];
  const both = new RegExp(`^Seen by (${names.join(", ")}|${[...names].reverse().join(", ")})$`);
  await message(ann.page, "read me, both of you").getByTestId("seen-by").filter({ hasText: both }).waitFor(WAIT);
  // The premise: both receipts came in one frame (else this would not test the batch's handling).
  assert.ok(batches.some((b) => JSON.stringify(b) === JSON.stringify([...names].sort())), `one reads_updated frame carried both readers (frames: ${JSON.stringify(batches)})`);
  for (const who of [ann, bob, cid]) await who.context.close();
});

test("scrolling up loads older pages of history", async () => {
  const ann = await person("sann");
  const token = await ann.page.evaluate(() => JSON.parse(localStorage.getItem("edge-chat-session")).token);
  const headers = { "content-type": "application/json", authorization: `Bearer ${token}` };
  const chat = await (await fetch(`${ctx.server.url}/api/chats`, { method: "POST", headers, body: JSON.stringify({ type: "group", name: "Archive" }) })).json();
  for (let i = 0; i < 120; i++) {
    await fetch(`${ctx.server.url}/api/chats/${chat.id}/messages`, { method: "POST", headers, body: JSON.stringify({ content: `old ${i}` }) });
  }
  await ann.page.reload();
  await openListed(ann.page, "Archive");
  const count = () => ann.page.getByTestId("messages").getByTestId("message").count();
  await ann.page.getByTestId("messages").getByText("old 119").waitFor(WAIT);
  assert.equal(await count(), 50);
  for (const expected of [100, 120]) {
    const deadline = Date.now() + WAIT.timeout;
    while ((await count()) < expected) {
      if (Date.now() > deadline) throw new Error(`expected ${expected} messages, have ${await count()}`);
      await ann.page.getByTestId("messages").evaluate((el) => (el.scrollTop = 0));
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  const texts = await messages(ann.page);
  assert.deepEqual(texts, Array.from({ length: 120 }, (_, i) => `old ${i}`));
  await ann.context.close();
});

test("after a long absence the open chat shows every message once, in order: 1,500 missed, replayed and paged", { timeout: 180_000 }, async () => {
  const ann = await person("lann");
  const api = async (path, token, body) => {
    const res = await fetch(ctx.server.url + path, {
      method: body ? "POST" : "GET",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: body && JSON.stringify(body),
    });
    return res.json();
  };
  const annToken = await ann.page.evaluate(() => JSON.parse(localStorage.getItem("edge-chat-session")).token);
  const bob = await (await fetch(`${ctx.server.url}/api/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: `lbob_${suffix}`, password: "password-lbob" }) })).json();
  const chat = await api("/api/chats", annToken, { type: "group", name: "Away", memberIds: [bob.user.id] });

  // Ann's chat socket goes through a route the test can cut, like a laptop that sleeps with the tab open.
  let cut = false;
  const open = [];
  await ann.page.routeWebSocket(/\/api\/chats\/\d+\/ws/, (ws) => {
    if (cut) return ws.close({ code: 1011, reason: "offline" });
    open.push({ ws, server: ws.connectToServer() });
  });
  await ann.page.reload();
  await openListed(ann.page, "Away");
  await send(ann.page, "before");
  await ann.page.locator(".msg.mine:not(.pending)").filter({ hasText: "before" }).waitFor(WAIT);

  cut = true;
  for (const { ws, server: upstream } of open.splice(0)) {
    upstream.close();
    ws.close({ code: 1011, reason: "offline" });
  }
  await ann.page.getByTestId("banner").filter({ hasText: "Reconnecting" }).waitFor(WAIT);
  const MISSED = 1500;
  for (let i = 0; i < MISSED; i += 50) {
    await Promise.all(Array.from({ length: Math.min(50, MISSED - i) }, (_, k) => api(`/api/chats/${chat.id}/messages`, bob.token, { content: `away ${i + k}`, clientId: `away-${i + k}` })));
  }
  // The socket's replay stops at 1,000; the app must page the other 500 over HTTP.
  let pages = 0;
  ann.page.on("request", (request) => /\/messages\?after=/.test(request.url()) && pages++);
  cut = false;

  const expected = [];
  for (let after = 0, hasMore = true; hasMore; ) {
    const page = await api(`/api/chats/${chat.id}/messages?after=${after}&limit=100`, annToken);
    expected.push(...page.messages.map((m) => m.content));
    hasMore = page.hasMore;
    after = page.messages.at(-1)?.id ?? after;
  }
  assert.equal(expected.length, MISSED + 1);
  const count = () => ann.page.getByTestId("messages").getByTestId("message").count();
  const deadline = Date.now() + 90_000;
  while ((await count()) < expected.length) {
    if (Date.now() > deadline) throw new Error(`the chat shows ${await count()} of ${expected.length} messages`);
    await new Promise((r) => setTimeout(r, 250));
  }
  await textBecomes(ann.page.getByTestId("banner"), "");
  assert.deepEqual(await messages(ann.page), expected, "every message once, in the chat's order");
  assert.ok(pages >= 5, `the app paged the rest of the replay over HTTP (${pages} pages)`);
  await ann.context.close();
});

test("20 messages read in an open chat cost at most 3 read-marker updates, and the marker arrives", async () => {
  const bob = await person("rbob");
  const bobToken = await bob.page.evaluate(() => JSON.parse(localStorage.getItem("edge-chat-session")).token);
  const headers = (token) => ({ "content-type": "application/json", authorization: `Bearer ${token}` });
  const bobId = (await (await fetch(`${ctx.server.url}/api/me`, { headers: headers(bobToken) })).json()).id;
  const ann = await (await fetch(`${ctx.server.url}/api/auth/register`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: `rann_${suffix}`, password: "password-rann" }) })).json();
  const chat = await (await fetch(`${ctx.server.url}/api/chats`, { method: "POST", headers: headers(ann.token), body: JSON.stringify({ type: "group", name: "Readers", memberIds: [bobId] }) })).json();

  // Every read-marker update Bob's page makes: HTTP posts, and mark_read frames on any socket.
  const updates = [];
  bob.page.on("request", (request) => request.url().endsWith(`/api/chats/${chat.id}/read`) && updates.push("http"));
  bob.page.on("websocket", (ws) => ws.on("framesent", ({ payload }) => String(payload).includes(`"${ClientEvent.MarkRead}"`) && updates.push("socket")));
  await bob.page.reload();
  await openListed(bob.page, "Readers");
  await bob.page.getByTestId("online").waitFor(WAIT);
  const before = updates.length;

  let last;
  for (let i = 0; i < 20; i++) {
    last = await (await fetch(`${ctx.server.url}/api/chats/${chat.id}/messages`, { method: "POST", headers: headers(ann.token), body: JSON.stringify({ content: `read me ${i}` }) })).json();
  }
  await bob.page.getByTestId("messages").getByText("read me 19").waitFor(WAIT);
  // The marker reaches the room as read up to the last one; the page sends it at most once a second,
  // so the chat is asked until then (the chat object is the room's own state: nothing lags behind it).
  const deadline = Date.now() + 15_000;
  for (;;) {
    const listed = await (await fetch(`${ctx.server.url}/api/chats/${chat.id}`, { headers: headers(bobToken) })).json();
    if (listed.lastReadMessageId === last.id && listed.unreadCount === 0) break;
    if (Date.now() > deadline) throw new Error(`marker still at ${listed.lastReadMessageId} (unread ${listed.unreadCount}), expected ${last.id}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const made = updates.slice(before);
  assert.ok(made.length >= 1 && made.length <= 3, `read-marker updates for 20 messages: ${made.length} (${made.join(", ")})`);
  assert.ok(made.every((u) => u === "socket"), "over the open chat socket, not HTTP");
  await bob.context.close();
});

test("a chat read and left at once stays read: its last read marker is sent on leaving, and a reload lists no unread", async () => {
  const ann = await person("kann");
  const bob = await person("kbob");
  await openChatWith(ann.page, bob.username);
  await send(ann.page, "one");
  // Bob makes a second chat to switch to, then opens Ann's (its first marker goes out at once).
  await bob.page.getByTestId("group-name").fill("Elsewhere");
  await bob.page.getByTestId("create-group").click();
  await bob.page.getByTestId("chat-title").filter({ hasText: "Elsewhere" }).waitFor(WAIT);
  await openListed(bob.page, ann.username);
  await bob.page.getByTestId("messages").getByText("one").waitFor(WAIT);
  // A message seen within the second after that marker waits for its slot; Bob leaves before it.
  await send(ann.page, "two");
  await bob.page.getByTestId("messages").getByText("two").waitFor(WAIT);
  await openListed(bob.page, "Elsewhere");
  // What the server lists, not what the page kept: the app used to zero the count locally, which
  // hid a marker dropped on leaving (the list said 1 after a reload).
  await new Promise((r) => setTimeout(r, 1500));
  await bob.page.reload();
  await bob.page.getByTestId("chat-list").getByText(ann.username, { exact: true }).waitFor(WAIT);
  assert.equal(await bob.page.getByTestId("chat-list").getByTestId("unread").count(), 0, "no unread badge after a reload");
});

test("logging out on one device signs the other out at once, saying why", async () => {
  const ann = await person("dan");
  const bob = await person("eve");
  await openChatWith(ann.page, bob.username);
  // Ann's second device: same account, a second browser context.
  const laptop = await ann.context.browser().newContext({ viewport: { width: 1100, height: 750 } });
  const second = await laptop.newPage();
  ctx.pages.push(second);
  await second.goto(ctx.server.url + "/");
  await second.getByTestId("username").fill(ann.username);
  await second.getByTestId("password").fill("password-dan");
  await second.getByTestId("login").click();
  await second.getByTestId("me").waitFor(WAIT);
  await openListed(second, bob.username);

  await ann.page.getByTestId("logout").click();
  await ann.page.getByTestId("login").waitFor(WAIT);
  // The other device had not asked: it is told its session ended, well within a few seconds.
  const started = Date.now();
  await second.getByTestId("login").waitFor({ timeout: 5_000 });
  assert.match(await second.getByTestId("login-error").textContent(), /session ended/i);
  assert.ok(Date.now() - started < 5_000);
  assert.equal(await second.evaluate(() => localStorage.getItem("edge-chat-session")), null);
  // Bob was not touched.
  assert.equal(await bob.page.getByTestId("me").count(), 1);
  await laptop.close();
});
