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

export class Presence {
  /** Users whose last socket closed within the grace: offline not announced yet. */
  private readonly leaving = new Map<number, { user: User; timer: unknown }>();

  constructor(
    private readonly room: PresenceRoom,
    private readonly graceMs: number,
    /** Replaced by tests to run the grace's end by hand. */
    public timers: { set: (fn: () => void, ms: number) => unknown; clear: (timer: unknown) => void } = {
      set: (fn, ms) => setTimeout(fn, ms),
      clear: (timer) => clearTimeout(timer as number),
    },
  ) {}

  /** The user's first open socket: announced, unless they were never announced gone. */
  arrived(user: User): void {
    const leaving = this.leaving.get(user.id);
    if (!leaving) return this.room.announce("online", user);
    this.timers.clear(leaving.timer);
    this.leaving.delete(user.id);
  }

  /** The user's last socket closed: offline once the grace ends, unless they are back by then. */
  left(user: User): void {
    if (this.leaving.has(user.id)) return;
    const timer = this.timers.set(() => {
      this.leaving.delete(user.id);
      this.room.announce("offline", user);
    }, this.graceMs);
    this.leaving.set(user.id, { user, timer });
  }

  /**
   * The user was removed from the chat: they are not coming back, so no grace. Offline now if the
   * chat still counts them online (`hadSockets`: their sockets are being closed; or their last
   * closed within the grace); their sockets' closes then announce nothing more (see the caller).
   */
  removed(user: User, hadSockets: boolean): void {
    const leaving = this.leaving.get(user.id);
    if (leaving) {
      this.timers.clear(leaving.timer);
      this.leaving.delete(user.id);
    }
    if (leaving || hadSockets) this.room.announce("offline", user);
  }

  /** Users with no socket open whom the chat was not told are gone: online in `joined_chat`. */
  stillAnnounced(): User[] {
    return [...this.leaving.values()].map((l) => l.user);
  }

  /** The chat became large (presence is a count from now on): nothing more is announced. */
  stop(): void {
    for (const { timer } of this.leaving.values()) this.timers.clear(timer);
    this.leaving.clear();
  }
}
