/**
 * A push waiting in the queue: what a room enqueues for one member and the consumer sends to each
 * of that member's subscriptions (or, once split off for a retry, to one of them). RFC 8030's
 * headers are decided here, once for every push.
 */
import { base64url } from "../auth/base64url";
import { purposeKey } from "../auth/purpose-keys";
import type { PushPayload } from "../protocol/push";

export interface PushJob {
  userId: number;
  /** The payload with its preview; the consumer drops the preview for a user who turned previews off. */
  payload: PushPayload;
  /** Only this subscription (a retry split off from a push that reached the user's other ones). */
  endpoint?: string;
}

/**
 * How long a push service keeps an undelivered push (RFC 8030 §5.2), counted from the message: a
 * notification a day late is still news, older is not. A retry sends what is left of it.
 */
export const PUSH_TTL_SECONDS = 24 * 60 * 60;

/** RFC 8030 §5.3: "normal" is the urgency of a chat message (its table's example). */
export const PUSH_URGENCY = "normal";

/**
 * RFC 8030 §5.4: a push service replaces an undelivered push of the same topic, so a device that was
 * offline wakes to one notification per chat. The push service reads the topic (it cannot read the
 * payload): it is an HMAC of the user and the chat under a key derived from the signing secret, so it
 * names no chat, and the members of one chat do not share it (a push service cannot tell who chats
 * with whom from topics). 22 characters of base64url (RFC 8030 allows 32).
 */
export async function topicOf(secret: Uint8Array, userId: number, chatId: number): Promise<string> {
  const mac = await crypto.subtle.sign("HMAC", await purposeKey(secret, "edge-chat push topic"), new TextEncoder().encode(`${userId}:${chatId}`));
  return base64url(new Uint8Array(mac).subarray(0, 16));
}

/** Seconds of the TTL left for a push of a message sent at `sentAt` (ISO), at `now`; 0 when it is spent. */
export function ttlLeft(sentAt: string, now: number): number {
  return Math.max(0, PUSH_TTL_SECONDS - Math.floor((now - Date.parse(sentAt)) / 1000));
}
