// Browser tests for issue 26, Web Push in the web app: the service worker registers when
// notifications are turned on, a push delivered to it (Chrome DevTools Protocol
// `ServiceWorker.deliverPushMessage`, no push service needed) shows one notification per chat, a
// click on one opens that chat, and the per-chat mute and the previews setting round-trip.
//
// Headless Chromium reaches no push service (its `pushManager.subscribe` fails), so the tests that
// need a subscription give the page a stand-in one (`fakePushManager`): what the app sends the
// server is then the real request, to the real routes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { PushPayloadType } from "../../src/protocol/push.ts";
import { notificationTag } from "../../src/web/attention.ts";
import { chatLink } from "../../src/web/chat-link.ts";
import { api, becomes, openListed, register, tokenOf, useBrowser, WAIT } from "../support/browser.mjs";

const PORT = Number(process.env.PUSH_BROWSER_TEST_PORT ?? 8814);
const ctx = useBrowser({ port: PORT });

const suffix = Date.now().toString(36).slice(-5);
/** A person in the browser, allowed to show notifications (as if they had said yes to the prompt). */
const person = (name, contextOptions = {}) => register(ctx.browser, ctx.server.url, `${name}_${suffix}`, { pages: ctx.pages, contextOptions: { permissions: ["notifications"], ...contextOptions } });
/** A user made over the API only (the one who writes). */
const apiUser = (name) => api(ctx.server.url, null, "/api/auth/register", { username: `${name}_${suffix}`, password: `password-${name}` });

/** The notifications the service worker shows now, as the page reads them from its registration. */
const shownNotifications = (page) =>
  page.evaluate(async () => (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({ title: n.title, body: n.body, tag: n.tag, renotify: n.renotify, data: n.data })));

/**
 * Turns notifications on and waits for the service worker; answers `push(payload)`, which delivers a
 * push to it through CDP (its registration id comes from the ServiceWorker domain's events) and
 * resolves once the worker has shown its notification. Chromium forgets a notification whose
 * showing overlaps a `getNotifications()` (seen here: shown, then never listed), so nothing reads
 * them while a push is handled: the test counts, in the worker, the `showNotification` calls that
 * have finished.
 */
async function withServiceWorker(page) {
  const cdp = await page.context().newCDPSession(page);
  const registrations = [];
  cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations: updated }) => registrations.push(...updated));
  await cdp.send("ServiceWorker.enable");
  await page.getByTestId("notifications").click();
  await page.getByTestId("notifications").filter({ hasText: "Notifications on" }).waitFor(WAIT);
  // Ready is active, not yet activated: pushes go to an activated worker.
  const scriptURL = await page.evaluate(async () => {
    const { active } = await navigator.serviceWorker.ready;
    if (active.state !== "activated") await new Promise((resolve) => active.addEventListener("statechange", () => active.state === "activated" && resolve()));
    return active.scriptURL;
  });
  const ours = (r) => r.scopeURL === `${ctx.server.url}/` && !r.isDeleted;
  await becomes(() => registrations.some(ours), true);
  const { registrationId } = registrations.findLast(ours);
  const worker = serviceWorker(page.context());
  await worker.evaluate(() => {
    const show = ServiceWorkerRegistration.prototype.showNotification;
    self.shownByTest = 0;
    ServiceWorkerRegistration.prototype.showNotification = function (...args) {
      return show.apply(this, args).finally(() => self.shownByTest++);
    };
  });
  let delivered = 0;
  const push = async (payload) => {
    await cdp.send("ServiceWorker.deliverPushMessage", { origin: ctx.server.url, registrationId, data: typeof payload === "string" ? payload : JSON.stringify(payload) });
    await becomes(() => worker.evaluate(() => self.shownByTest), ++delivered);
  };
  return { scriptURL, push };
}

const serviceWorker = (context) => {
  const worker = context.serviceWorkers().find((w) => w.url().endsWith("/sw.js"));
  assert.ok(worker, "the service worker is running");
  return worker;
};

/**
 * What CDP cannot do is click a notification: the test dispatches a `notificationclick` with the
 * real notification in the service worker itself. The worker's handler runs as for a real click
 * (its `waitUntil` throws for an event a script made, after the work has started); only the
 * browser's leave to focus or open a window, which a real click grants, is missing.
 */
async function clickNotification(context, tag) {
  await serviceWorker(context).evaluate(async (tag) => {
    const [notification] = await self.registration.getNotifications({ tag });
    self.dispatchEvent(new NotificationEvent("notificationclick", { notification }));
  }, tag);
}

