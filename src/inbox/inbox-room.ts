/**
 * One user's inbox: a Durable Object holding that user's inbox sockets (every device) and relaying
 * what rooms and the Worker tell it. It keeps no chat state of its own: `GET /api/chats` is the
 * truth, the inbox is a live hint. Hibernation API: an idle inbox costs nothing and `ping` never
 * wakes it.
 *
 * It does keep one fact in D1 for the rooms: whether any socket is open (`users.inbox_open`), so a
 * busy chat calls only the inboxes someone listens to.
 */
import { DurableObject } from "cloudflare:workers";
import { database, type Database } from "../db/client";
import { withDeadline } from "../db/deadline";
import { setInboxOpen } from "../db/users";
import { errorResponse } from "../http/errors";
import { ErrorCode } from "../protocol/errors";
import { encodeFrame, InboxEvent, PING, PONG, type InboxPayloads } from "../protocol/events";
import type { User } from "../protocol/models";
import { ROOM_USER_HEADER } from "../room/handshake";
import { echoClose, safeSend } from "../room/sockets";

/** Durable (survives hibernation): whose inbox this is, for calls that arrive with no socket open. */
const USER_KEY = "userId";

export class InboxRoom extends DurableObject<Env> {
  private readonly db: Database;
  /** Upgrades between recording "open" and accepting their socket: they count as open. */
  private connecting = 0;
  /** Presence writes run one after another, so the last one written is the latest state. */
  private presence: Promise<void> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.db = database(withDeadline(env.DB, Number(env.D1_TIMEOUT_MS)));
  }

  /** An inbox socket the Worker has authenticated. */
  override async fetch(request: Request): Promise<Response> {
    const user = JSON.parse(request.headers.get(ROOM_USER_HEADER) ?? "null") as User | null;
    if (!user || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("inboxes are reached through the Worker", { status: 400 });
    }
    this.ctx.storage.kv.put(USER_KEY, user.id);
    // "Open" is on record before `inbox_ready`: a room that skipped this inbox earlier committed its
    // message before the client's post-ready `GET /api/chats`, which therefore includes it.
    this.connecting++;
    try {
      await this.recordPresence(user.id);
    } catch (err) {
      console.error("inbox presence write failed", err instanceof Error ? err.message : String(err));
      return errorResponse(ErrorCode.Unavailable, "the inbox is unavailable; try again shortly", { "Retry-After": "1" });
    } finally {
      this.connecting--;
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ user });
    server.send(encodeFrame<InboxPayloads, typeof InboxEvent.InboxReady>(InboxEvent.InboxReady, { userId: user.id }));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Sends already-serialised frames to every device; a user with no inbox open costs one call. */
  async deliver(frames: string[]): Promise<void> {
    const sockets = this.openSockets();
    for (const ws of sockets) for (const frame of frames) safeSend(ws, frame);
    // Called with nobody listening: the "open" on record outlived its sockets (a close that never
    // reached us). Put it right so rooms stop calling.
    if (sockets.length > 0 || this.connecting > 0) return;
    const userId = this.ctx.storage.kv.get<number>(USER_KEY);
    if (userId !== undefined) await this.recordPresence(userId).catch(() => {});
  }

  /** Inbox sockets only listen; anything but `ping` (answered by the runtime) is ignored. */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    echoClose(ws, code);
    const { user } = ws.deserializeAttachment() as { user: User };
    // A failed write leaves "open" on record; the next delivery corrects it.
    await this.recordPresence(user.id).catch((err) =>
      console.error("inbox presence write failed", err instanceof Error ? err.message : String(err)),
    );
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1006);
  }

  private openSockets(): WebSocket[] {
    return this.ctx.getWebSockets().filter((ws) => ws.readyState === WebSocket.OPEN);
  }

  /** Writes whether any socket is open (or about to be) at the time the write runs, not when it was asked for. */
  private recordPresence(userId: number): Promise<void> {
    const write = this.presence.then(() => setInboxOpen(this.db, userId, this.connecting + this.openSockets().length > 0));
    this.presence = write.catch(() => {});
    return write;
  }
}
