/**
 * What each member has read, and the chat as one member sees it: their marker is the stored one,
 * or the one not written yet where that is further on (unwritten-markers.ts).
 */
import type { Chat, User } from "../protocol/models";
import type { RoomBlocks } from "./blocks";
import { toIso } from "../protocol/stored";
import { readChat } from "./log/chat";
import type { RoomMembers } from "./log/members";
import type { MessageLog } from "./log/messages";
import type { LogDatabase } from "./log/open";
import type { UnwrittenMarkers } from "./unwritten-markers";

export interface ReadParts {
  store: LogDatabase;
  log: MessageLog;
  members: RoomMembers;
  markers: UnwrittenMarkers;
  blocks: RoomBlocks;
}

export class ReadState {
  constructor(private readonly room: ReadParts) {}

  /** A member's marker and unread count; null for someone who is not an active member. */
  of(userId: number): { lastReadMessageId: number | null; unreadCount: number } | null {
    const row = this.room.members.row(userId);
    if (!row?.active) return null;
    const lastRead = this.room.markers.markerOf(row);
    // Messages from a sender the member blocks are not counted (the blocker gets no unread count from them).
    return { lastReadMessageId: lastRead, unreadCount: this.room.log.unreadCount(userId, lastRead, this.room.blocks.blockedBy(userId)) };
  }

  /** The chat object as `user` (an active member) sees it, from the room's own state. */
  chatFor(user: User): Chat {
    const { store, members, log } = this.room;
    const chat = readChat(store)!;
    const active = members.active();
    const all = active.map((m) => ({ id: m.userId, username: m.username, role: m.role, lastReadMessageId: this.room.markers.markerOf(m) }));
    return {
      id: chat.id,
      type: chat.type,
      name: chat.name,
      createdAt: toIso(chat.createdAt),
      members: all,
      lastMessage: log.newest(),
      ...this.of(user.id)!,
      slowModeSeconds: chat.slowModeSeconds,
      retentionSeconds: chat.retentionSeconds,
      muted: active.find((m) => m.userId === user.id)?.muted ?? false,
    };
  }

}