test("the service worker registers on 'Turn on notifications', shows a push as one notification per chat, and a click opens that chat", async () => {
  const bob = await apiUser("bob");
  const ann = await person("ann");
  const annId = (await api(ctx.server.url, await tokenOf(ann.page), "/api/me")).id;
  const group = await api(ctx.server.url, bob.token, "/api/chats", { type: "group", name: "Climbers", memberIds: [annId] });
  const direct = await api(ctx.server.url, bob.token, "/api/chats", { type: "direct", userId: annId });
  await ann.page.getByTestId("chat-list").getByText("Climbers", { exact: true }).waitFor(WAIT);

  const { scriptURL, push } = await withServiceWorker(ann.page);
  assert.equal(scriptURL, `${ctx.server.url}/sw.js`);
  // No push service here: the in-tab notifications stay on and a quiet line says push is unavailable.
  await ann.page.getByTestId("push-state").filter({ hasText: "Only while the app is open" }).waitFor(WAIT);
  assert.equal(await ann.page.getByTestId("notifications").textContent(), "Notifications on");

  const message = { type: PushPayloadType.Message, sender: bob.user, sentAt: new Date().toISOString() };
  await push({ ...message, chatId: group.id, chatName: "Climbers", isGroup: true, count: 3, messageId: 3 });
  assert.deepEqual(await shownNotifications(ann.page), [{ title: "Climbers", body: "3 new messages", tag: notificationTag(group.id), renotify: true, data: { chatId: group.id } }]);

  // The next push of that chat replaces its notification; another chat's gets its own.
  await push({ ...message, chatId: group.id, chatName: "Climbers", isGroup: true, count: 1, messageId: 4, preview: "rope or no rope?" });
  assert.deepEqual((await shownNotifications(ann.page)).map((n) => n.body), [`${bob.user.username}: rope or no rope?`]);
  await push({ ...message, chatId: direct.id, chatName: null, isGroup: false, count: 1, messageId: 5, preview: "call me" });
  const byTag = Object.fromEntries((await shownNotifications(ann.page)).map((n) => [n.tag, n]));
  assert.deepEqual(Object.keys(byTag).sort(), [notificationTag(group.id), notificationTag(direct.id)].sort());
  assert.deepEqual(byTag[notificationTag(direct.id)], { title: bob.user.username, body: "call me", tag: notificationTag(direct.id), renotify: true, data: { chatId: direct.id } });
  assert.equal(byTag[notificationTag(group.id)].body, `${bob.user.username}: rope or no rope?`);

  // A push the worker cannot read still shows something (browsers require it), opening the app.
  await push("not json");
  assert.equal((await shownNotifications(ann.page)).length, 3);
  assert.deepEqual((await shownNotifications(ann.page)).find((n) => n.data === null), { title: "Edge chat", body: "New messages", tag: "edge-chat", renotify: false, data: null });

  // A click on the group's notification: the open tab opens the group (the address names it), and
  // the notification is gone.
  assert.equal(await ann.page.getByTestId("chat-view").count(), 0, "no chat open before the click");
  await clickNotification(ann.context, notificationTag(group.id));
  await ann.page.getByTestId("chat-title").filter({ hasText: "Climbers" }).waitFor(WAIT);
  assert.equal(new URL(ann.page.url()).hash, new URL(chatLink(group.id), ctx.server.url).hash);
  assert.deepEqual((await shownNotifications(ann.page)).map((n) => n.tag).sort(), [notificationTag(direct.id), "edge-chat"].sort());

  // Opening a chat in the app closes its pushed notification too.
  await openListed(ann.page, bob.user.username);
  await becomes(async () => (await shownNotifications(ann.page)).map((n) => n.tag).join(), "edge-chat");

  // With no tab of the app open, the worker opens one at the chat's link: that link opens the chat.
  const tab = await ann.context.newPage();
  ctx.pages.push(tab);
  await tab.goto(ctx.server.url + chatLink(group.id));
  await tab.getByTestId("chat-title").filter({ hasText: "Climbers" }).waitFor(WAIT);
  await ann.context.close();
});

/**
 * A stand-in for the browser's PushManager (headless Chromium reaches no push service): `subscribe`
 * answers a subscription with a real P-256 key on a loopback endpoint, `getSubscription` the current
 * one, `unsubscribe` ends it. What the app then sends the server is its own.
 */
