/**
 * The room's write-behind copy to D1: what D1 does not have yet (the outbox: messages after
 * `d1_through`, changes after `d1_changes_through`, read markers that moved), when the alarm looks
 * at it (copy-schedule.ts decides), and the copy itself with its retries. The log stays the record;
 * D1 gets each batch in one transaction (src/db/room-copy.ts), and a copy is idempotent, so a
 * failed or repeated one loses and doubles nothing.
 */
import { readListeners, roomCopier, type CopiedMember } from "../db/room-copy";
import { toCopied } from "../protocol/stored";
import type { ActivityAnnouncer } from "./activity";
import { COPY_BATCH, COPY_QUIET_MS, copyCheck, nextRetry, type Outbox } from "./copy-schedule";
import type { RoomMembers } from "./log/members";
import type { MessageLog } from "./log/messages";
import { chatCopied, chatToCopy } from "./log/chat";
import { MetaKey, readMeta, writeMeta, type LogDatabase } from "./log/open";
import type { LogMemberRow } from "./log/schema";
import type { UnwrittenMarkers } from "./unwritten-markers";

/** A member's row as the copy carries it to D1. */
const toCopiedMember = (r: LogMemberRow): CopiedMember => ({ userId: r.userId, role: r.role, active: r.active, joinedAt: r.joinedAt, lastRead: r.lastRead });

/** What the copy reads and tells in the room. */
export interface CopySource {
  chatId: number;
  store: LogDatabase;
  log: MessageLog;
  members: RoomMembers;
  markers: UnwrittenMarkers;
  activity: ActivityAnnouncer;
  /** D1 as the room reaches it now (behind its deadline). */
  d1(): D1Database;
  waitUntil(promise: Promise<unknown>): void;
  /** A copy that started at `asOf` read which members have push subscriptions (after the activity learnt the open inboxes). */
  pushable(userIds: Set<number>, asOf: number): void;
  /** The copy's next look (`at`) moved earlier: the room's alarm must fire by then. */
  scheduleAlarm(): void;
}

export class D1Copy {
  /** When the alarm next looks at the outbox (a copy, or a check whether one is due); null when D1 has everything. */
  at: number | null = null;
  /** What is not in D1 yet (see copy-schedule.ts); null when nothing is. */
  private outbox: Outbox | null = null;
  private failures = 0;
  /** The copy under way, if any: a second caller waits for it instead of starting another. */
  private copying: Promise<void> | null = null;
  private copier: { d1: D1Database; copy: ReturnType<typeof roomCopier> } | null = null;
  /** Whether this wake's read of who listens was made (`learn`), and whether it failed. */
  private learning: "no" | "asked" | "failed" = "no";
  /** Copies that told the room who listens: a read of it that began before one is stale. */
  private copiesTold = 0;

  /** Must run inside `blockConcurrencyWhile`, once the log is open. */
  constructor(private readonly room: CopySource) {
    // Senders' own markers are written with the copy at the latest; the outbox holds every message
    // whose marker may not have been written yet, so they are rebuilt from it.
    for (const [userId, id] of room.log.newestBySenderAfter(this.through())) room.markers.sent(userId, id);
    // An outbox left by an eviction or a crash resumes on its own, at once: its changes are old.
    if (this.pending()) {
      const now = Date.now();
      this.outbox = { since: now - COPY_QUIET_MS, lastChange: now - COPY_QUIET_MS, messages: 0 };
      this.at = now;
    }
  }

  /** The newest message id D1 has. */
  private through(): number {
    return readMeta(this.room.store, MetaKey.D1Through) ?? 0;
  }

  /** D1 has every message up to `id` (they came from it). */
  hasThrough(id: number): void {
    writeMeta(this.room.store, MetaKey.D1Through, id);
  }

  /** Whether anything is not in D1 yet. */
  pending(): boolean {
    const { log, members, store, markers } = this.room;
    return (
      markers.size > 0 ||
      log.newestId() > this.through() ||
      log.lastChangeId() > (readMeta(store, MetaKey.D1ChangesThrough) ?? 0) ||
      members.markersToCopy().markers.length > 0 ||
      members.toCopy().length > 0 ||
      chatToCopy(store) !== null ||
      this.expiryToCopy() !== undefined
    );
  }

  /** Messages retention deleted here that D1 still has (or may have). */
  private expiryToCopy(): { after: number; through: number } | undefined {
    const through = readMeta(this.room.store, MetaKey.ExpiredThrough) ?? 0;
    const after = readMeta(this.room.store, MetaKey.D1ExpiredThrough) ?? 0;
    return through > after ? { after, through } : undefined;
  }

  /**
   * A copy will carry what was just written. The first change after a copy sets the alarm (one
   * alarm write per copy, not per message); later ones only move the outbox's last change, which
   * the alarm reads when it fires. A full batch is copied at once (unless copies are failing and
   * backing off).
   */
  request(message = false) {
    const now = Date.now();
    const outbox = (this.outbox ??= { since: now, lastChange: now, messages: 0 });
    outbox.lastChange = now;
    if (message) outbox.messages++;
    if (this.at === null) this.at = now + COPY_QUIET_MS;
    else if (outbox.messages >= COPY_BATCH && this.failures === 0) this.at = now;
    else return;
    this.room.scheduleAlarm();
  }

