/**
 * What the chat room and the inbox have in common: a Durable Object named after a number (chat id
 * or user id) that holds hibernatable WebSockets of users the Worker already authenticated, answers
 * `ping` without waking, and reaches D1 only through a deadline.
 */
import { DurableObject } from "cloudflare:workers";
import { database, type Database } from "../db/client";
import { withDeadline } from "../db/deadline";
import { PING, PONG } from "../protocol/events";
import type { User } from "../protocol/models";

export abstract class HibernatingObject<Attachment extends { user: User }> extends DurableObject<Env> {
  /** D1 with a deadline: a hung database fails a call instead of stalling the object. */
  protected d1: D1Database;
  /** The chat id or user id this object was named after (`idFromName`), in every entry point. */
  protected readonly key: number;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    // Answered by the runtime without waking the object.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
    this.d1 = withDeadline(env.DB, Number(env.D1_TIMEOUT_MS));
    const key = Number(ctx.id.name);
    if (!Number.isSafeInteger(key) || key <= 0) throw new Error("objects are named after a positive integer id");
    this.key = key;
  }

  protected get db(): Database {
    return database(this.d1);
  }

  /** Accepts a socket for `attachment.user`, tagged with the user id so their sockets can be found. */
  protected accept(attachment: Attachment): { socket: WebSocket; response: Response } {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server, [String(attachment.user.id)]);
    server.serializeAttachment(attachment);
    this.attachments.set(server, attachment);
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

  protected openSockets(userId?: number, except?: WebSocket): WebSocket[] {
    const sockets = userId === undefined ? this.ctx.getWebSockets() : this.ctx.getWebSockets(String(userId));
    return sockets.filter((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1006, "", false);
  }

  abstract override webSocketClose(ws: WebSocket, code: number, reason: string, wasClean: boolean): Promise<void>;
}
