/**
 * Large chats (docs/PROTOCOL.md, "Large chats"). From `LARGE_ROOM_MEMBERS` active members on, what a
 * connect, a keystroke or a read costs must not grow with the members online: presence becomes a
 * count (occupancy.ts), typing is throttled and capped (below), and inbox calls are paced
 * (activity.ts). A chat that became large stays large, a mark kept in the room's storage: its
 * clients were told to expect counts, and a list of who is online would never reach them again.
 */
import { limits } from "../protocol/limits";

/** Where the room keeps its mark (the object's sync KV). */
export const LARGE_ROOM_KEY = "large_room";

/** The member count from which a chat is large: `LARGE_ROOM_MEMBERS`, or the default for anything but a positive integer. */
export function largeRoomMembers(value: string | undefined): number {
  const n = Number(value);
  return Number.isSafeInteger(n) && n > 0 ? n : limits.largeRoomMembersDefault;
}

/**
 * Who may begin typing in a large chat: a user at most once per `intervalMs` (each start has its
 * one end), and nobody while `max` users are typing already. A renewal of a state that began is not
 * asked about (and not announced). Pure, so the policy is tested without a room or a clock.
 */
export class TypingThrottle {
  /** When each user's typing last began, for those within the interval. */
  private readonly began = new Map<number, number>();

  constructor(
    private readonly intervalMs: number = limits.largeTypingIntervalMs,
    private readonly max: number = limits.largeTypingMax,
  ) {}

  /** Whether `userId`'s typing may begin at `now`, with `typing` users typing already; a yes counts as a beginning. */
  mayBegin(userId: number, typing: number, now: number): boolean {
    for (const [id, at] of this.began) if (now - at >= this.intervalMs) this.began.delete(id);
    if (typing >= this.max || this.began.has(userId)) return false;
    this.began.set(userId, now);
    return true;
  }
}
