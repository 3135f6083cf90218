// Bench-only entry: the runtime with none of our code. Same wrangler.toml bindings and class names,
// but the Worker forwards `/bare/:room` upgrades straight to a Durable Object that only accepts
// hibernatable sockets (ping/pong auto-response, no attachment, no D1; `?hello` sends one frame on
// accept, as our room sends `joined_chat`). What the local runtime spends per socket here is the
// floor our rooms are measured against (bench/memory-baseline.mjs, bench/connect-floor.mjs).
import { DurableObject } from "cloudflare:workers";

export class ChatRoom extends DurableObject {
  constructor(ctx, env) {
    super(ctx, env);
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair("ping", "pong"));
  }
  async fetch(request) {
    const { 0: client, 1: server } = new WebSocketPair();
    this.ctx.acceptWebSocket(server);
    if (new URL(request.url).searchParams.has("hello")) server.send("hello");
    return new Response(null, { status: 101, webSocket: client });
  }
  async webSocketMessage(ws, message) {
    for (const other of this.ctx.getWebSockets()) if (other !== ws) other.send(message);
  }
  // The Hibernation API does not answer a client's Close frame; without this a closed socket stays
  // CLOSING here (our rooms answer it too).
  async webSocketClose(ws, code) {
    try {
      ws.close(code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000, "closing");
    } catch {}
  }
}

export class InboxRoom extends DurableObject {}
export class FanoutShard extends DurableObject {}

export default {
  async fetch(request, env) {
    const room = /^\/bare\/([\w-]+)$/.exec(new URL(request.url).pathname)?.[1];
    // startService waits for a 401 here, like the real Worker's.
    if (!room) return new Response("unauthorized", { status: 401 });
    return env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(room)).fetch(request);
  },
};
