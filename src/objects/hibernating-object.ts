/**
 * What the chat room and the inbox have in common: a Durable Object named after a number (chat id
 * or user id) that holds hibernatable WebSockets of users the Worker already authenticated, answers
 * `ping` without waking, and reaches D1 only through a deadline. It owns the socket entry points:
 * each object gets the frames that passed the common checks (`onFrame`), its sockets' closes
 * (`onClose`) and its alarm (`onAlarm`), and sets that alarm through `alarmNoLaterThan`.
 */
import { DurableObject } from "cloudflare:workers";
import type { z } from "zod";
import { signingKeyFor, verifyToken } from "../auth/token";
import { tokenVersions } from "../auth/token-versions";
import { database, type Database } from "../db/client";
import { isUnavailable, withDeadline } from "../db/deadline";
import { findTokenVersion } from "../db/users";
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, encodeFrame, errorFrame, PING, PONG, ServerEvent, type ServerPayloads } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { User } from "../protocol/models";
import { parseFrame } from "./frames";
import type { Session } from "./handshake";
import { echoClose, safeSend } from "./sockets";

/** Where the object's sync KV keeps the lowest token version of a user it still accepts. */
const floorKey = (userId: number) => `session_floor:${userId}`;

export abstract class HibernatingObject<Attachment extends { user: User; session: Session }, Frames extends z.ZodType> extends DurableObject<Env> {
  /** D1 with a deadline: a hung database fails a call instead of stalling the object. */
  protected d1: D1Database;
  /** The number this object was named after (`idFromName`); each object names it for what it is. */
  protected readonly namedAfter: number;
  /** The frames this object's sockets may send. */
  protected abstract readonly frameSchema: Frames;

  /** `key`: the number the object stands for, when its name is not just that number (a fan-out shard's). */
  constructor(ctx: DurableObjectState, env: Env, key = Number(ctx.id.name)) {
    super(ctx, env);
    // Answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.d1 = withDeadline(env.DB, Number(env.D1_TIMEOUT_MS));
    if (!Number.isSafeInteger(key) || key <= 0) throw new Error("objects are named after a positive integer id");
    this.namedAfter = key;
  }

  protected get db(): Database {
    return database(this.d1);
  }

