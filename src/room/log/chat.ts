/** The chat's own row in its room: its type (what administration may do), its name and its settings, of record. */
import { sql } from "drizzle-orm";
import type { LogDatabase } from "./open";
import { logChat, type LogChatRow } from "./schema";

export type ChatKind = LogChatRow["type"];

/** What a group's admins set: its name, slow mode and retention (`PATCH /api/chats/:chatId`). */
export interface ChatSettings {
  name: string | null;
  slowModeSeconds: number;
  retentionSeconds: number | null;
}

export function readChat(db: LogDatabase): LogChatRow | undefined {
  return db.select().from(logChat).get();
}

/** The chat as D1 has it (a first load, or a reconcile): nothing to copy back. */
export function importChat(db: LogDatabase, chat: { id: number; type: ChatKind; name: string | null; createdAt: number } & Partial<Omit<ChatSettings, "name">>): void {
  db.insert(logChat)
    .values({ ...chat, version: 0, versionInD1: 0 })
    .onConflictDoUpdate({ target: logChat.id, set: { type: chat.type, name: chat.name, createdAt: chat.createdAt } })
    .run();
}

/** A change of the name or settings, under the next membership version (D1's copy follows it). */
export function updateChat(db: LogDatabase, settings: Partial<ChatSettings>, version: number): void {
  db.update(logChat).set({ ...settings, version }).run();
}

/** The name and settings, when D1 does not have them yet. */
export function chatToCopy(db: LogDatabase): (ChatSettings & { version: number }) | null {
  const row = db.select().from(logChat).where(sql`${logChat.version} > ${logChat.versionInD1}`).get();
  return row ? { name: row.name, slowModeSeconds: row.slowModeSeconds, retentionSeconds: row.retentionSeconds, version: row.version } : null;
}

export function chatCopied(db: LogDatabase, version: number): void {
  db.update(logChat).set({ versionInD1: sql`max(${logChat.versionInD1}, ${version})` }).run();
}
