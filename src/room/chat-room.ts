/**
 * One chat's room: a Durable Object that owns the chat's sockets (Hibernation API), orders and
 * stores its messages (group commit into D1) and fans events out.
 *
 * State that must survive hibernation lives in socket attachments (who is connected) and in the
 * object's own storage (typing deadlines, with an alarm). Everything held in fields is a cache
 * that is rebuilt on wake: the member list (from D1), the write path, rate-limit buckets.
 */
import { DurableObject } from "cloudflare:workers";
import { memberIdsOf } from "../db/chats";
import { database } from "../db/client";
import { isUnavailable, withDeadline } from "../db/deadline";
import { listMessages, messageWriter, type Draft, type Stored } from "../db/messages";
import { CloseCode, ErrorCode } from "../protocol/errors";
import {
  ClientEvent,
  encodeFrame,
  JOINED_MESSAGE,
  PING,
  PONG,
  ServerEvent,
  type ErrorPayload,
  type ServerPayloads,
} from "../protocol/events";
import { limits } from "../protocol/limits";
import type { Member, Message, Role, User } from "../protocol/models";
import type { ParsedClientFrame } from "../protocol/schemas";
import { Coalescer } from "../inbox/coalescer";
import { announceActivity } from "../inbox/notify";
import { CommitQueue } from "./commit-queue";
import { parseFrame } from "./frames";
import { ROOM_USER_HEADER, type SocketAttachment } from "./handshake";
import { RateLimiter } from "./rate-limiter";
import { echoClose, safeSend } from "./sockets";
import { TypingTracker, type TypingEntry } from "./typing";

/** The largest group of messages stored in one D1 batch. */
const MAX_BATCH = 100;
const TYPING_KEY = "typing";
/** How often, at most, a busy chat updates its members' inboxes. */
const INBOX_WINDOW_MS = 250;

export type PostResult =
  | { ok: true; message: Message; duplicate: boolean }
  | { ok: false; code: "rate_limited" | "internal" | "unavailable"; error: string; retryAfterSeconds?: number };

export type MembershipChange =
  | { type: "added"; member: Member }
  | { type: "updated"; member: Member }
  | { type: "removed"; user: User }
  | { type: "renamed"; name: string };

/** A message waiting for its batch, and whom to tell when it is stored (or not). */
interface Pending {
  draft: Draft;
  /** The socket that sent it; null for an HTTP post. */
  socket: WebSocket | null;
  settle?: (result: PostResult) => void;
}

