/**
 * One chat's room: a Durable Object (named after the chat id) that owns the chat's log of record and
 * its member list in its own SQLite storage, holds the chat's sockets (Hibernation API), and fans
 * events out. Acks, history, `since` replays and membership decisions come from its own storage;
 * D1 gets a copy behind, in batches driven by the alarm (see copy-schedule.ts and ARCHITECTURE.md).
 *
 * Fields are caches rebuilt on wake (rate-limit buckets, the open-inbox set); what must survive is
 * in storage (the log, members, the alarm) or on the sockets (who is connected, who is typing).
 */
import { isUnavailable } from "../db/deadline";
import { loadMembership, loadRoomStart, messagesForImport, roomCopier } from "../db/room-copy";
import { isUpgrade, verifiedCaller, type Session } from "../objects/handshake";
import { HibernatingObject } from "../objects/hibernating-object";
import { parseFrame } from "../objects/frames";
import { errorResponse } from "../objects/responses";
import { echoClose, safeSend } from "../objects/sockets";
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, encodeFrame, JOINED_MESSAGE, ServerEvent, type ErrorPayload, type ServerPayloads } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { ChangePage, Member, Message, MessagePage, Upload, User } from "../protocol/models";
import type { ParsedClientFrame } from "../protocol/schemas";
import { toCopied, toIso, toReactions, type StoredAttachment } from "../protocol/stored";
import { ActivityAnnouncer } from "./activity";
import { refuse, type Answer, type Refusal } from "./answers";
import { COPY_BATCH, COPY_QUIET_MS, copyCheck, earliest, nextRetry, type Outbox } from "./copy-schedule";
import { RoomMembers } from "./log/members";
import { applyReaction, MessageLog, type HistoryCursor } from "./log/messages";
import { PURGE_BATCH, toStored, Uploads } from "./log/uploads";
import { MetaKey, openLog, readMeta, writeMeta, type LogDatabase } from "./log/open";
import type { LogMessageRow } from "./log/schema";
import { RateLimiter } from "./rate-limiter";
import { TypingTracker, type TypingEntry } from "./typing";

/**
 * How long socket sends gather before they are stored as one group. Each group is one implicit
 * transaction, and committing it is what a send costs most locally: storing each send in its own
 * turn halved the write rate, and gathering for 0 / 2 / 5 ms gave 1,806–2,173 / 2,662–3,198 /
 * 1,774–2,065 msg/s in the rooms scenario (2026-11-28, docs/PERFORMANCE.md).
 */
const GROUP_WINDOW_MS = 2;
/** Messages per D1 read when a room imports a chat's messages from before it kept a log. */
const IMPORT_PAGE = 1000;

export type PostResult = Answer<{ message: Message }>;

/** A message to store, from a socket or over HTTP. */
interface Send {
  user: User;
  content: string;
  clientId: string | undefined;
  replyToId: number | undefined;
  attachmentIds: string[] | undefined;
}

/** An edit, a delete or a reaction change, from a socket or over HTTP. */
export type MessageChange =
  | { kind: "edit"; messageId: number; content: string }
  | { kind: "delete"; messageId: number }
  | { kind: "react"; messageId: number; emoji: string; add: boolean };

export type MembershipChange =
  | { type: "added"; member: Member }
  | { type: "updated"; member: Member }
  | { type: "removed"; user: User }
  | { type: "renamed"; name: string };

/** What each socket carries through hibernation. */
interface SocketAttachment {
  user: User;
  session: Session;
  /** Set while the user types on this socket: when that state ends unless renewed. */
  typingUntil?: number;
}

type FrameContext = Pick<ErrorPayload, "event" | "clientId">;

