/**
 * What a push shows: the payload's check and the notification made from it. No DOM and no zod: the
 * service worker bundles this (zod would make it a hundred times larger; see DECISIONS.md), so the
 * check is written out here against the contract's type, and a test holds it to the zod schema.
 */
import type { PushPayload } from "../protocol/push";
import { APP_TITLE, notificationTag } from "./attention";

/** The one kind of push there is (typed against the contract: a change there fails the build here). */
const MESSAGE = "message" satisfies PushPayload["type"];

const isId = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) > 0;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Whether a decrypted push is a `PushPayload` (what the service worker reads of it; extra fields are allowed). */
export function isPushPayload(v: unknown): v is PushPayload {
  if (!isRecord(v) || !isRecord(v["sender"])) return false;
  const { type, chatId, chatName, isGroup, sender, count, messageId, sentAt, preview } = v;
  return (
    type === MESSAGE &&
    isId(chatId) &&
    (chatName === null || typeof chatName === "string") &&
    typeof isGroup === "boolean" &&
    isId(sender["id"]) &&
    typeof sender["username"] === "string" &&
    isId(count) &&
    isId(messageId) &&
    typeof sentAt === "string" &&
    (preview === undefined || typeof preview === "string")
  );
}

/**
 * A notification's text for `count` new messages of a chat, the newest by `sender`: its text when
 * there is a preview (a group's names who wrote), else who wrote; several say how many.
 */
export function notificationBody({ isGroup, sender, count, preview }: { isGroup: boolean; sender: string; count: number; preview?: string | undefined }): string {
  if (count > 1) return `${count} new messages`;
  if (!preview) return isGroup ? `New message from ${sender}` : "New message";
  return isGroup ? `${sender}: ${preview}` : preview;
}

/** What the notification carries for the click (the chat to open). */
export interface NotificationData {
  chatId: number;
}

export interface NotificationSpec {
  title: string;
  options: { body: string; tag: string; renotify: boolean; timestamp?: number; data: NotificationData | null };
}

/**
 * The notification for a push: titled with the chat (a direct chat's with the other member, who
 * sent it), one per chat (the in-tab notifications' tag, so either replaces the other), and alerting
 * again when replaced.
 */
export function pushNotification(p: PushPayload): NotificationSpec {
  const sentAt = Date.parse(p.sentAt);
  return {
    title: p.chatName ?? (p.isGroup ? "Group" : p.sender.username),
    options: {
      body: notificationBody({ isGroup: p.isGroup, sender: p.sender.username, count: p.count, preview: p.preview }),
      tag: notificationTag(p.chatId),
      renotify: true,
      ...(Number.isFinite(sentAt) ? { timestamp: sentAt } : {}),
      data: { chatId: p.chatId },
    },
  };
}

/**
 * A push the worker cannot read (a newer server's, or damaged) still shows something: browsers
 * require a notification for every push, and say something vaguer themselves otherwise.
 */
export const UNREADABLE_PUSH: NotificationSpec = { title: APP_TITLE, options: { body: "New messages", tag: "edge-chat", renotify: false, data: null } };

/** The chat a notification's data names, or null. */
export const notifiedChatId = (data: unknown): number | null => (isRecord(data) && isId(data["chatId"]) ? data["chatId"] : null);
