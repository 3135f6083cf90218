// Browser tests for issue 16, the web app people expect: what arrives is noticed (title count,
// notifications), a readable timeline (links, line breaks, days, groups, "new messages"), and an app
// anyone can use (keyboard only, screen-reader announcements, axe-core scans in light and dark).
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { api, becomes, openChatWith, openListed, register, send, tokenOf, useBrowser, WAIT } from "../support/browser.mjs";

const PORT = Number(process.env.WEBAPP_TEST_PORT ?? 8806);
const AXE = readFileSync(new URL("../../node_modules/axe-core/axe.min.js", import.meta.url), "utf8");
const ctx = useBrowser({ port: PORT, vars: { MESSAGE_RATE_PER_SECOND: 1000, MESSAGE_BURST: 1000 } });

const suffix = Date.now().toString(36).slice(-5);
const person = (name, options = {}) => register(ctx.browser, ctx.server.url, `${name}_${suffix}`, { pages: ctx.pages, ...options });
/** A user made over the API only (the other side of a conversation). */
const apiUser = (name) => api(ctx.server.url, null, "/api/auth/register", { username: `${name}_${suffix}`, password: `password-${name}` });
/** A person in the browser with a direct chat open with an API-only user, who posts into it. */
async function directChat(name, other) {
  const me = await person(name);
  const them = await apiUser(other);
  await openChatWith(me.page, them.user.username);
  const chatId = Number(await me.page.getByTestId("chat-list").locator("li.active").getAttribute("data-chat-id"));
  const post = (content) => api(ctx.server.url, them.token, `/api/chats/${chatId}/messages`, { content });
  return { ann: me, bob: them, post };
}
const message = (page, text) => page.getByTestId("messages").getByTestId("message").filter({ hasText: text });

/**
 * Headless Chromium's tabs are always visible: the test says the tab was hidden (or shown) the way
 * the browser would, by `document.hidden`, `visibilityState` and a `visibilitychange` event.
 */
const setHidden = (page, hidden) =>
  page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    Object.defineProperty(document, "visibilityState", { configurable: true, get: () => (hidden ? "hidden" : "visible") });
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);

