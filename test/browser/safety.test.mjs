// Browser tests for issue 29 (safety): a blocked user's messages collapse ("message from a blocked
// user", click to show), the chat settings (slow mode, retention) are for admins only, reports reach
// the admins, and messages retention deletes leave the open chat. Real web app, real `wrangler dev`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { api, messages, openListed, people, send, tokenOf, useBrowser, WAIT } from "../support/browser.mjs";

const PORT = Number(process.env.BROWSER_TEST_PORT_SAFETY ?? 8812);
// Test-only: a retention of seconds, so the expiry is seen without waiting a minute.
const ctx = useBrowser({ port: PORT, vars: { RETENTION_MIN_SECONDS: 2 } });
const person = people(ctx);

/** Two people in a group `name` made by the first (over the API), each with it open. */
async function group(name) {
  const ann = await person(`${name}a`);
  const bob = await person(`${name}b`);
  const [annToken, bobToken] = await Promise.all([tokenOf(ann.page), tokenOf(bob.page)]);
  const bobId = (await api(ctx.server.url, bobToken, "/api/me")).id;
  const chat = await api(ctx.server.url, annToken, "/api/chats", { type: "group", name, memberIds: [bobId] });
  await openListed(ann.page, name);
  await openListed(bob.page, name);
  return { ann, bob, chat, annToken, bobToken, bobId };
}

test("a blocked user's messages are collapsed, shown on a click, and back once unblocked (also after a reload)", async () => {
  const { ann, bob } = await group("Blockers");
  await send(bob.page, "hello from bob");
  await ann.page.getByTestId("messages").getByText("hello from bob").waitFor(WAIT);

  await ann.page.getByTestId("admin-toggle").click();
  await ann.page.getByTestId(`block-${bob.username}`).click();
  await ann.page.getByTestId(`unblock-${bob.username}`).waitFor(WAIT);
  const collapsed = ann.page.getByTestId("messages").getByTestId("blocked-message");
  await collapsed.first().waitFor(WAIT);
  assert.equal(await ann.page.getByTestId("messages").getByText("hello from bob").count(), 0, "the text is hidden");

  // A new message from bob arrives collapsed too; bob, in the group, still sends and sees his own.
  await send(bob.page, "second from bob");
  await bob.page.locator(".msg.mine:not(.pending)").filter({ hasText: "second from bob" }).waitFor(WAIT);
  await ann.page.waitForFunction(() => document.querySelectorAll('[data-testid="blocked-message"]').length === 2, null, WAIT);

  // A click shows that one message (the other stays collapsed).
  await collapsed.first().click();
  await ann.page.getByTestId("messages").getByText("hello from bob").waitFor(WAIT);
  assert.equal(await collapsed.count(), 1);

  // Still collapsed after a reload: the block list is the server's.
  await ann.page.reload();
  await openListed(ann.page, "Blockers");
  await ann.page.waitForFunction(() => document.querySelectorAll('[data-testid="blocked-message"]').length === 2, null, WAIT);

  await ann.page.getByTestId("admin-toggle").click();
  await ann.page.getByTestId(`unblock-${bob.username}`).click();
  await ann.page.getByTestId("messages").getByText("second from bob").waitFor(WAIT);
  assert.deepEqual(await messages(ann.page), ["hello from bob", "second from bob"]);
  await ann.context.close();
  await bob.context.close();
});

test("chat settings (slow mode, retention) and reports are for the group's admins; members see the settings; expired messages leave the open chat", async () => {
  const { ann, bob, chat, bobToken } = await group("Settings");
  await bob.page.getByTestId("admin-toggle").click();
  await bob.page.getByTestId("leave").waitFor(WAIT);
  assert.equal(await bob.page.getByTestId("chat-settings").count(), 0, "a member has no settings form");
  assert.equal(await bob.page.getByTestId("show-reports").count(), 0, "a member has no reports");

  await ann.page.getByTestId("admin-toggle").click();
  const form = ann.page.getByTestId("chat-settings");
  await form.waitFor(WAIT);
  await ann.page.getByTestId("slow-mode-input").fill("30");
  await ann.page.getByTestId("retention-select").selectOption({ label: "1 hour" });
  await ann.page.getByTestId("save-settings").click();
  // The member's view hears chat_updated and says what holds now.
  await bob.page.getByTestId("settings-summary").filter({ hasText: "Slow mode: one message every 30 s · Messages are deleted after 1 hour" }).waitFor(WAIT);
  const stored = await api(ctx.server.url, bobToken, `/api/chats/${chat.id}`);
  assert.equal(stored.slowModeSeconds, 30);
  assert.equal(stored.retentionSeconds, 3600);

  // A report from the message's actions reaches the admins' list.
  await send(ann.page, "report me");
  const target = bob.page.getByTestId("messages").getByTestId("message").filter({ hasText: "report me" });
  await target.waitFor(WAIT);
  await target.getByTestId("report").click();
  await bob.page.getByTestId("report-reason").fill("off topic");
  await bob.page.getByTestId("send-report").click();
  await bob.page.getByTestId("notice").filter({ hasText: "Reported to the group's admins." }).waitFor(WAIT);
  // The admin hears of it at once (report_filed): the panel's button and the header's say so.
  await ann.page.getByTestId("show-reports").filter({ hasText: "Reports (1 new)" }).waitFor(WAIT);
  await ann.page.getByTestId("admin-toggle").filter({ hasText: "Members (1 new report)" }).waitFor(WAIT);
  await ann.page.getByTestId("show-reports").click();
  await ann.page.getByTestId("report").filter({ hasText: "off topic" }).filter({ hasText: "report me" }).waitFor(WAIT);
  await ann.page.getByTestId("show-reports").filter({ hasText: /^Reports$/ }).waitFor(WAIT);
  assert.equal(await ann.page.getByTestId("admin-toggle").textContent(), "Members");

  // Retention of 2 s (the test-only floor): the messages leave both open views without a reload.
  await api(ctx.server.url, await tokenOf(ann.page), `/api/chats/${chat.id}`, { retentionSeconds: 2 }, "PATCH");
  await bob.page.getByTestId("messages").getByText("report me").waitFor({ state: "detached", timeout: 30_000 });
  await ann.page.getByTestId("messages").getByText("report me").waitFor({ state: "detached", timeout: 30_000 });
  assert.deepEqual(await messages(bob.page), []);
  await ann.context.close();
  await bob.context.close();
});
