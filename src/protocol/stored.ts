/**
 * A message as both of its stores keep it (the room's log of record and D1's copy) and as the copy
 * carries it from one to the other, and the one way a stored message becomes the wire's `Message`.
 * Here, not beside either store, so neither imports the other.
 */
import { attachmentPath, type Attachment, type Message, type Reaction, type ReplyPreview } from "./models";
import { excerptOf } from "./replies";

/** An attachment as a message carries it; the URL is made when read. */
export interface StoredAttachment {
  id: string;
  name: string;
  size: number;
  contentType: string;
}

/** A message's reactions as stored: who used each emoji, in order. */
export interface StoredReaction {
  emoji: string;
  userIds: number[];
}

/** What both stores keep of a message, as far as the wire shows it. */
export interface StoredMessage {
  id: number;
  senderId: number;
  content: string;
  createdAt: number;
  editedAt: number | null;
  deletedAt: number | null;
  reactions: StoredReaction[] | null;
  attachments: StoredAttachment[] | null;
}

/** A message as the room's copy carries it to D1: short keys keep the JSON small. */
export interface CopiedMessage {
  /** id */ i: number;
  /** sender id */ s: number;
  /** content */ c: string;
  /** clientId */ k: string | null;
  /** created at, ms */ t: number;
  // The lifecycle, present only when set (most messages never change).
  /** reply to id */ r?: number;
  /** edited at, ms */ e?: number;
  /** deleted at, ms */ d?: number;
  /** reactions */ x?: StoredReaction[];
  /** change id */ v?: number;
  /** attachments (a deleted message has none: its copy carries the change that took them) */ a?: StoredAttachment[];
}

/** A log row as the copy carries it to D1: lifecycle fields only when set. */
export function toCopied(r: StoredMessage & { clientId: string | null; replyToId: number | null; changeId: number | null }): CopiedMessage {
  return {
    i: r.id,
    s: r.senderId,
    c: r.content,
    k: r.clientId,
    t: r.createdAt,
    ...(r.replyToId !== null ? { r: r.replyToId } : {}),
    ...(r.editedAt !== null ? { e: r.editedAt } : {}),
    ...(r.deletedAt !== null ? { d: r.deletedAt } : {}),
    ...(r.reactions !== null ? { x: r.reactions } : {}),
    ...(r.changeId !== null ? { v: r.changeId } : {}),
    ...(r.attachments !== null ? { a: r.attachments } : {}),
  };
}

/** Stored times (ms) as the wire writes them. */
export const toIso = (ms: number) => new Date(ms).toISOString();

/** Stored reactions as the wire shows them. */
export const toReactions = (stored: StoredReaction[] | null): Reaction[] =>
  (stored ?? []).map(({ emoji, userIds }) => ({ emoji, count: userIds.length, userIds }));

/** Stored attachments as the wire shows them. */
export const toAttachments = (stored: StoredAttachment[] | null): Attachment[] => (stored ?? []).map((a) => ({ ...a, url: attachmentPath(a.id) }));

/** What a reply shows of its original, from the original as stored. */
export function replyPreview(original: Pick<StoredMessage, "id" | "senderId" | "content" | "deletedAt">, username: string): ReplyPreview {
  return {
    id: original.id,
    sender: { id: original.senderId, username },
    excerpt: original.deletedAt === null ? excerptOf(original.content) : "",
  };
}

/** A stored message as the wire shows it, from either store. */
export function toMessage(row: StoredMessage, chatId: number, username: string, replyTo: ReplyPreview | null = null): Message {
  return {
    id: row.id,
    chatId,
    sender: { id: row.senderId, username },
    content: row.content,
    timestamp: toIso(row.createdAt),
    editedAt: row.editedAt === null ? null : toIso(row.editedAt),
    deleted: row.deletedAt !== null,
    reactions: toReactions(row.reactions),
    replyTo,
    attachments: toAttachments(row.attachments),
  };
}
