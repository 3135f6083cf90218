/** Test helpers: talk to the real Worker through `SELF`, as a client would. */
import * as cloudflareTest from "cloudflare:test";
import { runInDurableObject, SELF } from "cloudflare:test";
import { expect } from "vitest";
import type { ChatRoom } from "../../src/room/chat-room";
import type { MessageLog } from "../../src/room/log/messages";
import type { AuthResponse, Chat } from "../../src/protocol/models";
import { InboxEvent, ServerEvent, type InboxPayloads, type ServerPayloads } from "../../src/protocol/events";

export const BASE = "https://chat.test";

let counter = 0;
/** Usernames unique across test files sharing one database. */
export const uniqueName = (prefix = "u") => `${prefix}${Date.now().toString(36)}${(counter++).toString(36)}${Math.random().toString(36).slice(2, 6)}`;

export async function api(method: string, path: string, options: { token?: string; body?: unknown; raw?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers["Authorization"] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers["Content-Type"] ??= "application/json";
  const res = await SELF.fetch(BASE + path, { method, headers, body });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : null };
}

/** An error answer in the documented shape, with this status and code. */
export function expectError(res: { status: number; body: unknown }, status: number, code: string): void {
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ error: expect.any(String), code });
}

export interface TestUser extends AuthResponse {
  password: string;
}

export async function register(prefix = "u"): Promise<TestUser> {
  const password = "correct horse battery";
  const res = await api("POST", "/api/auth/register", { body: { username: uniqueName(prefix), password } });
  if (res.status !== 201) throw new Error(`register failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...res.body, password };
}

export async function createGroup(owner: TestUser, members: TestUser[], name = "Team"): Promise<Chat> {
  const res = await api("POST", "/api/chats", {
    token: owner.token,
    body: { type: "group", name, memberIds: members.map((m) => m.user.id) },
  });
  if (res.status !== 201) throw new Error(`group create failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body;
}

/** A WebSocket client over the Worker's fetch, with a frame inbox to await on. */
export class TestSocket<P = ServerPayloads> {
  /** Events in arrival order (an array frame, `frames=batched`, adds each of its events). */
  readonly frames: ({ event: string; data: unknown } | "pong")[] = [];
  /** Per WebSocket frame received, how many events it carried. */
  readonly eventsPerFrame: number[] = [];
  closed: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.addEventListener("message", (e) => {
      const text = typeof e.data === "string" ? e.data : "";
      const parsed = text === "pong" ? "pong" : JSON.parse(text);
      const events = Array.isArray(parsed) ? parsed : [parsed];
      this.frames.push(...events);
      this.eventsPerFrame.push(events.length);
      this.wake();
    });
    ws.addEventListener("close", (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.wake();
    });
  }

  private wake() {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  sendJson(event: string, data: unknown) {
    this.ws.send(JSON.stringify({ event, data }));
  }

  /** Frames of one event, in arrival order. */
  of<E extends keyof P & string>(event: E): P[E][] {
    return this.frames.flatMap((f) => (f !== "pong" && f.event === event ? [f.data as P[E]] : []));
  }

  /** Waits until `predicate` holds over the frames received so far. */
  async until(predicate: (s: this) => boolean, what = "condition", timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; frames: ${JSON.stringify(this.frames).slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async next<E extends keyof P & string>(event: E, count = 1) {
    await this.until((s) => s.of(event).length >= count, `${count} × ${event}`);
    return this.of(event)[count - 1]!;
  }

  close() {
    if (!this.closed) this.ws.close(1000, "done");
  }
}

/** `init`: more of the request (headers a client might forge, a `cf` object as the edge would set). */
export async function connect(chatId: number, token: string, query = "", init: { headers?: Record<string, string>; cf?: unknown } = {}): Promise<TestSocket> {
  const res = await SELF.fetch(`${BASE}/api/chats/${chatId}/ws${query}`, {
    ...init,
    headers: { Upgrade: "websocket", Authorization: `Bearer ${token}`, ...init.headers },
  } as RequestInit);
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade failed: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  const socket = new TestSocket(res.webSocket);
  await socket.next(ServerEvent.JoinedChat);
  return socket;
}

/** Two new users in a new group, each with the chat's socket open. */
export async function twoInAChat(first: string, second: string) {
  const [ann, bob] = await Promise.all([register(first), register(second)]);
  const chat = await createGroup(ann, [bob]);
  const a = await connect(chat.id, ann.token);
  const b = await connect(chat.id, bob.token);
  return { ann, bob, chat, a, b };
}

/** Three new users in a new group of the first's. */
export async function threeInAGroup(prefixes: [string, string, string] = ["adm", "bob", "cid"]) {
  const [ann, bob, cid] = await Promise.all(prefixes.map((p) => register(p)));
  const chat = await createGroup(ann!, [bob!, cid!]);
  return { ann: ann!, bob: bob!, cid: cid!, chat };
}

export async function connectInbox(token: string): Promise<TestSocket<InboxPayloads>> {
  const res = await SELF.fetch(`${BASE}/api/inbox/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${token}` } });
  if (res.status !== 101 || !res.webSocket) throw new Error(`inbox upgrade failed: ${res.status} ${await res.text()}`);
  res.webSocket.accept();
  const socket = new TestSocket<InboxPayloads>(res.webSocket);
  await socket.next(InboxEvent.InboxReady);
  return socket;
}

export const roomStub = (chatId: number) => {
  const { env } = cloudflareTest;
  return env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(String(chatId)));
};

