/**
 * The one-time import, when a room first loads, of the messages its chat had in D1 from before rooms
 * kept logs: with their ids, so ids keep increasing after them.
 */
import type { Database } from "../db/client";
import { messagesForImport } from "../db/room-copy";
import type { MessageLog } from "./log/messages";

/** Messages per D1 read. */
const IMPORT_PAGE = 1000;

/** Imports the chat's D1 messages after the log's newest (an import cut short resumes from there). */
export async function importLegacyMessages(db: Database, chatId: number, log: MessageLog): Promise<void> {
  for (let after = log.newestId(); ; ) {
    const rows = await messagesForImport(db, chatId, after, IMPORT_PAGE);
    log.importRows(rows);
    if (rows.length < IMPORT_PAGE) break;
    after = rows.at(-1)!.id;
  }
}
