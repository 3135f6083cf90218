/**
 * What tells the user that something arrived while they look elsewhere: the page title, and
 * whether a message deserves a browser notification. Pure; main.ts applies them.
 */
export const APP_TITLE = "Edge chat";

/** The unread total in the title while the tab is hidden ("(3) Edge chat"), else the plain title. */
export function titleFor(unreadCounts: Iterable<number>, hidden: boolean): string {
  let total = 0;
  for (const count of unreadCounts) total += Math.max(0, count);
  return hidden && total > 0 ? `(${total > 999 ? "999+" : total}) ${APP_TITLE}` : APP_TITLE;
}

export interface Arrival {
  chatId: number;
  messageId: number;
  senderId: number;
  deleted: boolean;
}

/**
 * A notification is due for a new message from someone else, in a chat that is not open or while the
 * tab is hidden, once per message (the inbox may repeat a chat's latest state), only if the user
 * opted in and the browser allowed it, and never for a chat the user muted (as its pushes).
 */
export function shouldNotify(
  arrival: Arrival,
  context: { me: number; openChatId: number | null; hidden: boolean; enabled: boolean; muted: boolean; lastNotified: number | undefined },
): boolean {
  if (!context.enabled || context.muted || arrival.deleted || arrival.senderId === context.me) return false;
  if (context.lastNotified !== undefined && arrival.messageId <= context.lastNotified) return false;
  return context.hidden || arrival.chatId !== context.openChatId;
}

/** One notification per chat: the same tag replaces the previous one instead of stacking. */
export const notificationTag = (chatId: number) => `edge-chat-${chatId}`;
