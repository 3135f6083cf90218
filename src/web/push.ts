/**
 * Web Push in this browser: the service worker, the browser's push subscription and the server's
 * copy of it. Each step is the browser's or the server's; what the user sees of it is Notifications'.
 */
import { fromBase64url } from "../auth/base64url";
import type { ApiClient } from "../client/api";
import { notificationTag } from "./attention";

const SW_URL = "/sw.js";

/** Whether this browser can receive pushes at all (service workers, the Push API, a secure origin). */
export const pushSupported = () => isSecureContext && "serviceWorker" in navigator && "PushManager" in window;

/**
 * Registers the service worker and subscribes this browser for the signed-in user: the existing
 * subscription when there is one for the server's current key (sent again: the server replaces it),
 * else a new one. Asks no permission: the caller has it already.
 */
export async function subscribe(api: ApiClient): Promise<void> {
  await navigator.serviceWorker.register(SW_URL);
  const registration = await navigator.serviceWorker.ready;
  const key = await api.vapidPublicKey();
  let subscription = await registration.pushManager.getSubscription();
  if (subscription && !sameKey(subscription.options.applicationServerKey, key)) {
    // The server's key changed: the push service would refuse its pushes to the old subscription.
    await subscription.unsubscribe();
    subscription = null;
  }
  // The key as bytes: every browser takes those (not all take the base64url string).
  subscription ??= await registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: fromBase64url(key) });
  await api.subscribePush(subscription);
}

/** Ends this browser's subscription, at the server (while the token still works) and at the push service. */
export async function unsubscribe(api: ApiClient): Promise<void> {
  const subscription = await (await navigator.serviceWorker?.getRegistration())?.pushManager.getSubscription();
  if (!subscription) return;
  await Promise.allSettled([api.unsubscribePush(subscription.endpoint), subscription.unsubscribe()]);
}

/** Closes the pushes' notification of a chat (the chat was opened here). */
export async function closePushed(chatId: number): Promise<void> {
  const notifications = (await (await navigator.serviceWorker?.getRegistration())?.getNotifications({ tag: notificationTag(chatId) })) ?? [];
  for (const n of notifications) n.close();
}

/** Whether a subscription's key is the server's (base64url) key. */
function sameKey(buffer: ArrayBuffer | null, key: string): boolean {
  if (!buffer) return false;
  const ours = new Uint8Array(buffer);
  const theirs = fromBase64url(key);
  return ours.length === theirs.length && ours.every((byte, i) => byte === theirs[i]);
}