/** axe-core's WCAG 2 A/AA rules on the page as it is: no serious or critical violation. */
async function scan(page, what) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ content: AXE });
  const { violations } = await page.evaluate(() => window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa"] } }));
  const bad = violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  assert.deepEqual(
    bad.map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => `${n.target.join(" ")} ${n.failureSummary}`).join(" | ")}`),
    [],
    `${what}: axe found serious or critical violations`,
  );
}

test("axe-core: the login page, the chat list, an open chat and search results have no serious or critical WCAG 2 AA violations, light and dark", async () => {
  const bob = await apiUser("xbob");
  for (const colorScheme of ["light", "dark"]) {
    // bypassCSP: the page's policy allows only its own script; axe is injected by the test.
    const context = await ctx.browser.newContext({ viewport: { width: 1100, height: 750 }, colorScheme, bypassCSP: true });
    const page = await context.newPage();
    ctx.pages.push(page);
    await page.goto(ctx.server.url + "/");
    await page.getByTestId("username").waitFor(WAIT);
    await scan(page, `login (${colorScheme})`);
    // The scan can fail: axe flags text that is too faint when there is some.
    const faint = await page.evaluate(async () => {
      const p = Object.assign(document.createElement("p"), { textContent: "faint" });
      p.style.cssText = "color: #ccc; background: #fff";
      document.body.append(p);
      const { violations } = await window.axe.run(p, { runOnly: { type: "tag", values: ["wcag2aa"] } });
      p.remove();
      return violations.map((v) => v.id);
    });
    assert.deepEqual(faint, ["color-contrast"]);
    const username = `xann_${colorScheme}_${suffix}`;
    await page.getByTestId("username").fill(username);
    await page.getByTestId("password").fill("password-xann");
    await page.getByTestId("register").click();
    await page.getByTestId("me").waitFor(WAIT);
    const token = await tokenOf(page);
    const ann = await api(ctx.server.url, token, "/api/me");
    const chat = await api(ctx.server.url, bob.token, "/api/chats", { type: "direct", userId: ann.id });
    for (const content of ["hi, see https://example.com/page", "and a second line\nbelow", "grouped under one name"]) {
      await api(ctx.server.url, bob.token, `/api/chats/${chat.id}/messages`, { content });
    }
    await page.getByTestId("chat-list").getByTestId("unread").filter({ hasText: "3" }).waitFor(WAIT);
    await scan(page, `chat list (${colorScheme})`);
    await openListed(page, bob.user.username);
    await message(page, "grouped under one name").waitFor(WAIT);
    await send(page, "my reply, with a link: www.example.org");
    await page.locator(".msg.mine:not(.pending)").waitFor(WAIT);
    await message(page, "grouped under one name").getByTestId("react").click();
    await message(page, "grouped under one name").getByTestId("reaction-picker").waitFor(WAIT);
    await scan(page, `open chat (${colorScheme})`);
    // Message search results with their highlighted matches; a message is findable once its room's
    // copy reached D1 (about a second), so the search is asked again until it is.
    const search = page.getByTestId("message-search");
    await search.fill("grouped");
    for (let tries = 0; (await page.getByTestId("search-result").count()) === 0; tries++) {
      assert.ok(tries < 40, "the message became findable");
      await page.waitForTimeout(250);
      await search.press("Enter");
    }
    await page.getByTestId("search-result").locator("mark").first().waitFor(WAIT);
    await scan(page, `search results (${colorScheme})`);
    await context.close();
  }
});

test("the keyboard alone: sign in, find someone, open a chat, send (Shift+Enter for a new line), open the members panel and close it with Escape", async () => {
  const bob = await apiUser("kbob");
  const context = await ctx.browser.newContext({ viewport: { width: 1100, height: 750 } });
  const page = await context.newPage();
  ctx.pages.push(page);
  const focused = () => page.evaluate(() => document.activeElement?.getAttribute("data-testid") ?? document.activeElement?.textContent ?? null);
  /** Presses Tab (or Shift+Tab) until the element matching `is` has focus. */
  const tabTo = async (is, { back = false, max = 40 } = {}) => {
    for (let i = 0; i < max; i++) {
      if (await page.evaluate(is)) return;
      await page.keyboard.press(back ? "Shift+Tab" : "Tab");
    }
    throw new Error(`Tab never reached the element (focus on ${await focused()})`);
  };
  await page.goto(ctx.server.url + "/");
  await page.getByTestId("username").waitFor(WAIT);
  assert.equal(await focused(), "username", "the login starts in the username field");
  const username = `kann_${suffix}`;
  await page.keyboard.type(username);
  await page.keyboard.press("Tab");
  await page.keyboard.type("password-kann");
  await tabTo(() => document.activeElement?.getAttribute("data-testid") === "register");
  await page.keyboard.press("Enter");
  await page.getByTestId("me").waitFor(WAIT);
  assert.equal(await focused(), "user-search", "signed in, focus goes to the search box");

  await page.keyboard.type(bob.user.username.slice(0, 6));
  await page.getByTestId("user-results").getByText(`Chat with ${bob.user.username}`).waitFor(WAIT);
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  await page.getByTestId("chat-title").filter({ hasText: bob.user.username }).waitFor(WAIT);
  assert.equal(await focused(), "composer", "an opened chat puts focus in the composer");
  await page.keyboard.type("first line");
  await page.keyboard.press("Shift+Enter");
  await page.keyboard.type("second line");
  await page.keyboard.press("Enter");
  await page.locator(".msg.mine:not(.pending)").waitFor(WAIT);
  assert.equal(await page.getByTestId("message").locator(".text").textContent(), "first line\nsecond line", "Shift+Enter kept the line break, Enter sent");
  assert.equal(await page.getByTestId("composer").inputValue(), "");

  // A group, made and run from the keyboard.
  await tabTo(() => document.activeElement?.getAttribute("data-testid") === "group-name", { back: true });
  await page.keyboard.type("Keyboard club");
  await page.keyboard.press("Enter");
  await page.getByTestId("chat-title").filter({ hasText: "Keyboard club" }).waitFor(WAIT);
  assert.equal(await focused(), "composer");
  await tabTo(() => document.activeElement?.getAttribute("data-testid") === "admin-toggle", { back: true });
  assert.equal(await page.getByTestId("admin-toggle").getAttribute("aria-expanded"), "false");
  await page.keyboard.press("Enter");
  await page.getByTestId("admin-panel").waitFor(WAIT);
  assert.equal(await page.getByTestId("admin-toggle").getAttribute("aria-expanded"), "true");
  assert.equal(await focused(), "rename-input", "the panel's first field has focus");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Escape");
  await page.getByTestId("admin-panel").waitFor({ state: "hidden", ...WAIT });
  assert.equal(await focused(), "admin-toggle", "Escape closed the panel and focus went back to its button");

  // Back to the direct chat through the chat list, with Tab and Enter.
  await tabTo(() => document.activeElement?.closest(".chats") !== null && document.activeElement.textContent.includes("kbob_"), { back: true, max: 60 });
  await page.keyboard.press("Enter");
  await page.getByTestId("chat-title").filter({ hasText: bob.user.username }).waitFor(WAIT);
  await message(page, "second line").waitFor(WAIT);
  assert.equal(await focused(), "composer");
  await context.close();
});

test("a message keeps its line breaks; http(s) and www. links are clickable, javascript: and markup never are", async () => {
  const { ann, bob, post } = await directChat("lann", "lbob");
  const evil = [
    "javascript:alert(document.title)",
    '<a href="javascript:alert(1)">click</a>',
    "JaVaScRiPt:alert(1)//https://example.com",
    "data:text/html,<script>alert(1)</script>",
  ];
  for (const content of [...evil, "see https://example.com/a?b=1, or www.example.org.\nsecond line"]) await post(content);
  const rich = message(ann.page, "second line");
  await rich.waitFor(WAIT);
  const links = await rich.locator(".text a").evaluateAll((as) => as.map((a) => [a.textContent, a.getAttribute("href"), a.getAttribute("rel"), a.getAttribute("target")]));
  assert.deepEqual(links, [
    ["https://example.com/a?b=1", "https://example.com/a?b=1", "noopener noreferrer", "_blank"],
    ["www.example.org", "https://www.example.org/", "noopener noreferrer", "_blank"],
  ]);
  assert.equal(await rich.locator(".text").textContent(), "see https://example.com/a?b=1, or www.example.org.\nsecond line", "every character kept, as text");
  const lineHeight = await rich.locator(".text").evaluate((el) => parseFloat(getComputedStyle(el).lineHeight));
  const height = await rich.locator(".text").evaluate((el) => el.getBoundingClientRect().height);
  assert.ok(height >= 2 * lineHeight - 1, `the line break shows as a second line (${height}px for ${lineHeight}px lines)`);
  for (const content of evil) assert.equal(await message(ann.page, content).count(), 1, content);
  assert.equal(await ann.page.locator(".msg a").count(), 2, "only the two real links are links");
  assert.equal(await ann.page.locator('a[href^="javascript" i], a[href^="data" i], .msg script').count(), 0);
  // A link opens in a new tab, without this page's opener.
  const [popup] = await Promise.all([ann.context.waitForEvent("page"), rich.locator(".text a").first().click()]);
  assert.equal(await popup.evaluate(() => window.opener), null);
  await popup.close();
  await ann.context.close();
});

test("the timeline: a day separator, consecutive messages grouped under one name, brief times with the full timestamp on hover and focus", async () => {
  const { ann, bob, post } = await directChat("tann", "tbob");
  for (const content of ["one", "two", "three"]) await post(content);
  await message(ann.page, "three").waitFor(WAIT);
  await send(ann.page, "mine");
  await ann.page.locator(".msg.mine:not(.pending)").waitFor(WAIT);
  const rows = await ann.page.locator(".entry").evaluateAll((rows) =>
    rows.map((r) => ({ day: r.querySelector(".day:not([hidden])")?.textContent ?? null, grouped: r.classList.contains("grouped"), nameShown: getComputedStyle(r.querySelector(".who")).display !== "none" })),
  );
  assert.deepEqual(rows, [
    { day: "Today", grouped: false, nameShown: true },
    { day: null, grouped: true, nameShown: false },
    { day: null, grouped: true, nameShown: false },
    { day: null, grouped: false, nameShown: true },
  ]);
  const time = message(ann.page, "two").getByTestId("time");
  assert.match(await time.evaluate((el) => el.firstChild.textContent), /^\d{1,2}:\d{2}/, "a brief time");
  const full = await time.getAttribute("title");
  assert.ok(full.length > 15 && /\d{4}/.test(full), `the full timestamp on hover: ${full}`);
  assert.ok(Math.abs(Date.parse(await time.getAttribute("datetime")) - Date.now()) < 120_000);
  const fullShown = () => message(ann.page, "two").getByTestId("full-time").isVisible();
  assert.equal(await fullShown(), false);
  await message(ann.page, "two").getByTestId("reply").focus();
  assert.equal(await fullShown(), true, "focus inside the message shows the full timestamp");
  await ann.context.close();
});

test("scrolled up, new messages do not move the view: a \"N new messages ↓\" button returns to the latest; a live region announces them", async () => {
  const { ann, bob, post } = await directChat("nann", "nbob");
  for (let i = 0; i < 40; i++) await post(`earlier ${i}`);
  await message(ann.page, "earlier 39").waitFor(WAIT);
  const list = ann.page.getByTestId("messages");
  const atBottom = () => list.evaluate((el) => el.scrollHeight - el.scrollTop - el.clientHeight < 5);
  await becomes(atBottom, true);
  const jump = ann.page.getByTestId("new-messages");
  assert.equal(await jump.isVisible(), false);

  await list.evaluate((el) => (el.scrollTop = 100));
  await post("while you read 1");
  await post("while you read 2");
  await jump.filter({ hasText: "2 new messages ↓" }).waitFor(WAIT);
  assert.equal(await list.evaluate((el) => el.scrollTop), 100, "the view stayed where the reader was");
  assert.deepEqual((await ann.page.getByTestId("announcer").locator("p").allTextContents()).slice(-2), [`${bob.user.username}: while you read 1`, `${bob.user.username}: while you read 2`]);
  assert.equal(await ann.page.getByTestId("announcer").getAttribute("aria-live"), "polite");

  await jump.click();
  await jump.waitFor({ state: "hidden", ...WAIT });
  assert.equal(await atBottom(), true);
  assert.equal(await ann.page.evaluate(() => document.activeElement?.getAttribute("data-testid")), "composer");
  // At the newest message, the next one scrolls in by itself.
  await post("at the bottom");
  await message(ann.page, "at the bottom").waitFor(WAIT);
  await becomes(atBottom, true);
  assert.equal(await jump.isVisible(), false);
  // Scrolling down by hand clears the button too.
  await list.evaluate((el) => (el.scrollTop = 0));
  await post("one more");
  await jump.filter({ hasText: "1 new message ↓" }).waitFor(WAIT);
  await list.evaluate((el) => (el.scrollTop = el.scrollHeight));
  await jump.waitFor({ state: "hidden", ...WAIT });
  await ann.context.close();
});

test("a hidden tab shows the unread total in its title; opt-in notifications, one per chat, replaced, and a click opens the chat", async () => {
  const ann = await apiUser("aann");
  // The page's Notification is recorded (headless Chromium shows none); the permission is Chromium's.
  const context = await ctx.browser.newContext({ viewport: { width: 1100, height: 750 } });
  await context.grantPermissions(["notifications"], { origin: ctx.server.url });
  await context.addInitScript(() => {
    const Real = window.Notification;
    window.__requests = 0;
    window.__shown = [];
    window.Notification = class extends EventTarget {
      static get permission() {
        return Real.permission;
      }
      static requestPermission() {
        window.__requests++;
        return Real.requestPermission();
      }
      constructor(title, options = {}) {
        super();
        Object.assign(this, { title, body: options.body, tag: options.tag, closed: false });
        window.__shown.push(this);
      }
      close() {
        this.closed = true;
      }
    };
  });
  const bob = await apiUser("abob");
  const bobId = bob.user.id;
  const page = await context.newPage();
  ctx.pages.push(page);
  await page.goto(ctx.server.url + "/");
  await page.getByTestId("username").fill(bob.user.username);
  await page.getByTestId("password").fill("password-abob");
  await page.getByTestId("login").click();
  await page.getByTestId("me").waitFor(WAIT);
  const direct = await api(ctx.server.url, ann.token, "/api/chats", { type: "direct", userId: bobId });
  const group = await api(ctx.server.url, ann.token, "/api/chats", { type: "group", name: "Quiet group", memberIds: [bobId] });
  const post = (chat, content) => api(ctx.server.url, ann.token, `/api/chats/${chat.id}/messages`, { content });
  const shown = () => page.evaluate(() => window.__shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag, closed: n.closed })));

  // The title: plain while seen; the unread total while hidden, the open chat's new messages included.
  await openListed(page, "Quiet group");
  assert.equal(await page.title(), "Edge chat");
  await setHidden(page, true);
  await post(direct, "one");
  await post(direct, "two");
  await becomes(() => page.title(), "(2) Edge chat");
  await post(group, "in the open chat");
  await message(page, "in the open chat").waitFor(WAIT);
  await becomes(() => page.title(), "(3) Edge chat");
  await setHidden(page, false);
  assert.equal(await page.title(), "Edge chat");
  assert.deepEqual(await shown(), [], "nothing is notified before the user opts in");

  // Opting in: the permission is asked for only on the click.
  assert.equal(await page.evaluate(() => window.__requests), 0, "no permission request on load");
  const button = page.getByTestId("notifications");
  assert.equal(await button.textContent(), "Turn on notifications");
  await button.click();
  await button.filter({ hasText: "Notifications on" }).waitFor(WAIT);
  assert.equal(await page.evaluate(() => window.__requests), 1);

  // A chat that is not open: one notification, replaced by the next (same tag, the first closed).
  await post(direct, "are you there?");
  await becomes(async () => (await shown()).length, 1);
  await post(direct, "hello?");
  await becomes(async () => (await shown()).length, 2);
  const [first, second] = await shown();
  assert.deepEqual(second, { title: ann.user.username, body: "hello?", tag: `edge-chat-${direct.id}`, closed: false });
  assert.equal(first.tag, second.tag);
  assert.equal(first.closed, true, "replaced, not stacked");
  // The open chat while the tab is seen: no notification; hidden: one, naming the sender in a group.
  await post(group, "seen here");
  await message(page, "seen here").waitFor(WAIT);
  await setHidden(page, true);
  await post(group, "while hidden");
  await becomes(async () => (await shown()).length, 3);
  assert.deepEqual((await shown())[2], { title: "Quiet group", body: `${ann.user.username}: while hidden`, tag: `edge-chat-${group.id}`, closed: false });
  await setHidden(page, false);

  // Clicking the direct chat's notification opens that chat.
  await page.evaluate(() => window.__shown[1].dispatchEvent(new Event("click")));
  await page.getByTestId("chat-title").filter({ hasText: ann.user.username }).waitFor(WAIT);
  await message(page, "hello?").waitFor(WAIT);
  assert.equal((await shown())[1].closed, true);
  // Turned off again: no more notifications.
  await button.click();
  await button.filter({ hasText: "Turn on notifications" }).waitFor(WAIT);
  await post(group, "after opting out");
  await page.getByTestId("chat-list").getByText(`${ann.user.username}: after opting out`).waitFor(WAIT);
  assert.equal((await shown()).length, 3);
  await context.close();
});
