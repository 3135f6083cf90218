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
import { isUpgrade, verifiedCaller, type Caller, type Session } from "../objects/handshake";
import { HibernatingObject } from "../objects/hibernating-object";
import { errorResponse } from "../objects/responses";
import { safeSend } from "../objects/sockets";
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, errorFrame, JOINED_MESSAGE, serverFrame, ServerEvent, type ErrorPayload } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { ChangePage, Chat, Message, MessagePage, Report, Upload, User } from "../protocol/models";
import { compiledClientFrame } from "../protocol/compiled-schemas";
import type { ParsedClientFrame } from "../protocol/schemas";
import type { StoredAttachment } from "../protocol/stored";
import type { FromShard, Position, RemoteJoin } from "../fanout/batch";
import { NEAR_HEADER, SHARD_HEADER } from "../fanout/placement";
import { ActivityAnnouncer } from "./activity";
import { BlockSync, RoomBlocks } from "./blocks";
import { administer, announcements, type Administered, type Administration } from "./administration";
import { refuse, type Answer, type Refusal } from "../objects/answers";
import { earliest } from "./copy-schedule";
import { D1Copy } from "./d1-copy";
import { FanOut } from "./fan-out";
import { FilePurge } from "./file-purge";
import { LARGE_ROOM_KEY, largeRoomMembers } from "./large-room";
import { changeOf, MessageChanges, type MessageChange } from "./message-changes";
import { readChat } from "./log/chat";
import { RoomMembers } from "./log/members";
import { MessageLog, type HistoryCursor } from "./log/messages";
import { MessageWriter } from "./message-writer";
import type { LogChatRow, LogReportRow } from "./log/schema";
import { ReportLog } from "./log/reports";
import { toStored, Uploads } from "./log/uploads";
import { openLog, type LogDatabase } from "./log/open";
import { PushNotices } from "./push-notices";
import { Occupancy } from "./occupancy";
import { Presence } from "./presence";
import { RateLimiter } from "./rate-limiter";
import { ReadReceipts } from "./read-receipts";
import { ReadState } from "./read-state";
import { RoomLoader } from "./room-loader";
import { replay } from "./replay";
import { Retention } from "./retention";
import { SlowMode } from "./slow-mode";
import { Shards } from "./shards";
import { SocketTyping, type SocketAttachment } from "./typing-sockets";
import { UnwrittenMarkers } from "./unwritten-markers";

export type PostResult = Answer<{ message: Message }>;

export type { MessageChange };

type FrameContext = Omit<ErrorPayload, "error" | "code">;