function fakePushManager() {
  const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const fromB64url = (s) => Uint8Array.from(atob(s.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
  // Kept across reloads, as the browser keeps a real one.
  const KEY = "test-push-subscription";
  const subscription = ({ json, applicationServerKey }) => ({
    endpoint: json.endpoint,
    options: { applicationServerKey: fromB64url(applicationServerKey), userVisibleOnly: true },
    toJSON: () => json,
    unsubscribe: async () => (localStorage.removeItem(KEY), true),
  });
  PushManager.prototype.getSubscription = async () => {
    const stored = JSON.parse(localStorage.getItem(KEY));
    return stored && subscription(stored);
  };
  PushManager.prototype.subscribe = async (options) => {
    const applicationServerKey = b64url(options.applicationServerKey);
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, true, ["deriveBits"]);
    const json = {
      endpoint: `http://127.0.0.1:9/push/${crypto.randomUUID()}`,
      expirationTime: null,
      keys: { p256dh: b64url(await crypto.subtle.exportKey("raw", pair.publicKey)), auth: b64url(crypto.getRandomValues(new Uint8Array(16))) },
    };
    localStorage.setItem(KEY, JSON.stringify({ json, applicationServerKey }));
    return subscription({ json, applicationServerKey });
  };
}

test("with a subscription, 'Turn on notifications' sends it to the server and logout ends it there before the session", async () => {
  const ann = await person("sann");
  await ann.context.addInitScript(fakePushManager);
  await ann.page.reload();
  await ann.page.getByTestId("me").waitFor(WAIT);
  const calls = [];
  ann.page.on("response", (res) => res.url().includes("/api/") && calls.push(`${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`));

  await ann.page.getByTestId("notifications").click();
  await ann.page.getByTestId("push-state").filter({ hasText: "Also while the app is closed." }).waitFor(WAIT);
  assert.ok(calls.includes("GET /api/push/vapid-public-key 200"), calls.join("\n"));
  assert.ok(calls.includes("POST /api/push/subscriptions 201"), calls.join("\n"));
  const endpoint = await ann.page.evaluate(async () => (await (await navigator.serviceWorker.ready).pushManager.getSubscription()).endpoint);

  // A reload sends the same subscription again: the server replaces it (200), no second one.
  await ann.page.reload();
  await ann.page.getByTestId("push-state").filter({ hasText: "Also while the app is closed." }).waitFor(WAIT);
  assert.ok(calls.includes("POST /api/push/subscriptions 200"), calls.join("\n"));
  assert.equal(await ann.page.evaluate(async () => (await (await navigator.serviceWorker.ready).pushManager.getSubscription()).endpoint), endpoint);

  calls.length = 0;
  await ann.page.getByTestId("logout").click();
  await ann.page.getByTestId("login").waitFor(WAIT);
  await becomes(() => calls.some((c) => c.startsWith("POST /api/auth/logout")), true);
  const unsubscribed = calls.indexOf("DELETE /api/push/subscriptions 204");
  assert.ok(unsubscribed >= 0 && unsubscribed < calls.findIndex((c) => c.startsWith("POST /api/auth/logout")), calls.join("\n"));
  assert.equal(await ann.page.evaluate(async () => (await navigator.serviceWorker.ready).pushManager.getSubscription()), null);
  await ann.context.close();
});

test("mute in the chat's header and the previews setting beside the notifications button round-trip through the server", async () => {
  const bob = await apiUser("mbob");
  const ann = await person("mann");
  const token = await tokenOf(ann.page);
  const annId = (await api(ctx.server.url, token, "/api/me")).id;
  const group = await api(ctx.server.url, bob.token, "/api/chats", { type: "group", name: "Loud group", memberIds: [annId] });
  await openListed(ann.page, "Loud group");
  const mute = ann.page.getByTestId("mute");
  assert.equal(await mute.textContent(), "Mute");

  await mute.click();
  await mute.filter({ hasText: "Unmute" }).waitFor(WAIT);
  assert.equal((await api(ctx.server.url, token, `/api/chats/${group.id}`)).muted, true);
  // The list marks it (read out as "(muted)"); a reload reads it from the server.
  assert.equal(await ann.page.locator(`[data-chat-id="${group.id}"]`).getAttribute("data-muted"), "true");
  await ann.page.reload();
  await ann.page.getByTestId("chat-title").filter({ hasText: "Loud group" }).waitFor(WAIT);
  await mute.filter({ hasText: "Unmute" }).waitFor(WAIT);
  await mute.click();
  await mute.filter({ hasText: "Mute" }).waitFor(WAIT);
  assert.equal((await api(ctx.server.url, token, `/api/chats/${group.id}`)).muted, false);
  assert.equal(await ann.page.locator(`[data-chat-id="${group.id}"]`).getAttribute("data-muted"), null);

  // The previews setting shows once notifications are on, on by default.
  const previews = ann.page.getByTestId("push-previews");
  assert.equal(await previews.isVisible(), false);
  await ann.page.getByTestId("notifications").click();
  await previews.waitFor(WAIT);
  assert.equal(await previews.isChecked(), true);
  await previews.uncheck();
  await becomes(async () => (await api(ctx.server.url, token, "/api/push/settings")).previews, false);
  await ann.page.reload();
  await previews.waitFor(WAIT);
  await becomes(() => previews.isChecked(), false);
  await previews.check();
  await becomes(async () => (await api(ctx.server.url, token, "/api/push/settings")).previews, true);
  await ann.context.close();
});
