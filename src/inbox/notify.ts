/** Telling users' inboxes what changed. Never awaited by a sender: inboxes are a live hint. */
import { inboxOf } from "../objects/stubs";
import { encodeFrame, InboxEvent, type InboxPayloads } from "../protocol/events";
import type { Chat } from "../protocol/models";

export const inboxFrame = <K extends keyof InboxPayloads>(event: K, data: InboxPayloads[K]) => encodeFrame<InboxPayloads, K>(event, data);

/**
 * How long a flush waits for inboxes before it lets the room's next window go ahead. A hung inbox
 * must not freeze a chat's activity for every other member; its call keeps running on its own.
 */
export const INBOX_DELIVERY_TIMEOUT_MS = 2000;

/** Calls started at a time, with a pause of PAUSE_MS between groups. */
const CALLS_PER_TURN = 10;
const PAUSE_MS = 1;

/**
 * Starts one call per item, CALLS_PER_TURN at a time with a short pause between groups, so a flush
 * to a large group never holds the room's thread long enough to delay an acknowledgement
 * noticeably. The pause (not just a yield) matters where the inboxes run on the room's own thread,
 * as everything does in local workerd: calls for a whole large group started within a few turns
 * queue their delivery work ahead of the next message's acknowledgement, while paced they spread
 * over a small part of the flush window (`npm run bench:inbox` measures it; docs/PERFORMANCE.md).
 */
async function callInChunks<T>(items: T[], call: (item: T) => Promise<void>): Promise<Promise<void>[]> {
  const calls: Promise<void>[] = [];
  for (let i = 0; i < items.length; i++) {
    if (i > 0 && i % CALLS_PER_TURN === 0) await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
    calls.push(call(items[i]!));
  }
  return calls;
}

/** One call per user; a failing or hung inbox is logged and skipped, never passed on to the caller. */
export async function tellInboxes(env: Env, framesByUser: Map<number, string[]>): Promise<void> {
  const settled = Promise.allSettled(await callInChunks([...framesByUser], ([userId, frames]) => inboxOf(env, userId).relay(frames)));
  let giveUp = () => {};
  const timedOut = new Promise<"timeout">((resolve) => (giveUp = () => resolve("timeout")));
  const timer = setTimeout(giveUp, INBOX_DELIVERY_TIMEOUT_MS);
  const results = await Promise.race([settled, timedOut]);
  clearTimeout(timer);
  if (results === "timeout") {
    console.error(`inbox delivery to ${framesByUser.size} users still pending after ${INBOX_DELIVERY_TIMEOUT_MS} ms; moving on`);
    return;
  }
  const failed = results.filter((r) => r.status === "rejected").length;
  if (failed > 0) console.error(`inbox delivery failed for ${failed} of ${results.length} users`);
}

/** A chat appeared in users' lists; `chat` is as the first of them sees it, and fresh for the others. */
export async function announceChatAdded(env: Env, chat: Chat, userIds: number[]): Promise<void> {
  const fresh: Chat = { ...chat, lastReadMessageId: null, unreadCount: chat.lastMessage ? chat.unreadCount : 0, muted: false };
  await tellInboxes(env, new Map(userIds.map((id) => [id, [inboxFrame(InboxEvent.ChatAdded, { chat: id === userIds[0] ? chat : fresh })]])));
}

export async function announceChatRemoved(env: Env, chatId: number, userId: number): Promise<void> {
  await tellInboxes(env, new Map([[userId, [inboxFrame(InboxEvent.ChatRemoved, { chatId })]]]));
}

/**
 * Records in users' inboxes that a chat's room decided they joined or left (their chat lists,
 * inbox/chat-list.ts). Awaited by the caller's own request, so their next `GET /api/chats` has it;
 * a failed call is logged, not passed on: the room's decision stands, and the list heals (a room
 * that says "not a member" takes the chat off; an add is found in D1 within RESYNC_MS).
 */
export async function tellMembership(env: Env, userIds: number[], chatId: number, member: boolean, version: number): Promise<void> {
  const results = await Promise.allSettled(await callInChunks(userIds, (id) => inboxOf(env, id).membership(chatId, member, version)));
  const failed = results.filter((r) => r.status === "rejected").length;
  if (failed > 0) console.error(`recording a membership failed for ${failed} of ${userIds.length} inboxes`);
}