export class ChatRoom extends HibernatingObject<SocketAttachment, typeof compiledClientFrame> {
  private readonly chatId = this.namedAfter;
  protected readonly frameSchema = compiledClientFrame;
  private store!: LogDatabase;
  private log!: MessageLog;
  private members!: RoomMembers;
  private markers!: UnwrittenMarkers;
  private loader!: RoomLoader;
  private reads!: ReadState;
  private readonly limiter: RateLimiter;
  private readonly typing: SocketTyping;
  private readonly activity: ActivityAnnouncer;
  private readonly receipts: ReadReceipts;
  private readonly fanOut: FanOut;
  private readonly occupancy: Occupancy;
  private readonly presence: Presence;
  /** Active members from which the chat is large (`LARGE_ROOM_MEMBERS`; tests lower it on one room). */
  private largeFrom: number;
  /** The chat became large (kept in storage: it stays large). */
  private largeMark = false;
  /** Sends: checked, stored, acknowledged and fanned out (message-writer.ts). */
  private writer!: MessageWriter;
  private uploads!: Uploads;
  private d1Copy!: D1Copy;
  private filePurge!: FilePurge;
  private messageChanges!: MessageChanges;
  private blocks!: RoomBlocks;
  private blockSync!: BlockSync;
  private slowMode!: SlowMode;
  private retention!: Retention;
  private reports!: ReportLog;
  /** The chat's row (type, name, settings), read once and again after each change: sends read it. */
  private chatRow: LogChatRow | undefined;
  private pushes!: PushNotices;
  /** Sockets on fan-out shards, past FANOUT_SHARD_SOCKETS of the room's own (shards.ts). */
  private shards!: Shards;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.limiter = new RateLimiter(Number(env.MESSAGE_RATE_PER_SECOND), Number(env.MESSAGE_BURST));
    this.fanOut = new FanOut({
      sockets: () => ctx.getWebSockets(),
      userSockets: (userId) => ctx.getWebSockets(String(userId)),
      batched: (ws) => this.attachment(ws).batchedFrames === true,
      elsewhere: (frame, except) => this.shards.all(frame, except),
    });
    this.largeFrom = largeRoomMembers(env.LARGE_ROOM_MEMBERS);
    this.presence = new Presence(
      {
        announce: (event, user) =>
          event === "online"
            ? this.broadcast(serverFrame(ServerEvent.UserOnline, { chatId: this.chatId, user }), user.id)
            : this.broadcast(serverFrame(ServerEvent.UserOffline, { chatId: this.chatId, user })),
      },
      limits.presenceGraceMs,
    );
    this.occupancy = new Occupancy({
      sockets: () => this.sockets(),
      userOf: (ws) => this.attachment(ws).user.id,
      announce: (online) => this.broadcast(serverFrame(ServerEvent.Occupancy, { chatId: this.chatId, online })),
    });
    this.typing = new SocketTyping({
      chatId: this.chatId,
      sockets: (userId) => this.sockets(userId),
      attachment: (ws) => this.attachment(ws), reattach: (ws, a) => this.reattach(ws, a), broadcast: (f, except) => this.broadcast(f, except),
      large: () => this.isLarge(),
    });
    this.receipts = new ReadReceipts(this.chatId, ({ batched, oneByOne }) => {
      for (const ws of ctx.getWebSockets()) {
        if (this.attachment(ws).batchedReceipts) safeSend(ws, batched);
        else for (const frame of oneByOne) safeSend(ws, frame);
      }
      this.shards.receipts({ batched, oneByOne });
    });
    this.activity = new ActivityAnnouncer(env, this.chatId, {
      newest: () => this.log.newest(),
      readState: (userId) => this.reads.of(userId),
      large: () => this.isLarge(),
      learn: () => this.d1Copy.learn(),
    });
    void ctx.blockConcurrencyWhile(async () => {
      this.store = await openLog(ctx.storage);
      this.log = new MessageLog(this.store, this.chatId);
      this.members = new RoomMembers(this.store);
      this.markers = new UnwrittenMarkers(this.members);
      this.uploads = new Uploads(this.store);
      this.largeMark = ctx.storage.kv.get(LARGE_ROOM_KEY) === 1;
      await this.readAlarm();
      const parts = { chatId: this.chatId, store: this.store, log: this.log, members: this.members, markers: this.markers };
      const scheduleAlarm = () => this.scheduleAlarm();
      const broadcast = (f: string) => this.broadcast(f);
      this.blocks = new RoomBlocks(this.store);
      this.reports = new ReportLog(this.store);
      this.slowMode = new SlowMode((since) => this.log.recentSends(since));
      this.filePurge = new FilePurge(this.uploads, () => this.env.FILES, scheduleAlarm);
      this.d1Copy = new D1Copy({ ...parts, activity: this.activity, d1: () => this.d1, waitUntil: (p) => ctx.waitUntil(p), scheduleAlarm, pushable: (ids, asOf) => this.pushes?.learnt(ids, asOf) });
      this.retention = new Retention({ ...parts, uploads: this.uploads, reports: this.reports, filePurge: this.filePurge, d1Copy: this.d1Copy, broadcast, scheduleAlarm, transaction: (fn) => ctx.storage.transactionSync(fn) });
      this.blockSync = new BlockSync({
        blocks: this.blocks,
        db: () => this.db,
        kv: ctx.storage.kv,
        activeMemberIds: () => this.members.active().map((m) => m.userId),
        membershipCopied: () => this.members.toCopy().length === 0,
        scheduleAlarm,
      });
      this.loader = new RoomLoader({ ...parts, d1Copy: this.d1Copy, blocks: this.blocks, settingsLoaded: () => this.settingsChanged(), db: () => this.db });
      this.reads = new ReadState({ ...parts, blocks: this.blocks });
      this.messageChanges = new MessageChanges({ ...parts, uploads: this.uploads, filePurge: this.filePurge, d1Copy: this.d1Copy, broadcast });
      this.pushes = new PushNotices(env, {
        ...parts,
        online: () => new Set(this.onlineUsers().map((u) => u.id)),
        inboxes: this.activity,
        isBlockedBy: (recipientId, senderId) => this.isBlockedBy(recipientId, senderId),
        waitUntil: (p) => ctx.waitUntil(p),
      });
      this.writer = new MessageWriter({
        ...parts,
        uploads: this.uploads, blocks: this.blocks, slowMode: this.slowMode, retention: this.retention, limiter: this.limiter,
        fanOut: this.fanOut, activity: this.activity, pushes: this.pushes, d1Copy: this.d1Copy,
        chat: () => this.chatRecord(),
        refuseEndedSession: (user, session, now) => this.refuseEndedSession(user, session, now),
        typingEnded: (user) => this.typing.end(user),
        startTyping: (ws) => this.startTyping(ws, this.attachment(ws).user),
        transaction: (write) => ctx.storage.transactionSync(write),
      });
      this.shards = new Shards({
        chatId: this.chatId, env, kv: ctx.storage.kv,
        logPosition: () => ({ messageId: this.log.newestId(), changeId: this.log.lastChangeId() }),
        closed: (ws, attachment) => this.onClose(ws, attachment),
      });
      // An outbox left by an eviction or a crash resumes at once; so does retention's next round.
      if (this.d1Copy.at !== null || this.retention.at !== null || this.blockSync.at !== null) this.scheduleAlarm();
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
    if (refused) return errorResponse(refused.code, refused.error);
    if (!isUpgrade(request)) return errorResponse(ErrorCode.UpgradeRequired, "this route only speaks WebSocket");
    await this.shards.ready();
    // Past its share of sockets the room sends the Worker on to a fan-out shard near the caller.
    const shard = this.shards.place(this.ctx.getWebSockets().length, request.headers.get(NEAR_HEADER));
    if (shard) return new Response(null, { status: 204, headers: { [SHARD_HEADER]: shard } });
    const query = new URL(request.url).searchParams;
    const cursor = (name: string) => (query.has(name) ? Number(query.get(name)) : null);
    const large = this.isLarge();
    const firstOfUser = !large && this.openSockets(user.id).length === 0;
    const { socket, response } = this.accept({
      user,
      session,
      ...(query.get("receipts") === "batched" ? { batchedReceipts: true as const } : {}),
      ...(query.get("frames") === "batched" ? { batchedFrames: true as const } : {}),
    });
    if (large) this.occupancy.opened(socket, user.id);
    this.welcome(socket, user, firstOfUser, cursor("since"), cursor("changesSince"));
    return response;
  }

  /**
   * A socket a fan-out shard holds: checked here as an upgrade is, then in the room's presence and
   * order. Answers the frames the socket starts with, and the position after which the shard's
   * operations are its own (shards.ts).
   */
  async joinRemote(shard: string, socket: string, { user, session }: Caller, join: RemoteJoin): Promise<Answer<{ frames: string[]; after: Position }>> {
    await this.shards.ready();
    if (!this.sessionValid(user, session)) return refuse(ErrorCode.Unauthorized, "session ended; sign in again");
    const refused = await this.refuseNonMember(user.id);
    if (refused) return refused;
    const large = this.isLarge();
    const firstOfUser = !large && this.openSockets(user.id).length === 0;
    const { after } = this.shards.join(shard, socket, { user, session, ...(join.batchedReceipts ? { batchedReceipts: true as const } : {}) });
    const standIn = this.shards.get(socket);
    if (large && standIn) this.occupancy.opened(standIn, user.id);
    const frames: string[] = [];
    // The frames are the shard's to send: they go back in the answer, ahead of any later operation.
    this.welcome({ send: (frame: string) => frames.push(frame) } as unknown as WebSocket, user, firstOfUser, join.since, join.changesSince);
    return { ok: true, frames, after };
  }

  /**
   * Frames and closes of a shard's sockets, in their order, each handled as if it came from a socket
   * of the room's: started in order, and (like a socket's own events) not waiting for each other's
   * I/O, so one `auth` checking its token does not hold up the shard's other sockets.
   */
  async fromShard(shard: string, items: FromShard[]): Promise<void> {
    await this.shards.ready();
    for (const item of items) {
      const ws = "left" in item ? this.shards.left(item.socket) : this.shards.get(item.socket);
      if (!ws) {
        if (!("left" in item)) this.shards.unknown(shard, item.socket);
      } else {
        void ("left" in item ? this.onClose(ws, this.attachment(ws)) : this.onFrame(ws, item.frame));
      }
    }
  }

  /** A socket's first frames (`joined_chat`, the replay it asked for), and its user's arrival if new. */
  private welcome(ws: WebSocket, user: User, firstOfUser: boolean, since: number | null, changesSince: number | null) {
    this.scheduleAlarm();
    safeSend(ws, this.joined());
    // A client that held messages retention deleted since drops them before anything else arrives.
    const expired = this.log.expiredThroughId();
    if (expired > 0) safeSend(ws, serverFrame(ServerEvent.MessagesExpired, { chatId: this.chatId, throughId: expired }));
    if (firstOfUser) this.presence.arrived(user);
    if (since !== null || changesSince !== null) replay(ws, this.log, this.chatId, since, changesSince);
  }

  /** A page of history, from the log: it always includes the caller's own acknowledged messages. */
  async history(user: User, cursor: HistoryCursor): Promise<Answer<MessagePage>> {
    const refused = await this.refuseNonMember(user.id);
    return refused ?? { ok: true, ...this.log.page(cursor) };
  }

  /** An HTTP-posted message: same log, same order, same fan-out as socket sends. */
  async post({ user, session }: Caller, content: string, clientId?: string, replyToId?: number, attachmentIds?: string[]): Promise<PostResult> {
    const refused = await this.refuseNonMember(user.id);
    if (refused) return refused;
    const limited = this.limiter.take(user.id, Date.now());
    if (!limited.ok) return refuse(ErrorCode.RateLimited, "too many messages; slow down", Math.ceil(limited.retryAfterMs / 1000));
    // A resent clientId answers with the first message, as the contract's 201 for a resend.
    const stored = this.writer.post({ user, session, content, clientId, replyToId, attachmentIds, from: null });
    return "ok" in stored ? stored : { ok: true, message: stored };
  }

  // ---------------------------------------------------------------- attachments (bytes in R2, see routes/attachments.ts)

  /** Whether `user` may upload to this chat: an active member. Asked before any byte is stored. */
  async uploadAllowed(user: User): Promise<Answer> {
    // The rate, and a quota already full, before any byte is read.
    return (await this.refuseNonMember(user.id)) ?? this.uploads.admit(user.id, 0, Date.now(), this.env) ?? { ok: true };
  }

  /**
   * Records an upload R2 now holds, as `user`'s until one of their messages attaches it. Refused
   * (and the Worker deletes the object) when they stopped being a member while it uploaded.
   */
  async recordUpload(user: User, upload: Upload): Promise<Answer> {
    const refused = await this.refuseNonMember(user.id);
    if (refused) return refused;
    const now = Date.now();
    // With the size, in the turn of the insert: two uploads at once cannot both pass the quota.
    const over = this.uploads.admit(user.id, upload.size, now, this.env);
    if (over) return over;
    this.uploads.record({ ...upload, uploaderId: user.id, createdAt: now });
    this.filePurge.dueAt(now + limits.unattachedUploadTtlMs);
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

  /**
   * The chat as `user` sees it (`GET /api/chats/:chatId`), from the room's own state: its members
   * and their markers, its newest message and the caller's unread count are current, including
   * the caller's own writes, and need no D1.
   */
  async chat(user: User): Promise<Answer<{ chat: Chat }>> {
    return (await this.refuseNonMember(user.id)) ?? { ok: true, chat: this.reads.chatFor(user) };
  }

  /** An edit, delete or reaction change over HTTP: same rules, same order, same fan-out as the socket's. */
  async changeMessage({ user, session }: Caller, change: MessageChange): Promise<Answer<{ message: Message }>> {
    return (await this.refuseNonMember(user.id)) ?? this.refuseEndedSession(user, session) ?? this.messageChanges.apply(user, change);
  }

  /** Messages changed after change `after`, current state, for a client catching up over HTTP. */
  async changes(user: User, after: number): Promise<Answer<ChangePage>> {
    return (await this.refuseNonMember(user.id)) ?? { ok: true, ...this.log.changesAfter(after, this.log.newestId(), limits.historyMaxLimit) };
  }

  /** Mutes or unmutes the chat for the caller (`PUT`/`DELETE …/mute`): the room alone decides who is pushed. */
  async setMuted(user: User, muted: boolean): Promise<Answer> {
    const refused = await this.refuseNonMember(user.id);
    if (refused) return refused;
    this.members.setMuted(user.id, muted);
    return { ok: true };
  }

  /** Moves the caller's read marker forward (`POST …/read`); D1 gets it with the next copy. */
  async markRead(user: User, messageId: number): Promise<Answer<{ moved: boolean }>> {
    return (await this.refuseNonMember(user.id)) ?? this.moveMarker(user, messageId);
  }

  /**
   * Group administration (add, remove or leave, role, rename), decided here against the member
   * list of record, in the same order as sends (administration.ts). Announced to the chat's sockets
   * at once; D1's copy is written before the answer (or retried by the alarm if D1 fails: the
   * change stands either way), so the caller's next read of the chat list has it.
   */
  async administer({ user, session }: Caller, change: Administration): Promise<Answer<{ done: Administered }>> {
    const refused = (await this.refuseNonMember(user.id)) ?? this.refuseEndedSession(user, session);
    if (refused) return refused;
    const answer = administer(this.store, this.members, user, change, Date.now());
    if (!answer.ok) return answer;
    this.announce(answer.done);
    await this.d1Copy.runNow();
    // After the copy put the membership in D1 (see blocks.ts for why then): the newcomer's blocks.
    if (answer.done.kind === "add") await this.blockSync.joined(answer.done.member.id);
    return answer;
  }

  // ---------------------------------------------------------------- safety: blocks and reports

  /**
   * For the push path (and anything deciding per recipient): whether `recipientId` blocks
   * `senderId`. A blocker gets no push and no unread count from the user they block. Synchronous,
   * from the room's memory: no D1 query per message.
   */
  isBlockedBy(recipientId: number, senderId: number): boolean {
    return this.blocks.isBlockedBy(recipientId, senderId);
  }

  /**
   * The Worker changed whether `a` and `b` block each other (in D1, before calling every room the two
   * share): the room reads the pair again. `unavailable` when D1 could not answer.
   */
  async blocksChanged(a: number, b: number): Promise<Answer> {
    try {
      if ((await this.ready()) === "no_chat") return refuse(ErrorCode.NotFound, "chat not found");
      await this.blockSync.pair(a, b);
      return { ok: true };
    } catch (err) {
      console.error("reading a block from D1 failed", err instanceof Error ? err.message : String(err));
      return refuse(isUnavailable(err) ? ErrorCode.Unavailable : ErrorCode.Internal, "the block could not reach the chat; try again shortly");
    }
  }

  /** A member reports a message (to the group's admins); the same reporter again keeps one report. */
  async report({ user, session }: Caller, messageId: number, reason: string): Promise<Answer> {
    const refused = (await this.refuseNonMember(user.id)) ?? this.refuseEndedSession(user, session);
    if (refused) return refused;
    const row = this.log.get(messageId);
    if (!row) return refuse(ErrorCode.NotFound, "no such message in this chat");
    if (row.deletedAt !== null) return refuse(ErrorCode.Gone, "the message was deleted");
    const filed = this.reports.add(messageId, user, reason, Date.now());
    const report = filed && this.toReport(filed);
    // The admins with a socket open hear of it now; the list (`reportList`) has it either way.
    if (report && this.chatRecord().type === "group") {
      const frame = serverFrame(ServerEvent.ReportFiled, { chatId: this.chatId, report });
      for (const admin of this.members.active()) {
        if (admin.role === "admin") for (const ws of this.openSockets(admin.userId)) this.fanOut.to(ws, frame);
      }
    }
    return { ok: true };
  }

  /** The chat's reports, newest first: a group's admins only. */
  async reportList(user: User, before: number | undefined, limit: number): Promise<Answer<{ reports: Report[]; hasMore: boolean }>> {
    const refused = await this.refuseNonMember(user.id);
    if (refused) return refused;
    if (this.chatRecord().type !== "group" || this.members.activeRow(user.id)?.role !== "admin") {
      return refuse(ErrorCode.Forbidden, "only a group's admins see its reports");
    }
    const { rows, hasMore } = this.reports.page(before, limit);
    return { ok: true, reports: rows.flatMap((r) => this.toReport(r) ?? []), hasMore };
  }

  /** A stored report as admins see it, its message in its current state (null once the message is gone). */
  private toReport(r: LogReportRow): Report | null {
    const message = this.log.get(r.messageId);
    const reporter = { id: r.reporterId, username: r.reporterName };
    return message ? { id: r.id, message: this.log.toMessage(message), reporter, reason: r.reason, createdAt: new Date(r.createdAt).toISOString() } : null;
  }

  private announce(done: Administered) {
    if (done.kind === "update" && done.changed) this.settingsChanged();
    const [first, ...rest] = announcements(this.chatId, done);
    if (first) this.broadcast(first);
    if (done.kind === "remove") {
      this.activity.forget(done.removed.id);
      this.receipts.forget(done.removed.id);
      this.typing.end(done.removed);
      const hadSockets = this.openSockets(done.removed.id).length > 0;
      for (const ws of this.ctx.getWebSockets(String(done.removed.id))) ws.close(CloseCode.Removed, "removed from the chat");
      this.shards.closeUser(done.removed.id, CloseCode.Removed, "removed from the chat");
      if (!this.isLarge()) this.presence.removed(done.removed, hadSockets);
    }
    for (const frame of rest) this.broadcast(frame);
    // An add may make the chat large: its sockets hear the count from now on.
    this.isLarge();
  }

  /** Every frame is checked against the sender's membership first: a removed member is closed. */
  protected async onFrame(ws: WebSocket, frame: ParsedClientFrame): Promise<void> {
    const context: FrameContext = { event: frame.event, ...(frame.event === ClientEvent.SendMessage && frame.data.clientId ? { clientId: frame.data.clientId } : {}) };
    try {
      const { user } = this.attachment(ws);
      if (this.members.access(user.id) !== "member") {
        safeSend(ws, errorFrame(ErrorCode.Forbidden, "you are no longer a member of this chat", context));
        ws.close(CloseCode.Removed, "removed from the chat");
        return;
      }
      if (frame.event === ClientEvent.Auth) {
        safeSend(ws, await this.reauthenticate(ws, frame.data.token));
        this.scheduleAlarm();
        return;
      }
      if (frame.data.chatId !== undefined && frame.data.chatId !== this.chatId) {
        safeSend(ws, errorFrame(ErrorCode.WrongChat, `this socket belongs to chat ${this.chatId}`, context));
        return;
      }
      switch (frame.event) {
        case ClientEvent.JoinChat:
          await this.shards.ready();
          safeSend(ws, this.joined());
          return;
        case ClientEvent.TypingStart:
          // After a send still waiting to be stored, it is announced after that message, in the order it came.
          if (!this.writer.deferTyping(ws)) this.startTyping(ws, user);
          return;
        case ClientEvent.TypingStop:
          this.writer.typingStopped(ws);
          this.typing.end(user);
          return;
        case ClientEvent.MarkRead: {
          const moved = this.moveMarker(user, frame.data.messageId);
          if (!moved.ok) safeSend(ws, errorFrame(ErrorCode.BadRequest, moved.error, context));
          return;
        }
        case ClientEvent.EditMessage:
        case ClientEvent.DeleteMessage:
        case ClientEvent.AddReaction:
        case ClientEvent.RemoveReaction: {
          const done = this.messageChanges.apply(user, changeOf(frame));
          if (!done.ok) safeSend(ws, errorFrame(done.code, done.error, context));
          return;
        }
        case ClientEvent.SendMessage: {
          const limited = this.limiter.take(user.id, Date.now());
          if (!limited.ok) {
            safeSend(ws, errorFrame(ErrorCode.RateLimited, `too many messages; retry in ${limited.retryAfterMs} ms`, context));
            return;
          }
          const { content, clientId, replyToId, attachmentIds } = frame.data;
          // Typing ends with the send as it arrives: a `typing_start` right after it stays in force.
          this.typing.end(user);
          this.writer.queue({ user, session: this.attachment(ws).session, content, clientId, replyToId, attachmentIds, from: ws });
          return;
        }
      }
    } catch (err) {
      // A throw here would not close the socket, but the client would never hear back.
      console.error("room frame handler failed", err instanceof Error ? err.message : String(err));
      safeSend(ws, errorFrame(ErrorCode.Internal, "internal error", context));
    }
  }

  protected async onClose(ws: WebSocket, { user }: SocketAttachment): Promise<void> {
    await this.shards.ready();
    const large = this.isLarge();
    if (large) this.occupancy.closed(ws, user.id);
    if (this.openSockets(user.id, ws).length > 0) return;
    this.typing.end(user);
    // A removed member's offline was announced with the removal (Presence.removed).
    if (!large && this.members.access(user.id) === "member") this.presence.left(user);
  }

  /**
   * Typing states whose 6 s ran out (also after hibernation), files due for deletion, and the copy to
   * D1 when it is due.
   */
  protected async onAlarm(): Promise<void> {
    this.typing.expire(Date.now());
    // Before the files and the copy: what it deletes is deleted from R2 and D1 in the same alarm.
    this.retention.onAlarm();
    await this.filePurge.onAlarm();
    await this.d1Copy.onAlarm();
    await this.blockSync.onAlarm();
    this.scheduleAlarm();
  }

  private startTyping(ws: WebSocket, user: User) {
    this.typing.start(ws, user);
    // Only ever moved earlier: a typing state that is renewed costs no alarm write.
    this.scheduleAlarm();
  }

  private chatRecord(): LogChatRow {
    return (this.chatRow ??= readChat(this.store)!);
  }

  /** The name or settings changed (or were loaded from D1). */
  private settingsChanged(): void {
    this.chatRow = undefined;
    this.retention.settingChanged();
  }

  /** In a large chat, who is online is a count (`onlineCount`, then `occupancy`), not a list. */
  private joined(): string {
    const lastChangeId = this.log.lastChangeId();
    return this.isLarge()
      ? serverFrame(ServerEvent.JoinedChat, { chatId: this.chatId, message: JOINED_MESSAGE, online: [], lastChangeId, onlineCount: this.occupancy.count() })
      : serverFrame(ServerEvent.JoinedChat, { chatId: this.chatId, message: JOINED_MESSAGE, online: this.announcedOnline(), lastChangeId });
  }

  /** Users with a socket open, and those whose offline the grace still holds back (presence.ts). */
  private announcedOnline(): User[] {
    const online = this.onlineUsers();
    const ids = new Set(online.map((u) => u.id));
    return [...online, ...this.presence.stillAnnounced().filter((u) => !ids.has(u.id))];
  }

  /**
   * Whether the chat is large (large-room.ts): it is from the moment it has `largeFrom` active
   * members, and stays so. Becoming large is announced: every socket gets the count at once.
   */
  private isLarge(): boolean {
    if (this.largeMark) return true;
    if (this.members.activeCount() < this.largeFrom) return false;
    this.largeMark = true;
    this.ctx.storage.kv.put(LARGE_ROOM_KEY, 1);
    this.presence.stop();
    this.occupancy.announceNow();
    return true;
  }

  /**
   * A read marker moves forward only; one that moved reaches the reader's devices (`chat_read`, from
   * what this read knew), the room's storage by the end of the window (unwritten-markers.ts) and D1
   * with the next copy: a reader costs no D1 write per read and at most one storage row per window.
   */
  private moveMarker(user: User, messageId: number): Answer<{ moved: boolean }> {
    if (!this.log.has(messageId)) return refuse(ErrorCode.BadRequest, "no such message in this chat");
    // Past the marker as it is now: stored, read but unwritten, or the user's own newest message.
    const moved = this.markers.read(user.id, messageId);
    if (moved) {
      this.d1Copy.request();
      this.receipts.move({ user, lastReadMessageId: messageId });
      // chat_read means the marker moved; a backward read changes nothing and says nothing.
      this.activity.readMoved(user.id);
    }
    return { ok: true, moved };
  }

  // ---------------------------------------------------------------- membership

  /** The room's start from D1, once in its life (see room-loader.ts). A method of its own so tests can hold it at a gate. */
  private ready(): Promise<"ok" | "no_chat"> {
    return this.loader.ready();
  }

  /**
   * 404 for a chat that does not exist, 403 for a non-member, 503 while D1 cannot tell (only before
   * the room first loaded); null for a member. The room's member list is the whole truth: a
   * non-member costs no D1 read.
   */
  private async refuseNonMember(userId: number): Promise<Refusal | null> {
    try {
      if ((await this.ready()) === "no_chat") return refuse(ErrorCode.NotFound, "chat not found");
    } catch (err) {
      console.error("room could not load its chat", err instanceof Error ? err.message : String(err));
      return refuse(isUnavailable(err) ? ErrorCode.Unavailable : ErrorCode.Internal, "the chat is unavailable; try again shortly");
    }
    return this.members.access(userId) === "member" ? null : refuse(ErrorCode.Forbidden, "you are not a member of this chat");
  }

  /** A token revoked (logout, password change) or expired since the Worker checked it: 401. */
  private refuseEndedSession(user: User, session: Session, now = Date.now()): Refusal | null {
    return this.sessionValid(user, session, now) ? null : refuse(ErrorCode.Unauthorized, "session ended; sign in again");
  }

  // ---------------------------------------------------------------- sockets on fan-out shards (shards.ts)

  protected override sockets(userId?: number): WebSocket[] {
    // Typing reads the sockets while the room is constructed, before it knows its shards' (typing
    // on a shard is kept in memory only: a room never sleeps within a typing state's 6 s).
    const shards = this.shards as Shards | undefined;
    return shards ? [...super.sockets(userId), ...shards.sockets(userId)] : super.sockets(userId);
  }

  /** Every frame for more than one socket leaves through the fan-out (fan-out.ts), the shards' too. */
  protected override broadcast(frame: string, exceptUser?: number): void {
    this.fanOut.all(frame, exceptUser === undefined ? undefined : { user: exceptUser });
  }

  /** A revocation closes the user's sockets on the shards too, before the Worker answers. */
  override async endSessions(userId: number, version: number): Promise<number> {
    const closed = await super.endSessions(userId, version);
    this.shards.closeUser(userId, CloseCode.SessionEnded, "session revoked", version);
    await this.shards.drained();
    return closed;
  }

  /** One alarm serves typing expiry, the copy, session expiry, file deletion, retention and block reads. */
  private scheduleAlarm() {
    void this.alarmNoLaterThan(earliest(this.typing.nextDeadline(), this.d1Copy.at, this.nextSessionExpiry(), this.filePurge.at, this.retention.at, this.blockSync.at));
  }
}
