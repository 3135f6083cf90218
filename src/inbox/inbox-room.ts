/**
 * One user's inbox: a Durable Object (named after the user id) holding that user's inbox sockets
 * (every device), relaying what rooms and the Worker tell it, and answering `GET /api/chats` from
 * the list of the user's chats it keeps (chat-list.ts; each chat's state comes from its room).
 * Hibernation API: an idle inbox costs nothing and `ping` never wakes it.
 *
 * It does keep one fact in D1 for the rooms: whether any socket is open (`users.inbox_open`), so a
 * busy chat calls only the inboxes someone listens to.
 */
import { setInboxOpen } from "../db/users";
import { isUpgrade, verifiedCaller, type Session } from "../objects/handshake";
import { HibernatingObject } from "../objects/hibernating-object";
import { errorResponse } from "../objects/responses";
import { safeSend } from "../objects/sockets";
import { ErrorCode } from "../protocol/errors";
import { encodeFrame, InboxEvent, type InboxPayloads } from "../protocol/events";
import type { Answer } from "../objects/answers";
import type { Chat, User } from "../protocol/models";
import { ChatList } from "./chat-list";
import { inboxClientFrame, type InboxClientFrame } from "../protocol/schemas";

/** Where the inbox keeps what it last wrote to `users.inbox_open` (0 or 1). */
const RECORDED_KEY = "inbox_open_recorded";

export class InboxRoom extends HibernatingObject<{ user: User; session: Session }, typeof inboxClientFrame> {
  /** The user whose inbox this is. */
  private readonly userId = this.namedAfter;
  protected readonly frameSchema = inboxClientFrame;
  /** Upgrades between recording "open" and accepting their socket: they count as open. */
  private connecting = 0;
  /** Presence writes run one after another, so the last one written is the latest state. */
  private presence: Promise<void> = Promise.resolve();
  private readonly chats = new ChatList(this.ctx.storage.kv, this.env, this.userId);

  /** `GET /api/chats`: every chat of the user, newest activity first, each as its room has it now. */
  async chatList(user: User): Promise<Answer<{ chats: Chat[] }>> {
    return this.chats.read(user, this.db, (work) => this.ctx.waitUntil(work));
  }

  /**
   * A user who has just registered is in no chat: the list is complete as it is. Their record says
   * "closed" (the column's default), so the inbox knows it without writing it.
   */
  async startFresh(): Promise<void> {
    this.chats.startFresh();
    if (this.recorded === null) this.remember(false);
  }

  /**
   * A chat's room decided that this user joined or left (`version`: the room's membership version;
   * 0 for a chat's creation). One that arrives after a later decision changes nothing.
   */
  async membership(chatId: number, member: boolean, version: number): Promise<void> {
    this.chats.record(chatId, member, version);
  }

  /** An inbox socket the Worker has authenticated. */
  override async fetch(request: Request): Promise<Response> {
    const caller = verifiedCaller(request);
    if (!caller || caller.user.id !== this.userId || !isUpgrade(request)) {
      return new Response("inboxes are reached through the Worker", { status: 400 });
    }
    const { user, session } = caller;
    if (!this.sessionValid(user, session)) return errorResponse(ErrorCode.Unauthorized, "session ended; sign in again");
    // "Open" is on record before `inbox_ready`: a room that skipped this inbox earlier committed its
    // message before the client's post-ready `GET /api/chats`, which therefore includes it.
    this.connecting++;
    try {
      await this.recordPresence();
    } catch (err) {
      console.error("inbox presence write failed", err instanceof Error ? err.message : String(err));
      return errorResponse(ErrorCode.Unavailable, "the inbox is unavailable; try again shortly");
    } finally {
      this.connecting--;
    }
    const { socket, response } = this.accept({ user, session });
    await this.alarmNoLaterThan(this.nextSessionExpiry());
    safeSend(socket, encodeFrame<InboxPayloads, typeof InboxEvent.InboxReady>(InboxEvent.InboxReady, { userId: user.id }));
    return response;
  }

  /** Sends already-serialised frames to every device; a user with no inbox open costs one call. */
  async relay(frames: string[]): Promise<void> {
    const sockets = this.openSockets();
    for (const ws of sockets) for (const frame of frames) safeSend(ws, frame);
    // Called with nobody listening: the "open" on record outlived its sockets (a close that never
    // reached us). Put it right so rooms stop calling.
    if (sockets.length > 0 || this.connecting > 0) return;
    await this.recordPresence().catch(() => {});
  }

  /** Inbox sockets only listen: `auth` is the one frame they take (`ping` is answered by the runtime). */
  protected async onFrame(ws: WebSocket, frame: InboxClientFrame): Promise<void> {
    safeSend(ws, await this.reauthenticate(ws, frame.data.token));
    await this.alarmNoLaterThan(this.nextSessionExpiry());
  }

  /** The inbox's alarm only ends sessions: at the earliest token expiry among its sockets. */
  protected async onAlarm(): Promise<void> {
    await this.alarmNoLaterThan(this.nextSessionExpiry());
  }

  protected async onClose(): Promise<void> {
    // A failed write leaves "open" on record; the next relay corrects it.
    await this.recordPresence().catch((err) =>
      console.error("inbox presence write failed", err instanceof Error ? err.message : String(err)),
    );
  }

  /**
   * What the last write put in D1, or null when it is not known (an inbox from before this was kept,
   * or a write that failed or timed out and may or may not have landed). Nothing else writes the
   * user's record, so a write of the same value changes nothing and is skipped: a room that keeps
   * calling an inbox nobody has open (each read marker it moves tells the reader's devices) would
   * otherwise cost one D1 statement per call, most of the D1 statements a busy chat makes. Kept in
   * the object's storage, so a new instance knows it too: a chat created with 1,000 members tells
   * 1,000 inboxes, and each fresh instance once wrote its "closed" again (1,000 D1 writes).
   */
  private recorded: boolean | null = ((v) => (v === undefined ? null : v === 1))(this.ctx.storage.kv.get<number>(RECORDED_KEY));

  private remember(open: boolean | null): void {
    this.recorded = open;
    if (open === null) this.ctx.storage.kv.delete(RECORDED_KEY);
    else this.ctx.storage.kv.put(RECORDED_KEY, open ? 1 : 0);
  }

  /** Writes whether any socket is open (or about to be) at the time the write runs, not when it was asked for. */
  private recordPresence(): Promise<void> {
    const write = this.presence.then(async () => {
      const open = this.connecting + this.openSockets().length > 0;
      if (open === this.recorded) return;
      // Unknown until the write is known to have landed: a crash in between must not leave a stale value.
      this.remember(null);
      await setInboxOpen(this.db, this.userId, open);
      this.remember(open);
    });
    this.presence = write.catch(() => {});
    return write;
  }
}
