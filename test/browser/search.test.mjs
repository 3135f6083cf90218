// Browser test for message search: a word from an older message finds it in the web app, and the
// result opens the chat scrolled to that message, with the history around it loaded.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ClientEvent } from "../../src/protocol/events.ts";
import { api, people, tokenOf, useBrowser } from "../support/browser.mjs";

const PORT = Number(process.env.SEARCH_BROWSER_TEST_PORT ?? 8804);
const WAIT = { timeout: 15_000 };
// Seeding a long history needs more than the contract's 10 messages a second.
const ctx = useBrowser({ port: PORT, vars: { MESSAGE_RATE_PER_SECOND: 1000, MESSAGE_BURST: 1000 } });
const person = people(ctx);
const http = (method, path, token, body) => api(ctx.server.url, token, path, body, method);

test("a word from an older message finds it; the result opens the chat at that message, history around it", async () => {
  const { page, username } = await person("finder");
  const token = await tokenOf(page);

  // A chat with a long history: the message to find, then 150 newer ones, so it is far above the
  // newest page; and a second chat that must not show up for a word it does not have.
  const chat = await http("POST", "/api/chats", token, { type: "group", name: "Lighthouse log", memberIds: [] });
  await http("POST", "/api/chats", token, { type: "group", name: "Other", memberIds: [] });
  for (let i = 0; i < 10; i++) await http("POST", `/api/chats/${chat.id}/messages`, token, { content: `early note ${i}` });
  const target = await http("POST", `/api/chats/${chat.id}/messages`, token, { content: "the keeper saw a whale near the rocks" });
  for (let i = 0; i < 150; i++) await http("POST", `/api/chats/${chat.id}/messages`, token, { content: `later note ${i}` });
  // Search follows the copy to D1 (about a second after the chat pauses).
  const deadline = Date.now() + 15_000;
  while ((await http("GET", "/api/search?q=whale", token)).results.length === 0) {
    assert.ok(Date.now() < deadline, "the message became searchable");
    await new Promise((r) => setTimeout(r, 200));
  }
  await page.reload();
  await page.getByTestId("chat-list").getByText("Lighthouse log").waitFor(WAIT);

  await page.getByTestId("message-search").fill("WHAL");
  const result = page.getByTestId("search-result");
  await result.first().waitFor(WAIT);
  assert.equal(await result.count(), 1);
  assert.match(await result.textContent(), /Lighthouse log/);
  assert.match(await result.textContent(), new RegExp(username));
  // The match is highlighted with a <mark> built from text, not markup.
  assert.equal(await result.locator("mark").textContent(), "whale");

  await result.click();
  await page.getByTestId("chat-title").filter({ hasText: "Lighthouse log" }).waitFor(WAIT);
  const list = page.getByTestId("messages");
  const found = list.locator(`[data-testid="message"][data-message-id="${target.id}"]`);
  await found.waitFor(WAIT);
  // The history around it: older messages above, and the newer ones below, down to the newest.
  await list.getByText("early note 9", { exact: true }).waitFor(WAIT);
  await list.getByText("later note 149", { exact: true }).waitFor(WAIT);
  // Still resting on the found message once everything newer arrived, and it is highlighted.
  await page.waitForFunction(
    (id) => {
      const box = document.querySelector('[data-testid="messages"]').getBoundingClientRect();
      const el = document.querySelector(`[data-testid="messages"] [data-testid="message"][data-message-id="${id}"]`).getBoundingClientRect();
      return el.top >= box.top && el.bottom <= box.bottom;
    },
    target.id,
    WAIT,
  );
  await page.waitForTimeout(500);
  const inView = await page.evaluate((id) => {
    const box = document.querySelector('[data-testid="messages"]').getBoundingClientRect();
    const el = document.querySelector(`[data-testid="messages"] [data-testid="message"][data-message-id="${id}"]`);
    const r = el.getBoundingClientRect();
    return { visible: r.top >= box.top && r.bottom <= box.bottom, flashed: el.classList.contains("flash") };
  }, target.id);
  assert.deepEqual(inView, { visible: true, flashed: true });

  // A word no message has: nothing found, said so.
  await page.getByTestId("message-search").fill("zeppelin");
  await page.getByTestId("search-status").filter({ hasText: "No messages found." }).waitFor(WAIT);
  assert.equal(await result.count(), 0);
});

test("a chat opened at a search result marks nothing newer read: what arrived below is counted on the new-messages button", async () => {
  const reader = await person("reader");
  const writer = await person("writer");
  const [readerToken, writerToken] = [await tokenOf(reader.page), await tokenOf(writer.page)];
  const readerId = (await http("GET", "/api/me", readerToken)).id;
  const chat = await http("POST", "/api/chats", writerToken, { type: "group", name: "Harbour log", memberIds: [readerId] });
  const target = await http("POST", `/api/chats/${chat.id}/messages`, writerToken, { content: "a seal on the pier" });
  const LATER = 120;
  for (let i = 0; i < LATER; i++) await http("POST", `/api/chats/${chat.id}/messages`, writerToken, { content: `later entry ${i}` });
  const deadline = Date.now() + 15_000;
  while ((await http("GET", "/api/search?q=seal", readerToken)).results.length === 0) {
    assert.ok(Date.now() < deadline, "the message became searchable");
    await new Promise((r) => setTimeout(r, 200));
  }

  // Every read marker the reader's page reports, over the socket or HTTP.
  const marked = [];
  reader.page.on("websocket", (ws) =>
    ws.on("framesent", ({ payload }) => {
      // Pings are plain text; frames are JSON.
      const frame = String(payload).startsWith("{") ? JSON.parse(String(payload)) : null;
      if (frame?.event === ClientEvent.MarkRead) marked.push(frame.data.messageId);
    }),
  );
  reader.page.on("request", (r) => r.url().endsWith(`/api/chats/${chat.id}/read`) && marked.push(JSON.parse(r.postData()).messageId));
  await reader.page.reload();
  await reader.page.getByTestId("chat-list").getByText("Harbour log").waitFor(WAIT);
  await reader.page.getByTestId("message-search").fill("seal");
  await reader.page.getByTestId("search-result").first().click();
  const list = reader.page.getByTestId("messages");
  await list.getByText(`later entry ${LATER - 1}`, { exact: true }).waitFor(WAIT);

  // The newer messages came in below the found one, unseen: counted, not read.
  const jump = reader.page.getByTestId("new-messages");
  await jump.waitFor(WAIT);
  assert.match(await jump.textContent(), new RegExp(`^${LATER} new messages`));
  // Markers go out at most once a second: wait past that, then nothing newer than the found message.
  await reader.page.waitForTimeout(1_500);
  assert.ok(marked.every((id) => id <= target.id), `read up to ${Math.max(...marked)}, the found message is ${target.id}`);

  // Going down to them reads them.
  await jump.click();
  const newest = (await http("GET", `/api/chats/${chat.id}/messages?limit=1`, writerToken)).messages.at(-1).id;
  const until = Date.now() + 10_000;
  while (!marked.includes(newest)) {
    assert.ok(Date.now() < until, `the newest message (${newest}) was marked read after the jump; marked ${JSON.stringify(marked)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(await jump.isHidden());
});