/**
 * Stores `count` messages straight into the chat room's log (content `m0`, `m1`, …, senders taking
 * turns), for tests that need long histories without going through the per-user rate limit. They
 * reach D1 with the room's next copy, like any message. Returns their ids.
 */
export async function seedMessages(chatId: number, senders: TestUser[], count: number): Promise<number[]> {
  await api("GET", `/api/chats/${chatId}/messages?limit=1`, { token: senders[0]!.token }); // the room loads its members
  return runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    const internals = room as unknown as { log: MessageLog; d1Copy: { request(): void } };
    const now = Date.now();
    const ids = Array.from({ length: count }, (_, i) => {
      const sender = senders[i % senders.length]!.user;
      return internals.log.append({ sender, content: `m${i}`, createdAt: now + i }).id;
    });
    internals.d1Copy.request();
    return ids;
  });
}

/**
 * Stores `count` messages straight into D1 only, as a database from before rooms kept logs had
 * them (global AUTOINCREMENT-style ids, increasing within the chat). Returns their ids.
 */
export async function seedLegacyMessages(chatId: number, senders: TestUser[], count: number, firstId: number): Promise<number[]> {
  const { env } = cloudflareTest;
  const rows = Array.from({ length: count }, (_, i) => ({ i: firstId + 3 * i, s: senders[i % senders.length]!.user.id, c: `old${i}`, t: Date.now() + i }));
  await env.DB.prepare(
    `INSERT INTO messages (chat_id, id, sender_id, content, created_at)
     SELECT ?, json_extract(value, '$.i'), json_extract(value, '$.s'), json_extract(value, '$.c'), json_extract(value, '$.t') FROM json_each(?)`,
  )
    .bind(chatId, JSON.stringify(rows))
    .run();
  return rows.map((r) => r.i);
}

