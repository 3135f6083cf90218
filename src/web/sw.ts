/**
 * The service worker (built to /sw.js, a bundle of its own): shows a push as a notification, one per
 * chat, and a click on one opens that chat in a tab of the app. It caches nothing and handles no
 * fetch: the app works as before without it.
 */
import { chatLink, openChatMessage, pickTab, APP_PATH } from "./chat-link";
import { isPushPayload, notifiedChatId, pushNotification, UNREADABLE_PUSH } from "./push-payload";

declare const self: ServiceWorkerGlobalScope;

// Nothing is cached, so a new version has nothing to hand over: it takes over at once.
self.addEventListener("install", () => void self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("push", (event) => event.waitUntil(show(event.data)));

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(openChat(notifiedChatId(event.notification.data)));
});

async function show(data: PushMessageData | null): Promise<void> {
  let payload: unknown = null;
  try {
    payload = data?.json();
  } catch {
    // Not JSON: shown as an unreadable push.
  }
  const { title, options } = isPushPayload(payload) ? pushNotification(payload) : UNREADABLE_PUSH;
  await self.registration.showNotification(title, options);
}

/** An open tab of the app is told to open the chat and focused; without one, a new tab opens at the chat. */
async function openChat(chatId: number | null): Promise<void> {
  const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const tab = pickTab(tabs, chatId);
  if (!tab) {
    await self.clients.openWindow(chatId === null ? APP_PATH : chatLink(chatId));
    return;
  }
  // Told first: focusing may be refused (the click's permission to focus is short-lived), the chat still opens.
  if (chatId !== null) tab.postMessage(openChatMessage(chatId));
  await tab.focus();
}
