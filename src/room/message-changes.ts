/**
 * Edits, deletes and reaction changes, from a socket or over HTTP: who may, and what a deleted
 * message still allows. Applied in the turn they arrive (the write commits with it) and announced to
 * every socket of the chat, the author's included, in the same turn. A change that changes nothing
 * (a second delete, a reaction already there) succeeds and announces nothing. D1 gets each change
 * with the next copy.
 */
import { ErrorCode } from "../protocol/errors";
import { ClientEvent, serverFrame as frame, ServerEvent } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { Message, User } from "../protocol/models";
import type { ParsedClientFrame } from "../protocol/schemas";
import { toIso, toReactions } from "../protocol/stored";
import { refuse, type Answer } from "../objects/answers";
import type { D1Copy } from "./d1-copy";
import type { FilePurge } from "./file-purge";
import type { RoomMembers } from "./log/members";
import { applyReaction, type MessageLog } from "./log/messages";
import type { LogMessageRow } from "./log/schema";
import type { Uploads } from "./log/uploads";

export type MessageChange =
  | { kind: "edit"; messageId: number; content: string }
  | { kind: "delete"; messageId: number }
  | { kind: "react"; messageId: number; emoji: string; add: boolean };

type ChangeFrame = Extract<ParsedClientFrame, { event: (typeof ClientEvent)["EditMessage" | "DeleteMessage" | "AddReaction" | "RemoveReaction"] }>;

/** The change a socket's frame asks for. */
export function changeOf(frame: ChangeFrame): MessageChange {
  const { messageId } = frame.data;
  if (frame.event === ClientEvent.EditMessage) return { kind: "edit", messageId, content: frame.data.content };
  if (frame.event === ClientEvent.DeleteMessage) return { kind: "delete", messageId };
  return { kind: "react", messageId, emoji: frame.data.emoji, add: frame.event === ClientEvent.AddReaction };
}

/** What a change reads and tells in the room. */
export interface ChangeContext {
  chatId: number;
  log: MessageLog;
  members: RoomMembers;
  uploads: Uploads;
  filePurge: FilePurge;
  d1Copy: D1Copy;
  /** To every socket of the chat. */
  broadcast(frame: string): void;
}

export class MessageChanges {
  constructor(private readonly room: ChangeContext) {}

  apply(user: User, change: MessageChange): Answer<{ message: Message }> {
    const { log, members, uploads, filePurge, broadcast } = this.room;
    const row = log.get(change.messageId);
    if (!row) return refuse(ErrorCode.NotFound, "no such message in this chat");
    const now = Date.now();
    const base = { chatId: this.room.chatId, messageId: row.id };
    if (change.kind === "delete") {
      if (row.senderId !== user.id && members.row(user.id)?.role !== "admin") {
        return refuse(ErrorCode.Forbidden, "only the sender or a group admin may delete a message");
      }
      if (row.deletedAt !== null) return { ok: true, message: log.toMessage(row) };
      const { row: deleted, changeId } = log.remove(row.id, now);
      // Its files stop being served now; the alarm deletes them from R2 (and retries until it can).
      if (uploads.markRemoving(row.id) > 0) filePurge.dueAt(now);
      broadcast(frame(ServerEvent.MessageDeleted, { ...base, deletedAt: toIso(now), changeId }));
      return this.changed(deleted);
    }
    if (row.deletedAt !== null) return refuse(ErrorCode.Gone, "the message was deleted");
    if (change.kind === "edit") {
      if (row.senderId !== user.id) return refuse(ErrorCode.Forbidden, "only the sender may edit a message");
      if (row.content === change.content) return { ok: true, message: log.toMessage(row) };
      const { row: edited, changeId } = log.edit(row.id, change.content, now);
      broadcast(frame(ServerEvent.MessageEdited, { ...base, content: change.content, editedAt: toIso(now), changeId }));
      return this.changed(edited);
    }
    const reactions = applyReaction(row.reactions, change.emoji, user.id, change.add);
    if (reactions === "full") return refuse(ErrorCode.BadRequest, `a message takes at most ${limits.reactionsMax} different reactions`);
    if (reactions === null) return { ok: true, message: log.toMessage(row) };
    const { row: reacted, changeId } = log.setReactions(row.id, reactions);
    broadcast(frame(ServerEvent.ReactionsUpdated, { ...base, reactions: toReactions(reacted.reactions), changeId }));
    return this.changed(reacted);
  }

  private changed(row: LogMessageRow): Answer<{ message: Message }> {
    this.room.d1Copy.request();
    return { ok: true, message: this.room.log.toMessage(row) };
  }
}
