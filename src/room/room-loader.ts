/**
 * A room's start from D1, once in its life: the chat, its members, and any messages the chat had
 * before rooms kept logs (imported with their ids, so ids keep increasing). From then on the room is
 * the one authority for its chat and D1 follows it. "no_chat" is not remembered: a chat with that id
 * may be created later (the Worker asks D1 before it reaches a room, see http/known-chats.ts, so a
 * room hears of a chat that does not exist only while D1 could not say).
 */
import type { Database } from "../db/client";
import { loadRoomStart, type RoomStart } from "../db/room-copy";
import type { RoomBlocks } from "./blocks";
import type { D1Copy } from "./d1-copy";
import { importLegacyMessages } from "./legacy-import";
import { importChat } from "./log/chat";
import type { RoomMembers } from "./log/members";
import type { MessageLog } from "./log/messages";
import { MetaKey, nextMembershipVersion, readMeta, writeMeta, type LogDatabase } from "./log/open";

export interface LoaderParts {
  chatId: number;
  store: LogDatabase;
  log: MessageLog;
  members: RoomMembers;
  d1Copy: D1Copy;
  blocks: RoomBlocks;
  /** The chat's settings were loaded: what depends on them (retention's alarm) follows. */
  settingsLoaded(): void;
  /** D1 as the room reaches it now (behind its deadline). */
  db(): Database;
}

export class RoomLoader {
  /** The load under way, if any: every caller waits for the same one. */
  private loading: Promise<"ok" | "no_chat"> | null = null;
  private loaded = false;

  constructor(private readonly room: LoaderParts) {}

  ready(): Promise<"ok" | "no_chat"> {
    this.loaded ||= readMeta(this.room.store, MetaKey.Authority) === 1;
    if (this.loaded) return Promise.resolve("ok");
    this.loading ??= this.load().finally(() => (this.loading = null));
    return this.loading;
  }

  private async load(): Promise<"ok" | "no_chat"> {
    const { chatId, store, log, members, d1Copy, blocks } = this.room;
    const start = await loadRoomStart(this.room.db(), chatId);
    if (!start) return "no_chat";
    blocks.replaceAll(start.blocks);
    if (readMeta(store, MetaKey.Loaded) === 1) {
      this.reconcile(start);
    } else {
      await importLegacyMessages(this.room.db(), chatId, log);
      importChat(store, start.chat);
      for (const { lastRead, joinedAt, ...member } of start.members) members.importFromD1(member, lastRead, joinedAt);
      // Everything imported came from D1; a marker D1 has is D1's.
      d1Copy.hasThrough(log.newestId());
      writeMeta(store, MetaKey.Loaded, 1);
    }
    writeMeta(store, MetaKey.Authority, 1);
    this.room.settingsLoaded();
    return "ok";
  }

  /**
   * Once, for a room loaded before it was the one authority (when the Worker wrote D1 first for
   * adds and role changes): the chat's row, the members' join times, and a member only D1 knew (an
   * add whose call to the room failed) come from D1. Where the room knows better (a removal D1
   * missed, a role), its state is marked for the next copy, so D1 ends as the room is.
   */
  private reconcile(start: RoomStart) {
    const { store, members, d1Copy } = this.room;
    importChat(store, start.chat);
    const inD1 = new Map(start.members.map((m) => [m.id, m]));
    for (const row of members.all()) {
      const there = inD1.get(row.userId);
      if (row.active && there) members.importFromD1({ id: row.userId, username: row.username, role: row.role }, there.lastRead, there.joinedAt);
      if (row.active !== (there !== undefined) || (there && there.role !== row.role)) members.touch(row.userId, nextMembershipVersion(store));
      inD1.delete(row.userId);
    }
    for (const { lastRead, joinedAt, ...member } of inD1.values()) members.importFromD1(member, lastRead, joinedAt);
    if (members.toCopy().length > 0) d1Copy.request();
  }
}
