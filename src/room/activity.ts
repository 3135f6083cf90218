/**
 * The room's side of the live chat list: after messages are acknowledged, each member whose inbox
 * is open hears the newest message and their own unread count, at most once per window; a member
 * whose marker moved also gets `chat_read`. Everything comes from the room's own log.
 *
 * Who has an inbox open comes from D1 (`users.inbox_open`, kept by each InboxRoom), read in the
 * same transaction as every copy of the log to D1. That keeps the chat list whole: an inbox records
 * "open" before it sends `inbox_ready`, and the client then reads `GET /api/chats` from D1. A
 * message that reached D1 before that read is in it; one copied after it was copied in a
 * transaction that already saw the inbox open, and the room then tells that newly seen inbox. As a
 * room wakes it reads the same once on its own (D1Copy.learn), so it need not copy early to learn it.
 */
import { InboxEvent } from "../protocol/events";
import type { Message } from "../protocol/models";
import { Coalescer } from "../inbox/coalescer";
import { inboxFrame, tellInboxes } from "../inbox/notify";

/** How soon after a message a chat updates its members' inboxes. */
export const INBOX_WINDOW_MS = 250;
/**
 * How often, at most, a chat that keeps going updates them: each update is one call per open inbox,
 * so a busy group paid calls per member per 250 ms, more than its messages (issue 27's cost target).
 * A chat's first message after a quiet second still goes within INBOX_WINDOW_MS.
 */
export const BUSY_INBOX_INTERVAL_MS = 1000;
/** The same in a large chat (large-room.ts), whatever it did in the last second. */
export const LARGE_INBOX_WINDOW_MS = 2000;
/**
 * Before the room learnt who has an inbox open: long enough for its read of it (D1Copy.learn) to
 * answer, so reads then go only to inboxes that listen.
 */
export const LEARNING_INBOX_WINDOW_MS = 1000;

/** What the announcer reads from the room: the newest message and a member's read state. */
export interface ActivitySource {
  newest(): Message | null;
  /** null when the user is not an active member. */
  readState(userId: number): { lastReadMessageId: number | null; unreadCount: number } | null;
  /** A large chat: inbox calls are paced (LARGE_INBOX_WINDOW_MS). */
  large(): boolean;
  /** The room has something for inboxes before it learnt who listens: find out (D1Copy.learn). */
  learn(): void;
}

/**
 * How long the next window waits: paced in a large chat, long enough for the room to learn who
 * listens before it knows, 250 ms after a message, and once a chat keeps going, a second after the
 * inboxes last heard of messages.
 */
export function inboxWindow(chat: { large: boolean; learnt: boolean; toldOfMessagesAt: number }, now: number): number {
  if (chat.large) return LARGE_INBOX_WINDOW_MS;
  if (!chat.learnt) return LEARNING_INBOX_WINDOW_MS;
  return Math.max(INBOX_WINDOW_MS, chat.toldOfMessagesAt + BUSY_INBOX_INTERVAL_MS - now);
}

export class ActivityAnnouncer {
  /** Members with an inbox open, as of the last copy to D1. */
  private open = new Set<number>();
  /** The marker last announced to each member, so `chat_read` goes out only when it moved. */
  private readonly announced = new Map<number, number>();
  /** A message was stored since the last window: every open inbox hears of it. */
  private messages = false;
  /** Readers whose marker moved since the last window. */
  private readonly readers = new Set<number>();
  private readonly coalescer = new Coalescer<true>(
    () => this.window(Date.now()),
    () => this.flush(),
  );

  constructor(
    private readonly env: Env,
    private readonly chatId: number,
    private readonly source: ActivitySource,
  ) {}

  /** Whether a copy has told this room (since it woke) who has an inbox open. */
  get knowsInboxes(): boolean {
    return this.learnt;
  }
  private learnt = false;

  /** Whether `userId` has an inbox open, as of the last copy (false before the room learnt it). */
  inboxOpen(userId: number): boolean {
    return this.open.has(userId);
  }

  /** A message was stored. */
  messageStored(): void {
    if (!this.learnt) this.source.learn();
    if (this.open.size === 0) return;
    this.messages = true;
    this.coalescer.offer(true);
  }

  /** A copy to D1 (or the room's read as it wakes, D1Copy.learn) read who has an inbox open; those newly seen hear the current state. */
  inboxesOpen(open: Set<number>): Promise<void> {
    const newlySeen = [...open].filter((id) => !this.open.has(id));
    this.open = open;
    this.learnt = true;
    // They hear the current state now, their read with it.
    for (const id of newlySeen) this.readers.delete(id);
    for (const id of this.announced.keys()) if (!open.has(id)) this.announced.delete(id);
    return newlySeen.length > 0 ? this.announce(newlySeen) : Promise.resolve();
  }

  /**
   * A member's marker moved by a read: all their devices learn it with the next window's call to
   * their inbox (one call carries the chat's activity and the read), if they have an inbox open as
   * far as the room knows. A call per read cost a request per reader per second in a chat its members
   * have open, more than its messages (issue 27). An inbox opened since the last copy hears the
   * marker with the room's next copy (`inboxesOpen`), and reads its list when it opens.
   *
   * Before the room learnt who listens (its read of it, D1Copy.learn, as it first has something to
   * tell), reads wait for the learning window and go only to inboxes found open by then (to all, if
   * that read failed): a room whose members all read as it woke made one call per reader at once, a
   * storm that held up its next messages (issue 31).
   */
  readMoved(userId: number): void {
    if (this.learnt && !this.open.has(userId)) return;
    if (!this.learnt) this.source.learn();
    this.readers.add(userId);
    this.coalescer.offer(true);
  }

  forget(userId: number): void {
    this.open.delete(userId);
    this.announced.delete(userId);
    this.readers.delete(userId);
  }

  /** When the inboxes last heard of messages. */
  private toldOfMessagesAt = -Infinity;

  private window(now: number): number {
    return inboxWindow({ large: this.source.large(), learnt: this.learnt, toldOfMessagesAt: this.toldOfMessagesAt }, now);
  }

  /** A window's calls: every open inbox after a message, and the readers whose marker moved (every reader, before the room learnt who listens). */
  private flush(): Promise<void> {
    if (this.messages) this.toldOfMessagesAt = Date.now();
    const users = new Set(this.messages ? this.open : []);
    for (const id of this.readers) if (!this.learnt || this.open.has(id)) users.add(id);
    this.messages = false;
    this.readers.clear();
    return this.announce([...users]);
  }

  private async announce(userIds: number[]): Promise<void> {
    const lastMessage = this.source.newest();
    if (!lastMessage) return;
    const framesByUser = new Map<number, string[]>();
    for (const userId of userIds) {
      const state = this.source.readState(userId);
      if (!state) continue;
      const { lastReadMessageId, unreadCount } = state;
      const frames = [inboxFrame(InboxEvent.ChatActivity, { chatId: this.chatId, lastMessage, unreadCount })];
      if (lastReadMessageId !== null && this.announced.get(userId) !== lastReadMessageId) {
        frames.push(inboxFrame(InboxEvent.ChatRead, { chatId: this.chatId, lastReadMessageId, unreadCount }));
        this.announced.set(userId, lastReadMessageId);
      }
      framesByUser.set(userId, frames);
    }
    if (framesByUser.size > 0) await tellInboxes(this.env, framesByUser);
  }
}
