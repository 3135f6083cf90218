import type { User } from "../protocol/models";

export interface TypingEntry {
  user: User;
  until: number;
}

/**
 * Who is typing and until when. Plain data, so the room can keep it on the typists' sockets and
 * rebuild it after hibernation; the room turns the returned transitions into events.
 */
export class TypingTracker {
  private readonly entries: Map<number, TypingEntry>;

  constructor(
    private readonly timeoutMs: number,
    saved: TypingEntry[] = [],
  ) {
    this.entries = new Map(saved.map((e) => [e.user.id, e]));
  }

  /** Starts or extends a user's typing state; returns when it ends unless renewed. */
  start(user: User, now: number): number {
    const until = now + this.timeoutMs;
    this.entries.set(user.id, { user, until });
    return until;
  }

  /** Whether `userId` is typing now (a `typing_start` from them renews their state). */
  has(userId: number): boolean {
    return this.entries.has(userId);
  }

  /** How many users are typing now. */
  get size(): number {
    return this.entries.size;
  }

  /** Ends a user's typing state; true if they were typing (so the end is announced once). */
  stop(userId: number): boolean {
    return this.entries.delete(userId);
  }

  /** Ends every state whose time is up and returns those users. */
  expire(now: number): User[] {
    const ended: User[] = [];
    for (const [id, entry] of this.entries) {
      if (entry.until <= now) {
        this.entries.delete(id);
        ended.push(entry.user);
      }
    }
    return ended;
  }

  /** When the next state ends, if any is active. */
  nextDeadline(): number | null {
    let next: number | null = null;
    for (const { until } of this.entries.values()) if (next === null || until < next) next = until;
    return next;
  }
}