  /**
   * Who has an inbox open and who has a push subscription, read on its own once after a wake, when
   * the room first has something to tell them: its first messages and reads then reach only the
   * inboxes that listen, and no copy runs early just to learn it (a copy writes; this only reads).
   * If the read fails, the first copy does not wait for the chat to pause (copy-schedule.ts).
   */
  learn(): void {
    if (this.learning !== "no" || this.room.activity.knowsInboxes) return;
    this.learning = "asked";
    const [startedAt, copiesTold] = [Date.now(), this.copiesTold];
    const learnt = readListeners(this.room.d1(), this.room.chatId).then(
      ({ open, pushable }) => {
        if (this.copiesTold !== copiesTold) return;
        this.room.waitUntil(this.room.activity.inboxesOpen(open));
        this.room.pushable(pushable, startedAt);
      },
      (err) => {
        this.learning = "failed";
        console.error("reading who listens failed; the next copy tells", err instanceof Error ? err.message : String(err));
      },
    );
    this.room.waitUntil(learnt);
  }

  /** The alarm's part: a copy if one is due now, else the time of the next look. */
  async onAlarm(): Promise<void> {
    if (this.at === null || this.at > Date.now()) return;
    // A retry is always due; otherwise a copy waits for the chat to pause (copy-schedule.ts).
    const check =
      this.failures > 0 || this.outbox === null
        ? ({ due: true } as const)
        : copyCheck({ ...this.outbox, learnInboxes: !this.room.activity.knowsInboxes && this.learning !== "asked" }, Date.now());
    if (check.due) await this.run();
    else this.at = check.checkAt;
  }

  /**
   * Copies the oldest part of the outbox and the markers that moved, in one D1 batch. On success the
   * copied range is recorded and whatever is left is due again; on failure nothing is recorded, and
   * the same rows are tried again after a backoff (the copy is idempotent).
   */
  run(): Promise<void> {
    this.copying ??= this.copyOnce().finally(() => (this.copying = null));
    return this.copying;
  }

  /**
   * A copy that starts after what was just written: waits out one already under way (it read its
   * rows before that write). Never throws; a failed copy is retried by the alarm.
   */
  async runNow(): Promise<void> {
    while (this.copying) await this.copying;
    await this.run();
    this.room.scheduleAlarm();
  }

  private async copyOnce(): Promise<void> {
    const { log, members, store } = this.room;
    // D1 gets markers from storage: the ones still in memory go there first.
    this.room.markers.write();
    const startedAt = Date.now();
    // Messages stored from here on are the next copy's.
    const carried = this.outbox?.messages ?? 0;
    if (this.outbox) Object.assign(this.outbox, { messages: 0, backlog: false });
    try {
      const through = this.through();
      const rows = log.rowsAfter(through, COPY_BATCH);
      // Messages D1 already has that changed since its last copy; new rows go in their current state.
      const changesThrough = readMeta(store, MetaKey.D1ChangesThrough) ?? 0;
      const changesNow = log.lastChangeId();
      const changed = changesNow > changesThrough ? log.changedRowsAfter(changesThrough, through, COPY_BATCH) : [];
      const { markers, through: markersThrough } = members.markersToCopy();
      const memberRows = members.toCopy();
      const chat = chatToCopy(store);
      const expire = this.expiryToCopy();
      const d1 = this.room.d1();
      if (this.copier?.d1 !== d1) this.copier = { d1, copy: roomCopier(d1, this.room.chatId) };
      const { open, pushable, expiredThrough } = await this.copier.copy(
        [...changed, ...rows].map(toCopied),
        markers,
        { members: memberRows.map(toCopiedMember), ...(chat ? { chat } : {}) },
        expire,
      );
      members.copied(memberRows);
      if (chat) chatCopied(store, chat.version);
      if (expiredThrough !== null) writeMeta(store, MetaKey.D1ExpiredThrough, expiredThrough);
      if (rows.length > 0) this.hasThrough(rows.at(-1)!.id);
      // Changes made while the copy ran have larger numbers: the next copy takes them.
      if (changesNow > changesThrough) {
        writeMeta(store, MetaKey.D1ChangesThrough, changed.length === COPY_BATCH ? changed.at(-1)!.changeId! : changesNow);
      }
      members.markersCopied(markersThrough);
      this.failures = 0;
      if (rows.length === COPY_BATCH || changed.length === COPY_BATCH || (expire && expiredThrough! < expire.through)) {
        // More than a batch was waiting: the rest goes next, back to back, even while the chat is busy.
        if (this.outbox) this.outbox.backlog = true;
        this.at = Date.now();
      } else if (this.pending()) {
        // Changes made while D1 was committing: the next copy's, counted from when this one started.
        this.outbox = { since: startedAt, lastChange: this.outbox?.lastChange ?? startedAt, messages: this.outbox?.messages ?? 0 };
        this.at = Date.now() + COPY_QUIET_MS;
      } else {
        this.outbox = null;
        this.at = null;
      }
      this.copiesTold++;
      this.room.waitUntil(this.room.activity.inboxesOpen(open));
      this.room.pushable(pushable, startedAt);
    } catch (err) {
      if (this.outbox) this.outbox.messages += carried;
      ({ failures: this.failures, at: this.at } = nextRetry(this.failures, Date.now()));
      console.error(`copy to D1 failed (${this.failures} in a row); retrying`, err instanceof Error ? err.message : String(err));
    }
  }
}