export class ChatRoom extends HibernatingObject<SocketAttachment> {
  private store!: LogDatabase;
  private log!: MessageLog;
  private members!: RoomMembers;
  /** The one load from D1 in this room's life, while it runs (see `ready`), and whether it is done. */
  private loading: Promise<"ok" | "no_chat"> | null = null;
  private loaded = false;
  private readonly limiter: RateLimiter;
  private readonly typing: TypingTracker;
  private readonly activity: ActivityAnnouncer;
  /** When the alarm next looks at the outbox (a copy, or a check whether one is due); null when D1 has everything. */
  private copyAt: number | null = null;
  /** What is not in D1 yet (see copy-schedule.ts); null when nothing is. */
  private outbox: Outbox | null = null;
  private copyFailures = 0;
  /** The copy under way, if any: a second caller waits for it instead of starting another. */
  private copying: Promise<void> | null = null;
  private copier: { d1: D1Database; copy: ReturnType<typeof roomCopier> } | null = null;
  /**
   * Senders' own newest messages, whose read markers are moved in storage only when the next copy to
   * D1 starts (one row per sender per copy, not per message). Rebuilt on wake from the outbox, which
   * holds every message whose move may not have been written yet.
   */
  private readonly ownMarkers = new Map<number, number>();
  /** The alarm as last set (storage holds it; this saves re-setting an identical one). */
  private alarmAt: number | null = null;
  private pendingSends: (Send & { from: WebSocket })[] = [];
  private uploads!: Uploads;
  /** When the alarm next deletes files (a deleted message's, or uploads never attached); null: none waits. */
  private filesAt: number | null = null;
  private filesFailures = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.limiter = new RateLimiter(Number(env.MESSAGE_RATE_PER_SECOND), Number(env.MESSAGE_BURST));
    // Typing lives on the typist's socket (no storage write per keystroke), rebuilt here on wake.
    this.typing = new TypingTracker(limits.typingTimeoutMs, this.typingOnSockets());
    this.activity = new ActivityAnnouncer(env, this.key, {
      newest: () => this.log.newest(),
      readState: (userId) => this.readState(userId),
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.store = await openLog(ctx.storage);
      this.log = new MessageLog(this.store, this.key);
      this.members = new RoomMembers(this.store);
      this.uploads = new Uploads(this.store);
      this.filesAt = this.uploads.nextDeadline(Date.now());
      this.alarmAt = await ctx.storage.getAlarm();
      for (const [userId, id] of this.log.newestBySenderAfter(readMeta(this.store, MetaKey.D1Through) ?? 0)) this.ownMarkers.set(userId, id);
      // An outbox left by an eviction or a crash resumes on its own, at once: its changes are old.
      if (this.outboxPending()) {
        const now = Date.now();
        this.outbox = { since: now - COPY_QUIET_MS, lastChange: now - COPY_QUIET_MS, messages: 0 };
        this.copyAt = now;
        this.scheduleAlarm();
      }
    });
  }

  // ---------------------------------------------------------------- entry points

  /** A socket (or a plain GET) for a user the Worker authenticated: 404, 403 and 426 are decided here. */
  override async fetch(request: Request): Promise<Response> {
    const caller = verifiedCaller(request);
    if (!caller) return new Response("rooms are reached through the Worker", { status: 400 });
    const { user, session } = caller;
    // A token revoked moments ago may still pass another isolate's cached check; not here.
    if (!this.sessionValid(user, session)) return errorResponse(ErrorCode.Unauthorized, "session ended; sign in again");
    const refused = await this.refuseNonMember(user.id);
    if (refused) return errorResponse(refused.code, refused.error, refused.code === ErrorCode.Unavailable ? { "Retry-After": "1" } : {});
    if (!isUpgrade(request)) return errorResponse(ErrorCode.UpgradeRequired, "this route only speaks WebSocket");
    const query = new URL(request.url).searchParams;
    const since = query.get("since");
    const changesSince = query.get("changesSince");

    const firstOfUser = this.openSockets(user.id).length === 0;
    const { socket, response } = this.accept({ user, session });
    this.scheduleAlarm();
    safeSend(socket, this.joined());
    if (firstOfUser) this.broadcast(this.frame(ServerEvent.UserOnline, { chatId: this.key, user }), user.id);
    if (since !== null || changesSince !== null) this.replay(socket, since === null ? null : Number(since), changesSince === null ? null : Number(changesSince));
    return response;
  }

  /** A page of history, from the log: it always includes the caller's own acknowledged messages. */
  async history(user: User, cursor: HistoryCursor): Promise<Answer<MessagePage>> {
    const refused = await this.refuseNonMember(user.id);
    return refused ?? { ok: true, ...this.log.page(cursor) };
  }

  /** An HTTP-posted message: same log, same order, same fan-out as socket sends. */
  async post(user: User, content: string, clientId?: string, replyToId?: number, attachmentIds?: string[]): Promise<PostResult> {
    const refused = await this.refuseNonMember(user.id);
    if (refused) return refused;
    const limited = this.limiter.take(user.id, Date.now());
    if (!limited.ok) return refuse(ErrorCode.RateLimited, "too many messages; slow down", Math.ceil(limited.retryAfterMs / 1000));
    // A resent clientId answers with the first message, as the contract's 201 for a resend.
    const stored = this.storeMessage({ user, content, clientId, replyToId, attachmentIds, from: null });
    return "ok" in stored ? stored : { ok: true, message: stored };
  }

  // ---------------------------------------------------------------- attachments (bytes in R2, see routes/attachments.ts)

  /** Whether `user` may upload to this chat: an active member. Asked before any byte is stored. */
  async uploadAllowed(user: User): Promise<Answer> {
    return (await this.refuseNonMember(user.id)) ?? { ok: true };
  }

  /**
   * Records an upload R2 now holds, as `user`'s until one of their messages attaches it. Refused
   * (and the Worker deletes the object) when they stopped being a member while it uploaded.
   */
  async recordUpload(user: User, upload: Upload): Promise<Answer> {
    const refused = await this.refuseNonMember(user.id);
    if (refused) return refused;
    const now = Date.now();
    this.uploads.record({ ...upload, uploaderId: user.id, createdAt: now });
    this.filesDueAt(now + limits.unattachedUploadTtlMs);
    return { ok: true };
  }

  /**
   * Whether `userId` may download attachment `id` now: an active member (a removed one is refused at
   * once), and the file is attached to a message or is their own upload, and is not being deleted.
   */
  async fileAccess(userId: number, id: string): Promise<Answer<{ attachment: StoredAttachment }>> {
    const refused = await this.refuseNonMember(userId);
    if (refused) return refused;
    const row = this.uploads.live(id, Date.now());
    if (!row || (row.messageId === null && row.uploaderId !== userId)) return refuse(ErrorCode.NotFound, "no such attachment");
    return { ok: true, attachment: toStored(row) };
  }

  /** An edit, delete or reaction change over HTTP: same rules, same order, same fan-out as the socket's. */
  async changeMessage(user: User, change: MessageChange): Promise<Answer<{ message: Message }>> {
    return (await this.refuseNonMember(user.id)) ?? this.applyChange(user, change);
  }

  /** Messages changed after change `after`, current state, for a client catching up over HTTP. */
  async changes(user: User, after: number): Promise<Answer<ChangePage>> {
    return (await this.refuseNonMember(user.id)) ?? { ok: true, ...this.log.changesAfter(after, this.log.newestId(), limits.historyMaxLimit) };
  }

  /** Moves the caller's read marker forward (`POST …/read`); D1 gets it with the next copy. */
  async markRead(user: User, messageId: number): Promise<Answer<{ moved: boolean }>> {
    return (await this.refuseNonMember(user.id)) ?? this.moveMarker(user, messageId);
  }

  /**
   * A membership or name change. Removals reach the room before D1 (so a removed member hears
   * nothing more even if the D1 write then fails); the rest after D1 committed them.
   */
  async applyMembership(change: MembershipChange): Promise<void> {
    if ((await this.ready()) === "no_chat") return;
    const chatId = this.key;
    switch (change.type) {
      case "renamed":
        this.broadcast(this.frame(ServerEvent.ChatUpdated, { chatId, name: change.name }));
        return;
      case "added":
      case "updated": {
        const { role, ...user } = change.member;
        const known = this.members.access(user.id) === "member";
        this.members.upsert(change.member);
        const event = change.type === "added" && !known ? ServerEvent.MemberAdded : ServerEvent.MemberUpdated;
        this.broadcast(this.frame(event, { chatId, user, role }));
        return;
      }
      case "removed": {
        const wasMember = this.members.access(change.user.id) === "member";
        this.members.remove(change.user);
        this.activity.forget(change.user.id);
        if (wasMember) {
          this.broadcast(this.frame(ServerEvent.MemberRemoved, { chatId, user: change.user }));
          this.endTyping(change.user);
        }
        for (const ws of this.ctx.getWebSockets(String(change.user.id))) ws.close(CloseCode.Removed, "removed from the chat");
        return;
      }
    }
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    let context: FrameContext = {};
    try {
      const parsed = parseFrame(raw);
      if (parsed.kind === "too_big") {
        ws.close(CloseCode.MessageTooBig, `frames are limited to ${limits.maxBodyBytes} bytes`);
        return;
      }
      if (parsed.kind === "error") {
        safeSend(ws, this.frame(ServerEvent.Error, parsed.error));
        return;
      }
      const { frame } = parsed;
      context = { event: frame.event, ...(frame.event === ClientEvent.SendMessage && frame.data.clientId ? { clientId: frame.data.clientId } : {}) };
      const { user, session } = this.attachment(ws);
      if (session.expiresAt <= Date.now()) {
        // Its alarm has not run yet; the frame is not served either way.
        this.closeExpiredSessions();
        return;
      }
      if (this.members.access(user.id) !== "member") {
        safeSend(ws, this.error(ErrorCode.Forbidden, "you are no longer a member of this chat", context));
        ws.close(CloseCode.Removed, "removed from the chat");
        return;
      }
      if (frame.event === ClientEvent.Auth) {
        safeSend(ws, await this.reauthenticate(ws, frame.data.token));
        this.scheduleAlarm();
        return;
      }
      if (frame.data.chatId !== undefined && frame.data.chatId !== this.key) {
        safeSend(ws, this.error(ErrorCode.WrongChat, `this socket belongs to chat ${this.key}`, context));
        return;
      }
      this.handle(ws, user, frame, context);
    } catch (err) {
      // A throw here would not close the socket, but the client would never hear back.
      console.error("room frame handler failed", err instanceof Error ? err.message : String(err));
      safeSend(ws, this.error(ErrorCode.Internal, "internal error", context));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    const { user } = this.attachment(ws);
    echoClose(ws, code);
    if (this.openSockets(user.id, ws).length > 0) return;
    this.endTyping(user);
    this.broadcast(this.frame(ServerEvent.UserOffline, { chatId: this.key, user }));
  }

  /**
   * Typing states whose 6 s ran out (also after hibernation), files due for deletion, and the copy to
   * D1 when it is due.
   */
  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.closeExpiredSessions();
    const ended = this.typing.expire(Date.now());
    for (const user of ended) this.clearTypingOnSockets(user.id);
    for (const user of ended) this.broadcast(this.frame(ServerEvent.UserStoppedTyping, { chatId: this.key, user }), user.id);
    if (this.filesAt !== null && this.filesAt <= Date.now()) await this.purgeFiles();
    if (this.copyAt !== null && this.copyAt <= Date.now()) {
      // A retry is always due; otherwise a copy waits for the chat to pause (copy-schedule.ts).
      const check =
        this.copyFailures > 0 || this.outbox === null
          ? ({ due: true } as const)
          : copyCheck({ ...this.outbox, learnInboxes: !this.activity.knowsInboxes }, Date.now());
      if (check.due) await this.copyToD1();
      else this.copyAt = check.checkAt;
    }
    this.scheduleAlarm();
  }

  // ---------------------------------------------------------------- events

  private handle(ws: WebSocket, user: User, frame: ParsedClientFrame, context: FrameContext) {
    switch (frame.event) {
      case ClientEvent.JoinChat:
        safeSend(ws, this.joined());
        return;
      case ClientEvent.TypingStart: {
        const until = this.typing.start(user, Date.now());
        this.reattach(ws, { ...this.attachment(ws), typingUntil: until });
        // Only ever moved earlier: a typing state that is renewed costs no alarm write.
        this.scheduleAlarm();
        this.broadcast(this.frame(ServerEvent.UserTyping, { chatId: this.key, user }), user.id);
        return;
      }
      case ClientEvent.TypingStop:
        this.endTyping(user);
        return;
      case ClientEvent.MarkRead: {
        const moved = this.moveMarker(user, frame.data.messageId);
        if (!moved.ok) safeSend(ws, this.error(ErrorCode.BadRequest, moved.error, context));
        return;
      }
      case ClientEvent.EditMessage:
      case ClientEvent.DeleteMessage:
      case ClientEvent.AddReaction:
      case ClientEvent.RemoveReaction: {
        const { messageId } = frame.data;
        const change: MessageChange =
          frame.event === ClientEvent.EditMessage
            ? { kind: "edit", messageId, content: frame.data.content }
            : frame.event === ClientEvent.DeleteMessage
              ? { kind: "delete", messageId }
              : { kind: "react", messageId, emoji: frame.data.emoji, add: frame.event === ClientEvent.AddReaction };
        const done = this.applyChange(user, change);
        if (!done.ok) safeSend(ws, this.error(done.code, done.error, context));
        return;
      }
      case ClientEvent.SendMessage: {
        const limited = this.limiter.take(user.id, Date.now());
        if (!limited.ok) {
          safeSend(ws, this.error(ErrorCode.RateLimited, `too many messages; retry in ${limited.retryAfterMs} ms`, context));
          return;
        }
        const { content, clientId, replyToId, attachmentIds } = frame.data;
        this.pendingSends.push({ user, content, clientId, replyToId, attachmentIds, from: ws });
        if (this.pendingSends.length === 1) setTimeout(() => this.storePending(), GROUP_WINDOW_MS);
        return;
      }
    }
  }

  /**
   * Socket sends gathered for GROUP_WINDOW_MS, stored in one turn: one implicit transaction and one
   * durable write for the group instead of one per message.
   */
  private storePending() {
    const batch = this.pendingSends;
    this.pendingSends = [];
    for (const p of batch) {
      try {
        const stored = this.storeMessage(p);
        if ("ok" in stored) safeSend(p.from, this.error(stored.code, stored.error, { event: ClientEvent.SendMessage, ...(p.clientId ? { clientId: p.clientId } : {}) }));
      } catch (err) {
        console.error("message store failed", err instanceof Error ? err.message : String(err));
        safeSend(p.from, this.error(ErrorCode.Internal, "message not stored; resend it with the same clientId", { event: ClientEvent.SendMessage, ...(p.clientId ? { clientId: p.clientId } : {}) }));
      }
    }
  }

  /**
   * Stores a message in the log and, in the same turn, acknowledges it and sends it to every other
   * socket: the runtime releases those frames only once the write is durable, so an ack never
   * precedes its message's storage, and a stored message has always been sent to every socket open
   * at the time. A resent clientId is acknowledged with the first message and not sent again,
   * before any other check: a resend is answered as its first send was, even if the message it
   * replies to was deleted since. Attachments are checked (the sender's own live, unattached
   * uploads) and attached in the same write as the message; a refusal stores nothing.
   */
  private storeMessage({ user, content, clientId, replyToId, attachmentIds, from }: Send & { from: WebSocket | null }): Message | Refusal {
    const now = Date.now();
    const earlier = clientId === undefined ? undefined : this.log.byClient(user.id, clientId, now);
    if (earlier) {
      const message = this.log.toMessage(earlier);
      this.acknowledge(from, message, clientId);
      return message;
    }
    const badReply = this.refuseReply(replyToId);
    if (badReply) return badReply;
    let attachments: StoredAttachment[] | undefined;
    if (attachmentIds?.length) {
      const claim = this.uploads.claimable(attachmentIds, user.id, now);
      if (!claim.ok) return refuse(ErrorCode.BadRequest, claim.error);
      attachments = claim.attachments;
    }
    this.endTyping(user);
    const message = this.log.append({
      sender: user,
      content,
      createdAt: now,
      ...(clientId !== undefined ? { clientId } : {}),
      ...(replyToId !== undefined ? { replyToId } : {}),
      ...(attachments ? { attachments } : {}),
    });
    if (attachments) this.uploads.attach(attachmentIds!, message.id);
    this.acknowledge(from, message, clientId);
    // A user's own messages count as read by them (written to storage with the next copy).
    this.ownMarkers.set(user.id, message.id);
    const frame = this.frame(ServerEvent.ReceiveMessage, message);
    for (const ws of this.ctx.getWebSockets()) if (ws !== from) safeSend(ws, frame);
    this.activity.messageStored();
    this.requestCopy(true);
    this.limiter.prune(Date.now());
    return message;
  }

  /** `message_sent` to the socket that sent the message (none for an HTTP post). */
  private acknowledge(from: WebSocket | null, message: Message, clientId: string | undefined): void {
    if (!from) return;
    safeSend(from, this.frame(ServerEvent.MessageSent, {
      messageId: message.id,
      chatId: message.chatId,
      timestamp: message.timestamp,
      ...(clientId !== undefined ? { clientId } : {}),
    }));
  }

  /**
   * `since` / `changesSince` replay from the log, in the same turn as the accept: no live frame can
   * slip in between. New messages come in their current state; then each message the client had
   * (id ≤ `since`) that changed after `changesSince`, once, in the order of its last change, as the
   * events that bring it to its current state.
   */
  private replay(ws: WebSocket, since: number | null, changesSince: number | null) {
    const newest = this.log.newestId();
    let lastId = since ?? newest;
    let hasMore = false;
    if (since !== null) {
      const page = this.log.page({ after: since, limit: limits.replayMax });
      for (const message of page.messages) safeSend(ws, this.frame(ServerEvent.ReceiveMessage, message));
      lastId = page.messages.at(-1)?.id ?? since;
      hasMore = page.hasMore;
    }
    let lastChangeId = this.log.lastChangeId();
    let hasMoreChanges = false;
    if (changesSince !== null) {
      const rows = this.log.changedRowsAfter(changesSince, since ?? newest, limits.changeReplayMax + 1);
      hasMoreChanges = rows.length > limits.changeReplayMax;
      const replayed = rows.slice(0, limits.changeReplayMax);
      for (const row of replayed) for (const frame of this.currentStateFrames(row)) safeSend(ws, frame);
      if (hasMoreChanges) lastChangeId = replayed.at(-1)!.changeId!;
    }
    safeSend(ws, this.frame(ServerEvent.ReplayDone, { chatId: this.key, lastId, hasMore, lastChangeId, hasMoreChanges }));
  }

  /** The change events that bring a client's copy of a changed message to its current state. */
  private currentStateFrames(row: LogMessageRow): string[] {
    const base = { chatId: this.key, messageId: row.id, changeId: row.changeId ?? 0 };
    if (row.deletedAt !== null) return [this.frame(ServerEvent.MessageDeleted, { ...base, deletedAt: toIso(row.deletedAt) })];
    const frames = [this.frame(ServerEvent.ReactionsUpdated, { ...base, reactions: toReactions(row.reactions) })];
    if (row.editedAt !== null) frames.unshift(this.frame(ServerEvent.MessageEdited, { ...base, content: row.content, editedAt: toIso(row.editedAt) }));
    return frames;
  }

  /**
   * An edit, delete or reaction change: who may, and what a deleted message still allows. Applied in
   * the turn it arrives (the write commits with it) and announced to every socket of the chat, the
   * author's included, in the same turn. A change that changes nothing (a second delete, a reaction
   * already there) succeeds and announces nothing.
   */
  private applyChange(user: User, change: MessageChange): Answer<{ message: Message }> {
    const row = this.log.get(change.messageId);
    if (!row) return refuse(ErrorCode.NotFound, "no such message in this chat");
    const now = Date.now();
    const base = { chatId: this.key, messageId: row.id };
    if (change.kind === "delete") {
      if (row.senderId !== user.id && this.members.row(user.id)?.role !== "admin") {
        return refuse(ErrorCode.Forbidden, "only the sender or a group admin may delete a message");
      }
      if (row.deletedAt !== null) return { ok: true, message: this.log.toMessage(row) };
      const { row: deleted, changeId } = this.log.remove(row.id, now);
      // Its files stop being served now; the alarm deletes them from R2 (and retries until it can).
      if (this.uploads.markRemoving(row.id) > 0) this.filesDueAt(now);
      this.broadcast(this.frame(ServerEvent.MessageDeleted, { ...base, deletedAt: toIso(now), changeId }));
      return this.changed(deleted);
    }
    if (row.deletedAt !== null) return refuse(ErrorCode.Gone, "the message was deleted");
    if (change.kind === "edit") {
      if (row.senderId !== user.id) return refuse(ErrorCode.Forbidden, "only the sender may edit a message");
      if (row.content === change.content) return { ok: true, message: this.log.toMessage(row) };
      const { row: edited, changeId } = this.log.edit(row.id, change.content, now);
      this.broadcast(this.frame(ServerEvent.MessageEdited, { ...base, content: change.content, editedAt: toIso(now), changeId }));
      return this.changed(edited);
    }
    const reactions = applyReaction(row.reactions, change.emoji, user.id, change.add);
    if (reactions === "full") return refuse(ErrorCode.BadRequest, `a message takes at most ${limits.reactionsMax} different reactions`);
    if (reactions === null) return { ok: true, message: this.log.toMessage(row) };
    const { row: reacted, changeId } = this.log.setReactions(row.id, reactions);
    this.broadcast(this.frame(ServerEvent.ReactionsUpdated, { ...base, reactions: toReactions(reacted.reactions), changeId }));
    return this.changed(reacted);
  }

  /** After a change: D1 gets it with the next copy. */
  private changed(row: LogMessageRow): Answer<{ message: Message }> {
    this.requestCopy();
    return { ok: true, message: this.log.toMessage(row) };
  }

  /** A reply must answer a message of this chat that still exists. */
  private refuseReply(replyToId: number | undefined): Refusal | null {
    if (replyToId === undefined) return null;
    const original = this.log.get(replyToId);
    if (!original) return refuse(ErrorCode.BadRequest, "replyToId is not a message of this chat");
    return original.deletedAt === null ? null : refuse(ErrorCode.Gone, "the message replied to was deleted");
  }

  private joined(): string {
    return this.frame(ServerEvent.JoinedChat, { chatId: this.key, message: JOINED_MESSAGE, online: this.onlineUsers(), lastChangeId: this.log.lastChangeId() });
  }

  /**
   * A read marker moves forward only; one that moved reaches the reader's devices (`chat_read`, from
   * what this write knew) and D1 with the next copy, so a reader costs no D1 write per read.
   */
  private moveMarker(user: User, messageId: number): Answer<{ moved: boolean }> {
    if (!this.log.has(messageId)) return refuse(ErrorCode.BadRequest, "no such message in this chat");
    // Past the stored marker, and past the user's own newest message (which already counts as read).
    const moved = this.members.markRead(user.id, messageId) && messageId > (this.ownMarkers.get(user.id) ?? 0);
    if (moved) {
      this.requestCopy();
      this.broadcast(this.frame(ServerEvent.ReadUpdated, { chatId: this.key, user, lastReadMessageId: messageId }));
      // chat_read means the marker moved; a backward read changes nothing and says nothing.
      this.ctx.waitUntil(this.activity.readMoved(user.id));
    }
    return { ok: true, moved };
  }

  // ---------------------------------------------------------------- membership

  /**
   * The room's state from D1, once in its life: its members, and any messages the chat had before
   * rooms kept logs (imported with their ids, so ids keep increasing). "no_chat" is not remembered:
   * a chat with that id may be created later.
   */
  private async ready(): Promise<"ok" | "no_chat"> {
    this.loaded ||= readMeta(this.store, MetaKey.Loaded) === 1;
    if (this.loaded) return "ok";
    this.loading ??= this.loadFromD1().finally(() => (this.loading = null));
    return this.loading;
  }

  private async loadFromD1(): Promise<"ok" | "no_chat"> {
    const start = await loadRoomStart(this.db, this.key);
    if (!start) return "no_chat";
    for (let after = this.log.newestId(); ; ) {
      const rows = await messagesForImport(this.db, this.key, after, IMPORT_PAGE);
      this.log.importRows(rows);
      if (rows.length < IMPORT_PAGE) break;
      after = rows.at(-1)!.id;
    }
    for (const member of start.members) if (this.members.access(member.id) === "unknown") this.members.upsert(member, member.lastRead);
    // Everything imported came from D1; a marker D1 has is D1's.
    writeMeta(this.store, MetaKey.D1Through, this.log.newestId());
    writeMeta(this.store, MetaKey.Loaded, 1);
    return "ok";
  }

  /** 404 for a chat that does not exist, 403 for a non-member, 503 while D1 cannot tell; null for a member. */
  private async refuseNonMember(userId: number): Promise<Refusal | null> {
    try {
      if ((await this.ready()) === "no_chat") return refuse(ErrorCode.NotFound, "chat not found");
      if (this.members.access(userId) === "unknown") {
        // Never seen here: D1 may have added them (an add whose call to the room failed).
        const row = await loadMembership(this.db, this.key, userId);
        if (row && this.members.access(userId) === "unknown") this.members.upsert(row, row.lastRead);
      }
    } catch (err) {
      console.error("room could not load its members", err instanceof Error ? err.message : String(err));
      return refuse(isUnavailable(err) ? ErrorCode.Unavailable : ErrorCode.Internal, "the chat is unavailable; try again shortly");
    }
    return this.members.access(userId) === "member" ? null : refuse(ErrorCode.Forbidden, "you are not a member of this chat");
  }

  private readState(userId: number) {
    const row = this.members.row(userId);
    if (!row?.active) return null;
    const own = this.ownMarkers.get(userId) ?? null;
    const lastRead = own !== null && own > (row.lastRead ?? 0) ? own : row.lastRead;
    return { lastReadMessageId: lastRead, unreadCount: this.log.unreadCount(userId, lastRead) };
  }

  // ---------------------------------------------------------------- copy to D1

  private outboxPending(): boolean {
    return (
      this.ownMarkers.size > 0 ||
      this.log.newestId() > (readMeta(this.store, MetaKey.D1Through) ?? 0) ||
      this.log.lastChangeId() > (readMeta(this.store, MetaKey.D1ChangesThrough) ?? 0) ||
      this.members.markersToCopy().length > 0
    );
  }

  /**
   * A copy will carry what was just written. The first change after a copy sets the alarm (one
   * alarm write per copy, not per message); later ones only move the outbox's last change, which
   * the alarm reads when it fires. A full batch is copied at once (unless copies are failing and
   * backing off).
   */
  private requestCopy(message = false) {
    const now = Date.now();
    const outbox = (this.outbox ??= { since: now, lastChange: now, messages: 0 });
    outbox.lastChange = now;
    if (message) outbox.messages++;
    if (this.copyAt === null) this.copyAt = now + COPY_QUIET_MS;
    else if (outbox.messages >= COPY_BATCH && this.copyFailures === 0) this.copyAt = now;
    else return;
    this.scheduleAlarm();
  }

  /**
   * Copies the oldest part of the outbox and the markers that moved, in one D1 batch. On success the
   * copied range is recorded and whatever is left is due again; on failure nothing is recorded, and
   * the same rows are tried again after a backoff (the copy is idempotent).
   */
  private copyToD1(): Promise<void> {
    this.copying ??= this.copyOnce().finally(() => (this.copying = null));
    return this.copying;
  }

  private async copyOnce(): Promise<void> {
    for (const [userId, id] of this.ownMarkers) this.members.markRead(userId, id);
    this.ownMarkers.clear();
    const startedAt = Date.now();
    // Messages stored from here on are the next copy's.
    const carried = this.outbox?.messages ?? 0;
    if (this.outbox) this.outbox.messages = 0;
    try {
      const through = readMeta(this.store, MetaKey.D1Through) ?? 0;
      const rows = this.log.rowsAfter(through, COPY_BATCH);
      // Messages D1 already has that changed since its last copy; new rows go in their current state.
      const changesThrough = readMeta(this.store, MetaKey.D1ChangesThrough) ?? 0;
      const changesNow = this.log.lastChangeId();
      const changed = changesNow > changesThrough ? this.log.changedRowsAfter(changesThrough, through, COPY_BATCH) : [];
      const markers = this.members.markersToCopy();
      if (this.copier?.d1 !== this.d1) this.copier = { d1: this.d1, copy: roomCopier(this.d1, this.key) };
      const open = await this.copier.copy([...changed, ...rows].map(toCopied), markers);
      if (rows.length > 0) writeMeta(this.store, MetaKey.D1Through, rows.at(-1)!.id);
      // Changes made while the copy ran have larger numbers: the next copy takes them.
      if (changesNow > changesThrough) {
        writeMeta(this.store, MetaKey.D1ChangesThrough, changed.length === COPY_BATCH ? changed.at(-1)!.changeId! : changesNow);
      }
      this.members.markersCopied(markers);
      this.copyFailures = 0;
      if (rows.length === COPY_BATCH || changed.length === COPY_BATCH) {
        this.copyAt = Date.now();
      } else if (this.outboxPending()) {
        // Changes made while D1 was committing: the next copy's, counted from when this one started.
        this.outbox = { since: startedAt, lastChange: this.outbox?.lastChange ?? startedAt, messages: this.outbox?.messages ?? 0 };
        this.copyAt = Date.now() + COPY_QUIET_MS;
      } else {
        this.outbox = null;
        this.copyAt = null;
      }
      this.ctx.waitUntil(this.activity.inboxesOpen(open));
    } catch (err) {
      if (this.outbox) this.outbox.messages += carried;
      ({ failures: this.copyFailures, at: this.copyAt } = nextRetry(this.copyFailures, Date.now()));
      console.error(`copy to D1 failed (${this.copyFailures} in a row); retrying`, err instanceof Error ? err.message : String(err));
    }
  }

  // ---------------------------------------------------------------- files

  /** The alarm deletes files at `at` (or earlier, if it already would). */
  private filesDueAt(at: number) {
    if (this.filesAt !== null && this.filesAt <= at) return;
    this.filesAt = at;
    this.scheduleAlarm();
  }

  /**
   * Deletes from R2 the files of deleted messages and the uploads never attached in time, then their
   * rows. Rows go only after R2 confirmed, so a failure loses nothing: the alarm tries again after a
   * backoff. Meanwhile those files are refused to downloads and sends (`Uploads.live`).
   */
  private async purgeFiles(): Promise<void> {
    try {
      for (;;) {
        const ids = this.uploads.due(Date.now());
        if (ids.length > 0) {
          await this.env.FILES.delete(ids);
          this.uploads.forget(ids);
        }
        if (ids.length < PURGE_BATCH) break;
      }
      this.filesFailures = 0;
      this.filesAt = this.uploads.nextDeadline(Date.now());
    } catch (err) {
      ({ failures: this.filesFailures, at: this.filesAt } = nextRetry(this.filesFailures, Date.now()));
      console.error(`deleting files from R2 failed (${this.filesFailures} in a row); retrying`, err instanceof Error ? err.message : String(err));
    }
  }

  /**
   * One alarm serves typing expiry, the copy, session expiry and file deletion. It is only ever
   * moved earlier: one that fires early finds nothing due and sets the next, which costs less than a
   * storage write per change.
   */
  private scheduleAlarm() {
    const next = earliest(this.typing.nextDeadline(), this.copyAt, this.nextSessionExpiry(), this.filesAt);
    if (next === null || (this.alarmAt !== null && this.alarmAt <= next)) return;
    this.alarmAt = next;
    void this.ctx.storage.setAlarm(next);
  }

  // ---------------------------------------------------------------- helpers

  private frame<K extends keyof ServerPayloads>(event: K, data: ServerPayloads[K]): string {
    return encodeFrame<ServerPayloads, K>(event, data);
  }

  private error(code: ErrorPayload["code"], error: string, context: FrameContext): string {
    return this.frame(ServerEvent.Error, { error, code, ...context });
  }

  private onlineUsers(): User[] {
    const online = new Map<number, User>();
    for (const ws of this.openSockets()) {
      const { user } = this.attachment(ws);
      online.set(user.id, user);
    }
    return [...online.values()];
  }

  /** One serialised frame to every socket (or every socket but one user's). */
  private broadcast(frame: string, exceptUser?: number) {
    const skip = exceptUser === undefined ? null : new Set(this.ctx.getWebSockets(String(exceptUser)));
    for (const ws of this.ctx.getWebSockets()) if (!skip?.has(ws)) safeSend(ws, frame);
  }

  private endTyping(user: User) {
    if (!this.typing.stop(user.id)) return;
    this.clearTypingOnSockets(user.id);
    this.broadcast(this.frame(ServerEvent.UserStoppedTyping, { chatId: this.key, user }), user.id);
  }

  /** Records on the user's sockets that their typing state ended. */
  private clearTypingOnSockets(userId: number) {
    for (const ws of this.ctx.getWebSockets(String(userId))) {
      const { typingUntil, ...rest } = this.attachment(ws);
      if (typingUntil !== undefined) this.reattach(ws, rest);
    }
  }

  /** Typing states as the sockets carry them (the latest deadline per user). */
  private typingOnSockets(): TypingEntry[] {
    const latest = new Map<number, TypingEntry>();
    for (const ws of this.ctx.getWebSockets()) {
      const { user, typingUntil } = this.attachment(ws);
      if (typingUntil !== undefined && typingUntil > (latest.get(user.id)?.until ?? 0)) latest.set(user.id, { user, until: typingUntil });
    }
    return [...latest.values()];
  }
}
