/**
 * How often one member of one chat is pushed: at most once per PUSH_INTERVAL_MS. The first message
 * after a quiet interval is pushed at once; those that follow within the interval wait for its end
 * and go as one push, which counts them. A burst of any length is so at most one push per interval
 * plus one (ten messages in a few seconds: two pushes). Pure: the room calls it with the time.
 */
import { pushLimits } from "../protocol/push";

/** "Every few seconds": long enough to fold a burst, short enough that a reply a moment later is not held back long. */
export const PUSH_INTERVAL_MS = pushLimits.pacingMs;

interface Entry {
  /** When the last push for this member went, or null. */
  lastSentAt: number | null;
  /** Messages since that push that are waiting. */
  count: number;
  /** The newest of them. */
  newestId: number | null;
  /** When they are to be pushed; null when nothing waits. */
  dueAt: number | null;
  /** When the first of them came. */
  since: number | null;
}

export class PushPacer {
  private readonly entries = new Map<number, Entry>();

  constructor(private readonly intervalMs: number = PUSH_INTERVAL_MS) {}

  /** A message `userId` should hear of: returns when the push that carries it is due. */
  offer(userId: number, messageId: number, now: number): number {
    let entry = this.entries.get(userId);
    if (!entry) this.entries.set(userId, (entry = { lastSentAt: null, count: 0, newestId: null, dueAt: null, since: null }));
    entry.count++;
    entry.newestId = messageId;
    entry.since ??= now;
    entry.dueAt ??= entry.lastSentAt === null ? now : Math.max(now, entry.lastSentAt + this.intervalMs);
    return entry.dueAt;
  }

  /** Members whose push is due by `now`. */
  due(now: number): number[] {
    return [...this.entries].filter(([, e]) => e.dueAt !== null && e.dueAt <= now).map(([userId]) => userId);
  }

  /** The earliest time a push is due (of members not in `except`), or null when none waits. */
  next(except?: ReadonlySet<number>): number | null {
    let next: number | null = null;
    for (const [userId, { dueAt }] of this.entries) if (dueAt !== null && !except?.has(userId) && (next === null || dueAt < next)) next = dueAt;
    return next;
  }

  /** When the oldest message waiting for `userId` came, or null. */
  waitingSince(userId: number): number | null {
    return this.entries.get(userId)?.since ?? null;
  }

  /** The push for `userId` goes now: what it stands for (null when nothing waited). */
  take(userId: number, now: number): { count: number; newestId: number } | null {
    const entry = this.entries.get(userId);
    if (!entry || entry.count === 0 || entry.newestId === null) return null;
    const taken = { count: entry.count, newestId: entry.newestId };
    Object.assign(entry, { lastSentAt: now, count: 0, newestId: null, dueAt: null, since: null });
    return taken;
  }

  /**
   * `userId` has seen the chat, or is not to be pushed for it (in the app, sent a message, muted it,
   * left): what waited is dropped. When they were last pushed still counts for the pace.
   */
  clear(userId: number): void {
    const entry = this.entries.get(userId);
    if (entry) Object.assign(entry, { count: 0, newestId: null, dueAt: null, since: null });
  }

  /** Forgets members with nothing waiting whose last push no longer holds the next one back. */
  prune(now: number): void {
    for (const [userId, e] of this.entries) {
      if (e.dueAt === null && (e.lastSentAt === null || now - e.lastSentAt >= this.intervalMs)) this.entries.delete(userId);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