/** mulberry32: a tiny seeded PRNG (numbers in [0, 1)), so a randomised test replays from its seed. */
export function prng(seed: number): () => number {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Runs the chat room's copy to D1 now, instead of waiting for its alarm (about a second): for tests
 * that read D1's copy (the chat list, unread counts) right after sending. Resolves true when D1
 * then has everything the room has.
 */
export async function copyToD1Now(chatId: number): Promise<boolean> {
  return runInDurableObject(roomStub(chatId), async (room: ChatRoom) => {
    const copy = (room as unknown as { d1Copy: { run(): Promise<void>; pending(): boolean } }).d1Copy;
    for (let i = 0; i < 20 && copy.pending(); i++) await copy.run();
    return !copy.pending();
  });
}

/**
 * A D1 whose every query hangs forever (`hang`), rejects with `fault()` (`fail`: by default the way
 * an unreachable database does), or whose every call, `prepare` and `bind` included, throws `fault()`
 * at once (`throw`: a broken binding).
 */
export function brokenD1(mode: "hang" | "fail" | "throw", fault: () => unknown = () => new Error("D1_ERROR: Network connection lost.")): D1Database {
  if (mode === "throw") {
    const thrower = () => {
      throw fault();
    };
    return { prepare: thrower, batch: thrower, exec: thrower, dump: thrower, withSession: thrower } as unknown as D1Database;
  }
  const answer = () => (mode === "hang" ? new Promise<never>(() => {}) : Promise.reject(fault()));
  const statement = { bind: () => statement, first: answer, all: answer, run: answer, raw: answer } as unknown as D1PreparedStatement;
  // A read-replication session (src/db/bookmarks.ts) fails the same way as the binding.
  const session = { prepare: () => statement, batch: answer, getBookmark: () => null };
  return { prepare: () => statement, batch: answer, exec: answer, dump: answer, withSession: () => session } as unknown as D1Database;
}

/** D1's copy of a chat: how many rows, how many distinct ids, and the rows in id order. */
export async function d1Copy(chatId: number) {
  const { env } = cloudflareTest;
  const { results } = await env.DB.prepare("SELECT id, sender_id, content, client_id FROM messages WHERE chat_id = ? ORDER BY id")
    .bind(chatId)
    .all<{ id: number; sender_id: number; content: string; client_id: string | null }>();
  return { n: results.length, d: new Set(results.map((r) => r.id)).size, rows: results };
}

/**
 * The D1 binding, recording for each batch the rows it wrote (`meta.rows_written`, as D1 bills
 * them) and how many statements it ran.
 */
export function countingWrites(d1: D1Database) {
  const written: number[] = [];
  const statements: number[] = [];
  const counted = new Proxy(d1, {
    get(target, prop) {
      if (prop === "batch") {
        return async (batch: D1PreparedStatement[]) => {
          const results = await target.batch(batch);
          written.push(results.reduce((n, r) => n + r.meta.rows_written, 0));
          statements.push(batch.length);
          return results;
        };
      }
      const value = Reflect.get(target, prop, target) as unknown;
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { d1: counted, written, statements };
}

export type RoomMethod = "ready" | "storePending";

/** Polls `condition` (plain memory, no I/O) until it holds; fails after `timeoutMs`. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  for (const start = Date.now(); !(await condition()); ) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * Holds the room's next call of `method` until `release()`; `reached()` waits until that call has
 * started. Later calls run as usual. Both cross into the room only through `runInDurableObject`
 * (or a plain flag), so each side's work stays in its own I/O context.
 */
export async function holdNext(chatId: number, method: RoomMethod) {
  let open!: () => void;
  const released = new Promise<void>((resolve) => (open = resolve));
  let arrived = false;
  await runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    // Storing a group of sends is the room's writer's (src/room/message-writer.ts).
    const target = method === "storePending" ? (room as unknown as { writer: object }).writer : room;
    const own = target as unknown as Record<RoomMethod, ((...args: unknown[]) => unknown) | undefined>;
    const real = own[method]!.bind(target);
    own[method] = async (...args: unknown[]) => {
      delete own[method];
      arrived = true;
      await released;
      return real(...args);
    };
  });
  return {
    reached: () => until(() => arrived, `the room's ${method}`),
    release: () => runInDurableObject(roomStub(chatId), () => open()),
  };
}

export async function pendingSends(chatId: number): Promise<number> {
  return runInDurableObject(roomStub(chatId), (room: ChatRoom) => (room as unknown as { writer: { pending: unknown[] } }).writer.pending.length);
}
