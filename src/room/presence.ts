/**
 * Presence below the large-chat size (docs/PROTOCOL.md, `user_online` and `user_offline`):
 * `user_online` when a user's first socket on the chat opens, at once; `user_offline` only once
 * their last socket has been closed for a grace period with none opened again. A reload or a brief
 * network drop (the socket is back within the grace) shows nobody anything: without it, every
 * reload flashed the user offline and online to the whole chat, and a user whose devices keep
 * reconnecting cost the room two broadcasts per reconnect (the connect benchmark's largest share
 * of our own code).
 *
 * Meanwhile the user still counts as online for `joined_chat`, so every socket sees one story.
 * Push notifications do not wait for this: they ask who has a socket open now.
 */
import type { User } from "../protocol/models";

export interface PresenceRoom {
  /** Tells the chat's other sockets (`user_online` skips the user's own). */
  announce(event: "online" | "offline", user: User): void;
}

export interface PresenceClock {
  set: (fn: () => void, ms: number) => unknown;
  clear: (timer: unknown) => void;
  now: () => number;
}

export class Presence {
  /**
   * Users whose last socket closed within the grace: offline not announced yet. The grace is the
   * same for everyone, so insertion order is deadline order.
   */
  private readonly leaving = new Map<number, { user: User; until: number }>();
  /**
   * One timer for every grace, set for the earliest deadline: a timer per closing user cost the
   * connect benchmark 5 % of the isolate's time (a runtime timer is costly to make and to clear).
   */
  private sweep: unknown = null;

  constructor(
    private readonly room: PresenceRoom,
    private readonly graceMs: number,
    /** Replaced by tests to run the grace's end by hand. */
    public clock: PresenceClock = {
      set: (fn, ms) => setTimeout(fn, ms),
      clear: (timer) => clearTimeout(timer as number),
      now: () => Date.now(),
    },
  ) {}

  /** The user's first open socket: announced, unless they were never announced gone. */
  arrived(user: User): void {
    if (!this.leaving.delete(user.id)) return this.room.announce("online", user);
    if (this.leaving.size === 0) this.stopSweep();
  }

  /** The user's last socket closed: offline once the grace ends, unless they are back by then. */
  left(user: User): void {
    if (this.leaving.has(user.id)) return;
    this.leaving.set(user.id, { user, until: this.clock.now() + this.graceMs });
    this.sweep ??= this.clock.set(() => this.graceEnded(), this.graceMs);
  }

  /**
   * The user was removed from the chat: they are not coming back, so no grace. Offline now if the
   * chat still counts them online (`hadSockets`: their sockets are being closed; or their last
   * closed within the grace); their sockets' closes then announce nothing more (see the caller).
   */
  removed(user: User, hadSockets: boolean): void {
    const leaving = this.leaving.delete(user.id);
    if (this.leaving.size === 0) this.stopSweep();
    if (leaving || hadSockets) this.room.announce("offline", user);
  }

  /** Users with no socket open whom the chat was not told are gone: online in `joined_chat`. */
  stillAnnounced(): User[] {
    return [...this.leaving.values()].map((l) => l.user);
  }

  /** The chat became large (presence is a count from now on): nothing more is announced. */
  stop(): void {
    this.stopSweep();
    this.leaving.clear();
  }

  /** Announces every grace that has ended, then waits for the next one. */
  private graceEnded(): void {
    this.sweep = null;
    const now = this.clock.now();
    for (const [id, { user, until }] of this.leaving) {
      if (until > now) {
        this.sweep = this.clock.set(() => this.graceEnded(), until - now);
        return;
      }
      this.leaving.delete(id);
      this.room.announce("offline", user);
    }
  }

  private stopSweep(): void {
    if (this.sweep === null) return;
    this.clock.clear(this.sweep);
    this.sweep = null;
  }
}
