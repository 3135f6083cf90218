/**
 * One user's inbox: a Durable Object holding that user's inbox sockets (every device) and relaying
 * what rooms and the Worker tell it. It keeps no state of its own: `GET /api/chats` is the truth,
 * the inbox is a live hint. Hibernation API: an idle inbox costs nothing and `ping` never wakes it.
 */
import { DurableObject } from "cloudflare:workers";
import { encodeFrame, InboxEvent, PING, PONG, type InboxPayloads } from "../protocol/events";
import type { User } from "../protocol/models";
import { ROOM_USER_HEADER } from "../room/handshake";
import { echoClose, safeSend } from "../room/sockets";

export class InboxRoom extends DurableObject<Env> {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair(PING, PONG));
  }

  /** An inbox socket the Worker has authenticated. */
  override async fetch(request: Request): Promise<Response> {
    const user = JSON.parse(request.headers.get(ROOM_USER_HEADER) ?? "null") as User | null;
    if (!user || request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("inboxes are reached through the Worker", { status: 400 });
    }
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    server.serializeAttachment({ user });
    server.send(encodeFrame<InboxPayloads, "inbox_ready">(InboxEvent.InboxReady, { userId: user.id }));
    return new Response(null, { status: 101, webSocket: client });
  }

  /** Sends already-serialised frames to every device; a user with no inbox open costs one call. */
  async deliver(frames: string[]): Promise<void> {
    for (const ws of this.ctx.getWebSockets()) for (const frame of frames) safeSend(ws, frame);
  }

  /** Inbox sockets only listen; anything but `ping` (answered by the runtime) is ignored. */
  override async webSocketMessage(): Promise<void> {}

  override async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    echoClose(ws, code);
  }
}
