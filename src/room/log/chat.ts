/** The chat's own row in its room: its type (what administration may do) and its name, of record. */
import { sql } from "drizzle-orm";
import type { LogDatabase } from "./open";
import { logChat, type LogChatRow } from "./schema";

export type ChatKind = LogChatRow["type"];

export function readChat(db: LogDatabase): LogChatRow | undefined {
  return db.select().from(logChat).get();
}

/** The chat as D1 has it (a first load, or a reconcile): nothing to copy back. */
export function importChat(db: LogDatabase, chat: { id: number; type: ChatKind; name: string | null; createdAt: number }): void {
  db.insert(logChat)
    .values({ ...chat, version: 0, versionInD1: 0 })
    .onConflictDoUpdate({ target: logChat.id, set: { type: chat.type, name: chat.name, createdAt: chat.createdAt } })
    .run();
}

export function renameChat(db: LogDatabase, name: string, version: number): void {
  db.update(logChat).set({ name, version }).run();
}

/** The name, when D1 does not have it yet. */
export function nameToCopy(db: LogDatabase): { name: string | null; version: number } | null {
  const row = db.select().from(logChat).where(sql`${logChat.version} > ${logChat.versionInD1}`).get();
  return row ? { name: row.name, version: row.version } : null;
}

export function nameCopied(db: LogDatabase, version: number): void {
  db.update(logChat).set({ versionInD1: sql`max(${logChat.versionInD1}, ${version})` }).run();
}