  /** Accepts a socket for `attachment.user`, tagged with the user id (and `tags`) so their sockets can be found. */
  protected accept(attachment: Attachment, tags: string[] = []): { socket: WebSocket; response: Response } {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [String(attachment.user.id), ...tags]);
    server.serializeAttachment(attachment);
    this.attachments.set(server, attachment);
    if (this.earliestExpiry !== undefined) this.earliestExpiry = Math.min(this.earliestExpiry ?? Infinity, attachment.session.expiresAt);
    return { socket: server, response: new Response(null, { status: 101, webSocket: client }) };
  }

  /** Attachments as deserialised once per socket per wake-up (they never change after accept). */
  private readonly attachments = new WeakMap<WebSocket, Attachment>();

  protected attachment(ws: WebSocket): Attachment {
    let attachment = this.attachments.get(ws);
    if (!attachment) this.attachments.set(ws, (attachment = ws.deserializeAttachment() as Attachment));
    return attachment;
  }

  /** Replaces a socket's attachment (kept with the socket by the runtime, not in storage: no write is billed). */
  protected reattach(ws: WebSocket, attachment: Attachment): void {
    ws.serializeAttachment(attachment);
    this.attachments.set(ws, attachment);
  }

  /**
   * Every socket of the object (or of one user), open or closing. An object whose sockets live
   * elsewhere too (the chat room's, on fan-out shards) adds them here: presence and sessions
   * see them all.
   */
  protected sockets(userId?: number): WebSocket[] {
    return userId === undefined ? this.ctx.getWebSockets() : this.ctx.getWebSockets(String(userId));
  }

  protected openSockets(userId?: number, except?: WebSocket): WebSocket[] {
    return this.sockets(userId).filter((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  /** The users with an open socket here. */
  protected onlineUsers(): User[] {
    const online = new Map<number, User>();
    for (const ws of this.openSockets()) {
      const { user } = this.attachment(ws);
      online.set(user.id, user);
    }
    return [...online.values()];
  }

  /** One serialised frame to every socket (or every socket but one user's). */
  protected broadcast(frame: string, exceptUser?: number) {
    const skip = exceptUser === undefined ? null : new Set(this.ctx.getWebSockets(String(exceptUser)));
    for (const ws of this.ctx.getWebSockets()) if (!skip?.has(ws)) safeSend(ws, frame);
  }

  // ---------------------------------------------------------------- sessions

  /** Per user, the lowest token version accepted here (a cache of the stored floor). */
  private readonly floors = new Map<number, number>();
  /** The earliest expiry among open sockets; undefined when it must be looked up again. */
  private earliestExpiry: number | null | undefined;

  /**
   * The lowest token version of `userId` this object still accepts. A revocation raises it in storage,
   * so a token that another isolate still thinks current (for up to 10 s, see token-versions.ts) can
   * neither reconnect nor re-authenticate here.
   */
  private sessionFloor(userId: number): number {
    let floor = this.floors.get(userId);
    if (floor === undefined) this.floors.set(userId, (floor = this.ctx.storage.kv.get<number>(floorKey(userId)) ?? 0));
    return floor;
  }

  /** Whether a session may open (or keep) a socket here now. */
  protected sessionValid(user: User, session: Session, now = Date.now()): boolean {
    return session.version >= this.sessionFloor(user.id) && session.expiresAt > now;
  }

  /**
   * Called by the Worker when the user's tokens below `version` were revoked (logout, password
   * change): their sockets here close with 4001 now, and those tokens cannot come back. Returns how
   * many sockets were closed.
   */
  async endSessions(userId: number, version: number): Promise<number> {
    if (version > this.sessionFloor(userId)) {
      this.ctx.storage.kv.put(floorKey(userId), version);
      this.floors.set(userId, version);
    }
    return this.closeSessions((a) => a.user.id === userId && a.session.version < version, "session revoked");
  }

  /**
   * Closes the sockets whose token expired by `now` (the alarm's job, and a frame's first check).
   * An alarm with none due (most of a busy room's are for its copy to D1) reads no socket.
   */
  protected closeExpiredSessions(now = Date.now()): number {
    const next = this.nextSessionExpiry(now);
    if (next === null || next > now) return 0;
    return this.closeSessions((a) => a.session.expiresAt <= now, "session expired");
  }

  private closeSessions(ended: (attachment: Attachment) => boolean, reason: string): number {
    let closed = 0;
    for (const ws of this.openSockets()) {
      if (!ended(this.attachment(ws))) continue;
      ws.close(CloseCode.SessionEnded, reason);
      closed++;
    }
    if (closed > 0) this.earliestExpiry = undefined;
    return closed;
  }

  /**
   * The earliest expiry among open sockets: when the alarm must close one. Cached; a cached time
   * already past is computed again, since the socket it came from may have closed by itself (an
   * expiry still due is found again, and the alarm closes it).
   */
  protected nextSessionExpiry(now = Date.now()): number | null {
    if (this.earliestExpiry === undefined || (this.earliestExpiry !== null && this.earliestExpiry <= now)) {
      let next: number | null = null;
      for (const ws of this.openSockets()) next = Math.min(next ?? Infinity, this.attachment(ws).session.expiresAt);
      this.earliestExpiry = next;
    }
    return this.earliestExpiry;
  }

  /**
   * `auth { token }`: a fresh token for the socket's own user moves its session to that token (so it
   * outlives the old token's expiry) without reconnecting. The answer is the frame to send back; a
   * refused token changes nothing and the socket keeps its current session.
   */
  protected async reauthenticate(ws: WebSocket, token: string): Promise<string> {
    const attachment = this.attachment(ws);
    const refuse = (error: string, code: ErrorCode = ErrorCode.Unauthorized) => errorFrame(code, error, { event: ClientEvent.Auth });
    const claims = await verifyToken(token, signingKeyFor(this.env.JWT_SECRET));
    if (!claims || claims.user.id !== attachment.user.id) return refuse("invalid or expired token for this socket's user");
    let current: number | null;
    try {
      current = await tokenVersions.current(claims.user.id, () => findTokenVersion(this.db, claims.user.id), isUnavailable);
    } catch {
      return refuse("cannot check the token now; the socket keeps its session, try again shortly", ErrorCode.Unavailable);
    }
    const session: Session = { version: claims.version, expiresAt: claims.expiresAt };
    if (current !== claims.version || !this.sessionValid(attachment.user, session) || session.version < attachment.session.version) {
      return refuse("token revoked");
    }
    // Read again: the attachment may have changed while the token was checked (typing, say).
    this.reattach(ws, { ...this.attachment(ws), session });
    this.earliestExpiry = undefined;
    return encodeFrame<ServerPayloads, "authenticated">(ServerEvent.Authenticated, {
      userId: attachment.user.id,
      expiresAt: new Date(session.expiresAt).toISOString(),
    });
  }

  // ---------------------------------------------------------------- sockets and alarm

  /** A checked frame from a socket whose session is current. */
  protected abstract onFrame(ws: WebSocket, frame: z.infer<Frames>): Promise<void>;
  /** A socket closed (the close is already echoed); `attachment` is what it carried. */
  protected abstract onClose(ws: WebSocket, attachment: Attachment): Promise<void>;
  /** The alarm fired; expired sessions are already closed. */
  protected abstract onAlarm(): Promise<void>;

  override async webSocketMessage(ws: WebSocket, raw: string | ArrayBuffer): Promise<void> {
    const parsed = parseFrame(raw, this.frameSchema);
    if (parsed.kind === "too_big") {
      ws.close(CloseCode.MessageTooBig, `frames are limited to ${limits.maxBodyBytes} bytes`);
      return;
    }
    if (parsed.kind === "error") {
      const { code, error, ...context } = parsed.error;
      safeSend(ws, errorFrame(code, error, context));
      return;
    }
    if (this.attachment(ws).session.expiresAt <= Date.now()) {
      // Its alarm has not run yet; the frame is not served either way.
      this.closeExpiredSessions();
      return;
    }
    await this.onFrame(ws, parsed.frame);
  }

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    const attachment = this.attachment(ws);
    echoClose(ws, code);
    await this.onClose(ws, attachment);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1006);
  }

  override async alarm(): Promise<void> {
    this.alarmAt = null;
    this.closeExpiredSessions();
    await this.onAlarm();
  }

  /** The alarm as last set (null: none); undefined until read from storage after a wake. */
  private alarmAt: number | null | undefined;

  /** Reads the alarm now, so that `alarmNoLaterThan` never waits for it (call it while the object starts). */
  protected async readAlarm(): Promise<void> {
    this.alarmAt = await this.ctx.storage.getAlarm();
  }

  /**
   * Makes the alarm fire by `at` (null: nothing due). It is only ever moved earlier: one that fires
   * early finds nothing due and sets the next, which costs less than a storage write per change.
   */
  protected alarmNoLaterThan(at: number | null): Promise<void> {
    if (at === null) return Promise.resolve();
    if (this.alarmAt === undefined) return this.readAlarm().then(() => this.alarmNoLaterThan(at));
    if (this.alarmAt !== null && this.alarmAt <= at) return Promise.resolve();
    this.alarmAt = at;
    return this.ctx.storage.setAlarm(at);
  }
}
