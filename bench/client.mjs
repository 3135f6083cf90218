// The bench's side of PROTOCOL.md: HTTP setup helpers and a JSON-frame WebSocket client
// (the `ws` package, so the bench decides whether compression is negotiated).
import WS from "ws";
import { ClientEvent, PING, PONG, ServerEvent } from "../src/protocol/events.ts";

export function api(base) {
  return async function http(method, path, body, token) {
    const res = await fetch(base + path, {
      method,
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  };
}

/** Registers `count` users (setup: untimed). PBKDF2 makes each one slow, so a few run at once. */
export async function makeUsers(http, prefix, count) {
  const users = new Array(count);
  await pool(
    Array.from({ length: count }, (_, i) => i),
    4,
    async (i) => {
      const { token, user } = await http("POST", "/api/auth/register", { username: `${prefix}_${i}`, password: "bench-password-123" });
      users[i] = { token, id: user.id, username: user.username };
    },
  );
  return users;
}

export async function makeChats(http, users, count, label) {
  const [owner, ...rest] = users;
  const chats = [];
  for (let i = 0; i < count; i++) {
    const chat = await http("POST", "/api/chats", { type: "group", name: `${label} ${i}`, memberIds: rest.map((u) => u.id) }, owner.token);
    chats.push(chat.id);
  }
  return chats;
}

/**
 * Whether bench sockets offer permessage-deflate. Off by default, like the shared bench folder's load.mjs and
 * the Socket.IO reference (whose server does not compress): otherwise every socket carries the local
 * runtime's deflate state (~210 KB) and every frame is compressed once per recipient.
 * `BENCH_DEFLATE=1` offers it, as browsers do.
 */
const COMPRESSION = process.env.BENCH_DEFLATE === "1";

export const webSocket = (url) => new WS(url, { perMessageDeflate: COMPRESSION });

/**
 * Opens a chat socket; resolves once `joined_chat` arrived. `onFrame(event, data)` sees every frame after.
 * `options`: a join timeout in ms, or `{ timeoutMs, query }` where `query` adds parameters to the
 * socket's URL (the soak connects with `{ receipts: "batched" }`; a server that ignores it is unchanged).
 */
export function openSocket(base, chatId, user, options = {}) {
  const { timeoutMs = 30_000, query = {} } = typeof options === "number" ? { timeoutMs: options } : options;
  const extra = Object.entries(query).map(([k, v]) => `&${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("");
  const url = `${base.replace(/^http/, "ws")}/api/chats/${chatId}/ws?token=${user.token}${extra}`;
  return new Promise((resolve, reject) => {
    const ws = webSocket(url);
    const timer = setTimeout(() => (ws.close(), reject(new Error("join timeout"))), timeoutMs);
    const sock = {
      ws,
      user,
      chatId,
      handler: () => {},
      pongs: 0,
      closed: false,
      onFrame(cb) {
        sock.handler = cb;
      },
      send(content, clientId) {
        ws.send(JSON.stringify({ event: ClientEvent.SendMessage, data: { chatId, content, clientId } }));
      },
      ping() {
        ws.send(PING);
      },
      close() {
        if (!sock.closed) ws.close();
        sock.closed = true;
      },
    };
    ws.onmessage = ({ data: text }) => {
      if (text === PONG) return void sock.pongs++;
      // One `{ event, data }`, or (sockets opened with `frames=batched`) an array of them.
      const parsed = JSON.parse(text);
      for (const { event, data } of Array.isArray(parsed) ? parsed : [parsed]) {
        if (event === ServerEvent.JoinedChat) {
          clearTimeout(timer);
          resolve(sock);
        }
        sock.handler(event, data);
      }
    };
    ws.onerror = (e) => (clearTimeout(timer), reject(new Error(`socket error: ${e.message ?? "upgrade failed"}`)));
    ws.onclose = () => (sock.closed = true);
  });
}

export async function pool(items, concurrency, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

export function percentiles(values) {
  const sorted = Float64Array.from(values).sort();
  const at = (p) => (sorted.length ? +sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))].toFixed(2) : null);
  return { p50: at(50), p95: at(95), p99: at(99), max: at(100) };
}
