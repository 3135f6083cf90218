/**
 * Who is typing in the room, kept on the typists' own sockets (no storage write per keystroke) and
 * rebuilt from them on wake; announced to everyone else in the chat.
 */
import type { Session } from "../objects/handshake";
import { serverFrame, ServerEvent } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { User } from "../protocol/models";
import { TypingThrottle } from "./large-room";
import { TypingTracker, type TypingEntry } from "./typing";

/** What each chat socket carries through hibernation. */
export interface SocketAttachment {
  user: User;
  session: Session;
  /** Set while the user types on this socket: when that state ends unless renewed. */
  typingUntil?: number;
  /** Opened with `receipts=batched`: read receipts come as one `reads_updated` per window. */
  batchedReceipts?: true;
  /** Opened with `frames=batched`: several events may come as one JSON array frame. */
  batchedFrames?: true;
}

/** The room's sockets, as typing reads and marks them. */
export interface TypingRoom {
  chatId: number;
  sockets(userId?: number): WebSocket[];
  attachment(ws: WebSocket): SocketAttachment;
  reattach(ws: WebSocket, attachment: SocketAttachment): void;
  broadcast(frame: string, exceptUser?: number): void;
  /** A large chat: typing begins at most as often as `TypingThrottle` allows, and renewals are not announced. */
  large(): boolean;
}

export class SocketTyping {
  private readonly tracker: TypingTracker;
  private readonly throttle = new TypingThrottle();

  constructor(private readonly room: TypingRoom) {
    this.tracker = new TypingTracker(limits.typingTimeoutMs, this.onSockets());
  }

  /**
   * `user` types on `ws`: the state starts or is renewed (the caller makes the alarm fire by
   * `nextDeadline`). In a large chat a start the throttle refuses is dropped: nothing is kept, so
   * nothing ends either.
   */
  start(ws: WebSocket, user: User): void {
    const now = Date.now();
    const renewal = this.tracker.has(user.id);
    const large = this.room.large();
    if (large && !renewal && !this.throttle.mayBegin(user.id, this.tracker.size, now)) return;
    const until = this.tracker.start(user, now);
    this.room.reattach(ws, { ...this.room.attachment(ws), typingUntil: until });
    if (!large || !renewal) this.room.broadcast(serverFrame(ServerEvent.UserTyping, { chatId: this.room.chatId, user }), user.id);
  }

  /** Ends `user`'s typing state, if any, and says so once. */
  end(user: User): void {
    if (this.tracker.stop(user.id)) this.ended(user);
  }

  /** Ends the states whose time ran out (also after hibernation). */
  expire(now: number): void {
    for (const user of this.tracker.expire(now)) this.ended(user);
  }

  nextDeadline(): number | null {
    return this.tracker.nextDeadline();
  }

  private ended(user: User): void {
    // Records on the user's sockets that their typing state ended.
    for (const ws of this.room.sockets(user.id)) {
      const { typingUntil, ...rest } = this.room.attachment(ws);
      if (typingUntil !== undefined) this.room.reattach(ws, rest);
    }
    this.room.broadcast(serverFrame(ServerEvent.UserStoppedTyping, { chatId: this.room.chatId, user }), user.id);
  }

  /** Typing states as the sockets carry them (the latest deadline per user). */
  private onSockets(): TypingEntry[] {
    const latest = new Map<number, TypingEntry>();
    for (const ws of this.room.sockets()) {
      const { user, typingUntil } = this.room.attachment(ws);
      if (typingUntil !== undefined && typingUntil > (latest.get(user.id)?.until ?? 0)) latest.set(user.id, { user, until: typingUntil });
    }
    return [...latest.values()];
  }
}
