/**
 * The room's side of the live chat list: after messages are acknowledged, each member whose inbox
 * is open hears the newest message and their own unread count, at most once per window; a member
 * whose marker moved also gets `chat_read`. Everything comes from the room's own log.
 *
 * Who has an inbox open comes from D1 (`users.inbox_open`, kept by each InboxRoom), read in the
 * same transaction as every copy of the log to D1. That keeps the chat list whole: an inbox records
 * "open" before it sends `inbox_ready`, and the client then reads `GET /api/chats` from D1. A
 * message that reached D1 before that read is in it; one copied after it was copied in a
 * transaction that already saw the inbox open, and the room then tells that newly seen inbox.
 */
import { InboxEvent } from "../protocol/events";
import type { Message } from "../protocol/models";
import { Coalescer } from "../inbox/coalescer";
import { inboxFrame, tellInboxes } from "../inbox/notify";

/** How often, at most, a busy chat updates its members' inboxes. */
const INBOX_WINDOW_MS = 250;
/**
 * The same in a large chat (large-room.ts), where reads are paced too: a marker that moved reaches
 * the reader's inbox with the next window's call, not with a call of its own.
 */
export const LARGE_INBOX_WINDOW_MS = 2000;
/**
 * Before the room learnt who has an inbox open: long enough for the first copy after a wake (which
 * does not wait for a pause) to teach it, so reads then go only to inboxes that listen.
 */
export const LEARNING_INBOX_WINDOW_MS = 1000;

/** What the announcer reads from the room: the newest message and a member's read state. */
export interface ActivitySource {
  newest(): Message | null;
  /** null when the user is not an active member. */
  readState(userId: number): { lastReadMessageId: number | null; unreadCount: number } | null;
  /** A large chat: inbox calls are paced (LARGE_INBOX_WINDOW_MS). */
  large(): boolean;
}

export class ActivityAnnouncer {
  /** Members with an inbox open, as of the last copy to D1. */
  private open = new Set<number>();
  /** The marker last announced to each member, so `chat_read` goes out only when it moved. */
  private readonly announced = new Map<number, number>();
  /** A message was stored since the last window: every open inbox hears of it. */
  private messages = false;
  /** Readers whose marker moved since the last window: in large chats, and before the room learnt who has an inbox open. */
  private readonly readers = new Set<number>();
  private readonly coalescer = new Coalescer<true>(
    () => (this.source.large() ? LARGE_INBOX_WINDOW_MS : this.learnt ? INBOX_WINDOW_MS : LEARNING_INBOX_WINDOW_MS),
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
    if (this.open.size === 0) return;
    this.messages = true;
    this.coalescer.offer(true);
  }

  /** A copy to D1 committed and read who has an inbox open; those newly seen hear the current state. */
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
   * A member's marker moved by a read: all their devices learn it, if they have an inbox open as far
   * as the room knows (or before the room has learnt who has). An inbox opened since the last copy
   * hears the marker with the room's next copy (`inboxesOpen`), and reads its list when it opens: a
   * call per read to an inbox nobody listens to would cost a request per marker moved.
   */
  readMoved(userId: number): Promise<void> {
    if (this.learnt && !this.open.has(userId)) return Promise.resolve();
    // Before the room learnt who listens (the first copy after a wake, within about a second), reads
    // wait for the learning window and go only to inboxes found open by then (to all, if the copy
    // failed): a room whose members all read as it woke made one call per reader at once, a storm
    // that held up its next messages (issue 31).
    if (!this.learnt || this.source.large()) {
      this.readers.add(userId);
      this.coalescer.offer(true);
      return Promise.resolve();
    }
    const state = this.source.readState(userId);
    if (!state || state.lastReadMessageId === null) return Promise.resolve();
    this.announced.set(userId, state.lastReadMessageId);
    const { lastReadMessageId, unreadCount } = state;
    return tellInboxes(this.env, new Map([[userId, [inboxFrame(InboxEvent.ChatRead, { chatId: this.chatId, lastReadMessageId, unreadCount })]]]));
  }

  forget(userId: number): void {
    this.open.delete(userId);
    this.announced.delete(userId);
    this.readers.delete(userId);
  }

  /** A window's calls: every open inbox after a message, and (large chats) the readers whose marker moved. */
  private flush(): Promise<void> {
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
