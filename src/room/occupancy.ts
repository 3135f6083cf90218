/**
 * Presence in a large chat, as a number (docs/PROTOCOL.md, "Large chats"): the users with an open
 * socket, kept in memory per user and rebuilt from the room's sockets after a wake-up, announced to
 * every socket as one `occupancy` frame at the end of a window in which sockets opened or closed,
 * instead of a `user_online` / `user_offline` per user to every socket (a connect storm of n users
 * was n² frames).
 */
import { limits } from "../protocol/limits";

export interface OccupancyRoom {
  /** Every socket of the room. */
  sockets(): WebSocket[];
  userOf(ws: WebSocket): number;
  /** Sends the count to every socket. */
  announce(online: number): void;
}

export class Occupancy {
  /** Open sockets by user; undefined until first needed after a wake-up. */
  private byUser: Map<number, Set<WebSocket>> | undefined;
  private announced: number | undefined;
  private due = false;
  /** A socket opened in the current window: its `joined_chat` count may differ from the last one announced. */
  private opening = false;

  constructor(
    private readonly room: OccupancyRoom,
    private readonly windowMs: number = limits.occupancyWindowMs,
    /** Replaced by tests to hold the window open. */
    public schedule: (fn: () => void, ms: number) => unknown = setTimeout,
  ) {}

  /** Users online now. */
  count(): number {
    return this.users().size;
  }

  opened(ws: WebSocket, userId: number): void {
    const users = this.users();
    const sockets = users.get(userId);
    if (sockets) sockets.add(ws);
    else users.set(userId, new Set([ws]));
    this.opening = true;
    this.changed();
  }

  /**
   * A socket closed. Again is harmless (a close and an error may both report it): the window's end
   * compares the count with the one last announced. So is a socket missing from a map built during
   * its own close, after a wake-up (the count changed all the same).
   */
  closed(ws: WebSocket, userId: number): void {
    const users = this.users();
    const sockets = users.get(userId);
    if (sockets?.delete(ws) && sockets.size === 0) users.delete(userId);
    this.changed();
  }

  /** The count to every socket now (the chat just became large). */
  announceNow(): void {
    this.announced = this.count();
    this.room.announce(this.announced);
  }

  private changed(): void {
    if (this.due) return;
    this.due = true;
    this.schedule(() => this.flush(), this.windowMs);
  }

  private flush(): void {
    this.due = false;
    const online = this.count();
    const opening = this.opening;
    this.opening = false;
    if (online === this.announced && !opening) return;
    this.announced = online;
    this.room.announce(online);
  }

  private users(): Map<number, Set<WebSocket>> {
    if (!this.byUser) {
      this.byUser = new Map();
      for (const ws of this.room.sockets()) {
        if (ws.readyState !== WebSocket.OPEN) continue;
        const userId = this.room.userOf(ws);
        const sockets = this.byUser.get(userId);
        if (sockets) sockets.add(ws);
        else this.byUser.set(userId, new Set([ws]));
      }
    }
    return this.byUser;
  }
}