export class ChatRoom extends DurableObject<Env> {
  private chatId: number | undefined;
  private members: Promise<Map<number, Role>> | undefined;
  private writer: ReturnType<typeof messageWriter> | undefined;
  private readonly queue = new CommitQueue<Pending>((batch) => this.commit(batch), MAX_BATCH);
  private readonly limiter: RateLimiter;
  /** D1 with a deadline: a hung database fails sends with `error` instead of stalling the room. */
  private readonly d1: D1Database;
  private readonly typing: TypingTracker;
  /** Inboxes hear of new messages at most once per window, after the senders were acknowledged. */
  private readonly activity = new Coalescer<Message>(INBOX_WINDOW_MS, (last) =>
    announceActivity(this.env, database(this.d1), last.chatId, last),
  );
  /** Sockets still receiving their `since` replay: live frames wait here meanwhile. */
  private readonly catchingUp = new Map<WebSocket, { id?: number; frame: string }[]>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.d1 = withDeadline(env.DB, Number(env.D1_TIMEOUT_MS));
    this.limiter = new RateLimiter(Number(env.MESSAGE_RATE_PER_SECOND), Number(env.MESSAGE_BURST));
    this.typing = new TypingTracker(limits.typingTimeoutMs, ctx.storage.kv.get<TypingEntry[]>(TYPING_KEY));
  }

  // ---------------------------------------------------------------- entry points

  /** A WebSocket upgrade the Worker has already authenticated and authorised. */
  override async fetch(request: Request): Promise<Response> {
    const user = JSON.parse(request.headers.get(ROOM_USER_HEADER) ?? "null") as User | null;
    const url = new URL(request.url);
    const chatId = Number(url.pathname.slice(1));
    if (!user || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("rooms are reached through the Worker", { status: 400 });
    }
    this.bind(chatId);
    const { 0: client, 1: server } = new WebSocketPair();
    const firstOfUser = this.openSocketsOf(user.id).length === 0;
    this.ctx.acceptWebSocket(server, [String(user.id)]);
    server.serializeAttachment({ user, chatId } satisfies SocketAttachment);

    const since = url.searchParams.get("since");
    if (since !== null) this.catchingUp.set(server, []);
    safeSend(server, this.frame(ServerEvent.JoinedChat, { chatId, message: JOINED_MESSAGE, online: this.onlineUsers() }));
    if (firstOfUser) this.broadcast(this.frame(ServerEvent.UserOnline, { chatId, user }), { exceptUser: user.id });
    if (since !== null) void this.replay(server, chatId, Number(since));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** An HTTP-posted message: same queue, same order, same fan-out as socket sends. */
  async post(chatId: number, user: User, content: string, clientId?: string): Promise<PostResult> {
    this.bind(chatId);
    const limited = this.limiter.take(user.id, Date.now());
    if (!limited.ok) {
      return {
        ok: false,
        code: ErrorCode.RateLimited,
        error: "too many messages; slow down",
        retryAfterSeconds: Math.ceil(limited.retryAfterMs / 1000),
      };
    }
    this.endTyping(user);
    return new Promise((settle) => this.queue.push({ draft: this.draft(user, content, clientId), socket: null, settle }));
  }

  /** A membership or name change the Worker has committed to D1. */
  async notify(chatId: number, change: MembershipChange): Promise<void> {
    this.bind(chatId);
    switch (change.type) {
      case "renamed":
        this.broadcast(this.frame(ServerEvent.ChatUpdated, { chatId, name: change.name }));
        return;
      case "added":
      case "updated": {
        const { role, ...user } = change.member;
        await this.updateMembers((members) => members.set(user.id, role));
        const event = change.type === "added" ? ServerEvent.MemberAdded : ServerEvent.MemberUpdated;
        this.broadcast(this.frame(event, { chatId, user, role }));
        return;
      }
      case "removed": {
        await this.updateMembers((members) => members.delete(change.user.id));
        this.broadcast(this.frame(ServerEvent.MemberRemoved, { chatId, user: change.user }));
        this.endTyping(change.user);
        for (const ws of this.ctx.getWebSockets(String(change.user.id))) {
          ws.close(CloseCode.Removed, "removed from the chat");
        }
        return;
      }
    }
  }

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    let context: Pick<ErrorPayload, "event" | "clientId"> = {};
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
      const { user, chatId } = ws.deserializeAttachment() as SocketAttachment;
      this.bind(chatId);
      if (!(await this.loadMembers()).has(user.id)) {
        safeSend(ws, this.error(ErrorCode.Forbidden, "you are no longer a member of this chat", context));
        ws.close(CloseCode.Removed, "removed from the chat");
        return;
      }
      if (frame.data.chatId !== undefined && frame.data.chatId !== chatId) {
        safeSend(ws, this.error(ErrorCode.WrongChat, `this socket belongs to chat ${chatId}`, context));
        return;
      }
      this.handle(ws, user, chatId, frame, context);
    } catch (err) {
      // A throw here would not close the socket, but the client would never hear back.
      console.error("room frame handler failed", err instanceof Error ? err.message : String(err));
      safeSend(ws, this.error(ErrorCode.Internal, "internal error", context));
    }
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    this.catchingUp.delete(ws);
    const { user, chatId } = ws.deserializeAttachment() as SocketAttachment;
    this.bind(chatId);
    echoClose(ws, code);
    if (this.openSocketsOf(user.id, ws).length > 0) return;
    this.endTyping(user);
    this.broadcast(this.frame(ServerEvent.UserOffline, { chatId, user }));
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1006);
  }

  /** Typing states whose 6 s ran out, also after hibernation. */
  override async alarm(): Promise<void> {
    const ended = this.typing.expire(Date.now());
    this.saveTyping();
    const chatId = this.chatId ?? this.chatIdFromSockets();
    if (chatId === undefined) return;
    for (const user of ended) this.broadcast(this.frame(ServerEvent.UserStoppedTyping, { chatId, user }), { exceptUser: user.id });
  }

  // ---------------------------------------------------------------- events

  private handle(ws: WebSocket, user: User, chatId: number, frame: ParsedClientFrame, context: Pick<ErrorPayload, "event" | "clientId">) {
    switch (frame.event) {
      case ClientEvent.JoinChat:
        safeSend(ws, this.frame(ServerEvent.JoinedChat, { chatId, message: JOINED_MESSAGE, online: this.onlineUsers() }));
        return;
      case ClientEvent.TypingStart:
        this.typing.start(user, Date.now());
        this.saveTyping();
        this.broadcast(this.frame(ServerEvent.UserTyping, { chatId, user }), { exceptUser: user.id });
        return;
      case ClientEvent.TypingStop:
        this.endTyping(user);
        return;
      case ClientEvent.SendMessage: {
        const limited = this.limiter.take(user.id, Date.now());
        if (!limited.ok) {
          safeSend(ws, this.error(ErrorCode.RateLimited, `too many messages; retry in ${limited.retryAfterMs} ms`, context));
          return;
        }
        this.endTyping(user);
        this.queue.push({ draft: this.draft(user, frame.data.content, frame.data.clientId), socket: ws });
        return;
      }
    }
  }

  /** Stores one group of messages, then acknowledges and fans out each in order. */
  private async commit(batch: Pending[]): Promise<void> {
    let stored: Stored[];
    try {
      this.writer ??= messageWriter(this.d1, this.chatId!);
      stored = await this.writer(batch.map((p) => p.draft));
    } catch (err) {
      console.error("message write failed", err instanceof Error ? err.message : String(err));
      const unavailable = isUnavailable(err);
      for (const p of batch) this.fail(p, "message not stored; resend it with the same clientId", unavailable);
      return;
    }
    const sockets = this.ctx.getWebSockets();
    let newest: Message | undefined;
    batch.forEach((p, i) => {
      const { message, duplicate } = stored[i]!;
      const { clientId } = p.draft;
      // Through sendLive: a socket still catching up gets its ack after the replay, in order.
      if (p.socket) {
        this.sendLive(p.socket, this.frame(ServerEvent.MessageSent, {
          messageId: message.id,
          chatId: message.chatId,
          timestamp: message.timestamp,
          ...(clientId !== undefined ? { clientId } : {}),
        }));
      }
      p.settle?.({ ok: true, message, duplicate });
      // A duplicate was delivered when it was first stored.
      if (duplicate) return;
      this.deliver(sockets, message, p.socket);
      newest = message;
    });
    if (newest) this.activity.offer(newest);
    this.limiter.prune(Date.now());
  }

  /** Sockets hear `internal` (the contract's code for a send that failed on our side); HTTP can say 503. */
  private fail(p: Pending, error: string, unavailable: boolean) {
    const clientId = p.draft.clientId;
    if (p.socket) {
      safeSend(p.socket, this.error(ErrorCode.Internal, error, { event: ClientEvent.SendMessage, ...(clientId ? { clientId } : {}) }));
    }
    p.settle?.({ ok: false, code: unavailable ? ErrorCode.Unavailable : ErrorCode.Internal, error });
  }

  /** `since` replay: stored messages first, then whatever went live meanwhile, never twice. */
  private async replay(ws: WebSocket, chatId: number, since: number): Promise<void> {
    let lastReplayed = since;
    try {
      const { messages } = await listMessages(database(this.d1), chatId, { after: since, limit: limits.replayMax });
      for (const message of messages) {
        safeSend(ws, this.frame(ServerEvent.ReceiveMessage, message));
        lastReplayed = message.id;
      }
    } catch (err) {
      console.error("replay failed", err instanceof Error ? err.message : String(err));
      safeSend(ws, this.error(ErrorCode.Internal, "could not replay missed messages; page them over HTTP", {}));
    }
    const held = this.catchingUp.get(ws) ?? [];
    this.catchingUp.delete(ws);
    for (const { id, frame } of held) if (id === undefined || id > lastReplayed) safeSend(ws, frame);
  }

  // ---------------------------------------------------------------- helpers

  private bind(chatId: number) {
    this.chatId ??= chatId;
  }

  private chatIdFromSockets(): number | undefined {
    const [ws] = this.ctx.getWebSockets();
    return ws ? (ws.deserializeAttachment() as SocketAttachment).chatId : undefined;
  }

  /**
   * Applies a committed change to the cached member list. Without a cache there is nothing to do:
   * the next load reads D1, which already has the change.
   */
  private async updateMembers(apply: (members: Map<number, Role>) => void) {
    if (!this.members) return;
    try {
      apply(await this.members);
    } catch {
      // The load failed and was dropped; the next one reads D1.
    }
  }

  /** The member list, read from D1 once per wake-up and kept current by `notify`. */
  private loadMembers(): Promise<Map<number, Role>> {
    this.members ??= memberIdsOf(database(this.d1), this.chatId!).catch((err) => {
      this.members = undefined;
      throw err;
    });
    return this.members;
  }

  private draft(sender: User, content: string, clientId: string | undefined): Draft {
    return { sender, content, createdAt: Date.now(), ...(clientId !== undefined ? { clientId } : {}) };
  }

  private frame<K extends keyof ServerPayloads>(event: K, data: ServerPayloads[K]): string {
    return encodeFrame<ServerPayloads, K>(event, data);
  }

  private error(code: ErrorPayload["code"], error: string, context: Pick<ErrorPayload, "event" | "clientId">): string {
    return this.frame(ServerEvent.Error, { error, code, ...context });
  }

  private openSocketsOf(userId: number, except?: WebSocket): WebSocket[] {
    return this.ctx.getWebSockets(String(userId)).filter((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  private onlineUsers(): User[] {
    const online = new Map<number, User>();
    for (const ws of this.ctx.getWebSockets()) {
      if (ws.readyState !== WebSocket.OPEN) continue;
      const { user } = ws.deserializeAttachment() as SocketAttachment;
      online.set(user.id, user);
    }
    return [...online.values()];
  }

  /** One serialised frame to every socket (or every socket but one user's). */
  private broadcast(frame: string, options: { exceptUser?: number } = {}) {
    const skip = options.exceptUser === undefined ? null : new Set(this.ctx.getWebSockets(String(options.exceptUser)));
    for (const ws of this.ctx.getWebSockets()) if (!skip?.has(ws)) this.sendLive(ws, frame);
  }

  private deliver(sockets: WebSocket[], message: Message, except: WebSocket | null) {
    const frame = this.frame(ServerEvent.ReceiveMessage, message);
    for (const ws of sockets) if (ws !== except) this.sendLive(ws, frame, message.id);
  }

  private sendLive(ws: WebSocket, frame: string, messageId?: number) {
    const held = this.catchingUp.get(ws);
    if (held) held.push({ id: messageId, frame });
    else safeSend(ws, frame);
  }

  private endTyping(user: User) {
    if (!this.typing.stop(user.id)) return;
    this.saveTyping();
    const chatId = this.chatId ?? this.chatIdFromSockets();
    if (chatId !== undefined) {
      this.broadcast(this.frame(ServerEvent.UserStoppedTyping, { chatId, user }), { exceptUser: user.id });
    }
  }

  private saveTyping() {
    this.ctx.storage.kv.put(TYPING_KEY, this.typing.toJSON());
    const next = this.typing.nextDeadline();
    if (next === null) void this.ctx.storage.deleteAlarm();
    else void this.ctx.storage.setAlarm(next);
  }
}
