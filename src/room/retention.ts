/**
 * A chat's retention: messages older than its `retentionSeconds` are deleted everywhere, by the
 * room's alarm (no cron: a chat without the setting, or without old messages, never wakes for it).
 * The room deletes them from its log with their reports, marks their files for deletion from R2
 * (FilePurge, same alarm), tells open sockets `messages_expired { chatId, throughId }`, and asks its
 * copy to D1 to delete them there too, search index included (D1Copy, src/db/room-copy.ts).
 *
 * When: the alarm is due at the oldest message's expiry plus a slack (at most 20 s, a third of the
 * period when shorter), so a busy chat deletes in rounds rather than once per message; with the
 * copy's delay (≤ 30 s) everything is gone within a minute of expiring.
 */
import { serverFrame, ServerEvent } from "../protocol/events";
import type { D1Copy } from "./d1-copy";
import type { FilePurge } from "./file-purge";
import { readChat } from "./log/chat";
import type { MessageLog } from "./log/messages";
import type { LogDatabase } from "./log/open";
import type { ReportLog } from "./log/reports";
import type { Uploads } from "./log/uploads";

/** Messages deleted per alarm turn at most (one storage transaction); more are deleted in the next, at once. */
export const EXPIRE_BATCH = 2000;
const SLACK_MAX_MS = 20_000;

/** When a message stored at `createdAt` is deleted, at the latest, under a period of `periodSeconds`. */
export function expiryRound(createdAt: number, periodSeconds: number): number {
  const periodMs = periodSeconds * 1000;
  return createdAt + periodMs + Math.min(SLACK_MAX_MS, Math.floor(periodMs / 3));
}

export interface RetentionParts {
  chatId: number;
  store: LogDatabase;
  log: MessageLog;
  uploads: Uploads;
  reports: ReportLog;
  filePurge: FilePurge;
  d1Copy: D1Copy;
  broadcast(frame: string): void;
  /** Runs `fn` in one storage transaction (the object's `transactionSync`). */
  transaction(fn: () => void): void;
  /** `at` moved earlier: the room's alarm must fire by then. */
  scheduleAlarm(): void;
}

export class Retention {
  /** When the alarm next deletes messages; null: nothing to delete (no setting, or no message). */
  at: number | null = null;
  private period: number | null;

  /** Must run inside `blockConcurrencyWhile`, once the log is open. */
  constructor(private readonly room: RetentionParts) {
    this.period = readChat(room.store)?.retentionSeconds ?? null;
    this.at = this.next();
  }

  /** The chat's setting changed (or was loaded): the next round follows it. */
  settingChanged(): void {
    this.period = readChat(this.room.store)?.retentionSeconds ?? null;
    this.at = this.next();
    this.room.scheduleAlarm();
  }

  /** A message was stored: the first one of an empty log sets the next round. */
  stored(createdAt: number): void {
    if (this.at !== null || this.period === null) return;
    this.at = expiryRound(createdAt, this.period);
    this.room.scheduleAlarm();
  }

  /** The alarm's part: deletes what expired, if a round is due. */
  onAlarm(now = Date.now()): void {
    if (this.at === null || this.at > now || this.period === null) return;
    const { log, uploads, reports, filePurge, d1Copy, chatId } = this.room;
    const expiring = log.expiringThrough(now - this.period * 1000, EXPIRE_BATCH);
    if (expiring) {
      const { throughId } = expiring;
      let files = 0;
      // One transaction: the messages, their reports and their files' rows go together or not at all.
      this.room.transaction(() => {
        files = uploads.markRemovingThrough(throughId);
        reports.expireThrough(throughId);
        log.expireThrough(throughId);
      });
      if (files > 0) filePurge.dueAt(now);
      this.room.broadcast(serverFrame(ServerEvent.MessagesExpired, { chatId, throughId }));
      d1Copy.request();
    }
    this.at = expiring?.more ? now : this.next();
  }

  private next(): number | null {
    if (this.period === null) return null;
    const oldest = this.room.log.oldestAt();
    return oldest === null ? null : expiryRound(oldest, this.period);
  }
}
