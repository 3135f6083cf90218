/** A database that is down or hangs: clean 503s over HTTP, nothing hangs, and recovery is automatic. */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DatabaseUnavailable, isUnavailable, withDeadline } from "../../src/db/deadline";
import { database, type Database } from "../../src/db/client";
import { createApp } from "../../src/http/app";
import type { InboxRoom } from "../../src/inbox/inbox-room";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, InboxEvent, ServerEvent } from "../../src/protocol/events";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, BASE, connect, connectInbox, createGroup, register } from "./helpers";

afterEach(() => vi.restoreAllMocks());

/** A D1 whose every query hangs forever, or fails the way an unreachable database does. */
function brokenD1(mode: "hang" | "fail"): D1Database {
  const answer = () => (mode === "hang" ? new Promise<never>(() => {}) : Promise.reject(new Error("D1_ERROR: Network connection lost.")));
  const statement: D1PreparedStatement = {
    bind: () => statement,
    first: answer,
    all: answer,
    run: answer,
    raw: answer,
  } as unknown as D1PreparedStatement;
  return { prepare: () => statement, batch: answer, exec: answer, dump: answer, withSession: () => ({}) } as unknown as D1Database;
}

describe("withDeadline", () => {
  it("passes answers through and turns a hang into DatabaseUnavailable", async () => {
    const fast = withDeadline(env.DB, 1000);
    expect(await fast.prepare("SELECT ?1 AS x").bind(7).first()).toEqual({ x: 7 });
    const [a, b] = await fast.batch([fast.prepare("SELECT 1 AS one"), fast.prepare("SELECT 2 AS two").bind()]);
    expect([a!.results, b!.results]).toEqual([[{ one: 1 }], [{ two: 2 }]]);
    const slow = withDeadline(brokenD1("hang"), 50);
    await expect(slow.prepare("SELECT 1").all()).rejects.toBeInstanceOf(DatabaseUnavailable);
    await expect(slow.batch([slow.prepare("SELECT 1")])).rejects.toBeInstanceOf(DatabaseUnavailable);
  });

  it("tells an unreachable database from a wrong query", () => {
    expect(isUnavailable(new DatabaseUnavailable("x"))).toBe(true);
    expect(isUnavailable(new Error("D1_ERROR: Network connection lost."))).toBe(true);
    expect(isUnavailable(new Error("D1_ERROR: no such column: nope"))).toBe(false);
    expect(isUnavailable(new Error("timeout somewhere else"))).toBe(false);
    const wrapped = new Error("Failed query: select 1", { cause: new Error("D1_ERROR: Network connection lost.") });
    expect(isUnavailable(wrapped)).toBe(true);
  });
});

describe("the Worker with a degraded database", () => {
  it.each(["hang", "fail"] as const)("answers 503 unavailable with Retry-After when D1 %s, quickly", async (mode) => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const user = await register("degraded");
    const app = createApp();
    const started = Date.now();
    for (const [method, path, body] of [
      ["GET", "/api/chats", undefined],
      ["POST", "/api/auth/login", { username: user.user.username, password: user.password }],
      ["GET", "/api/users?q=a", undefined],
    ] as const) {
      const res = await app.request(
        path,
        { method, headers: { Authorization: `Bearer ${user.token}`, "Content-Type": "application/json" }, body: body && JSON.stringify(body) },
        { ...env, DB: brokenD1(mode), D1_TIMEOUT_MS: "200" },
      );
      expect(res.status).toBe(503);
      expect(res.headers.get("Retry-After")).toBe("1");
      expect(await res.json()).toEqual({ error: expect.any(String), code: ErrorCode.Unavailable });
    }
    expect(Date.now() - started).toBeLessThan(3000);
    // The same app works again as soon as the database does.
    const ok = await app.request("/api/chats", { headers: { Authorization: `Bearer ${user.token}` } }, env);
    expect(ok.status).toBe(200);
  });
});

describe("a room with a hung database", () => {
  it("fails sends with error internal after the deadline, acks and delivers nothing, and recovers", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const [ann, bob] = await Promise.all([register("hang"), register("wait")]);
    const chat = await createGroup(ann, [bob]);
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    const stub = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(String(chat.id)));
    type Internals = { d1: D1Database; writer?: unknown };
    await runInDurableObject(stub, (room: ChatRoom) => {
      const internals = room as unknown as Internals;
      internals.d1 = withDeadline(brokenD1("hang"), 200);
      internals.writer = undefined;
    });
    const started = Date.now();
    a.sendJson(ClientEvent.SendMessage, { content: "into the void", clientId: "v1" });
    expect(await a.next(ServerEvent.Error)).toMatchObject({ code: ErrorCode.Internal, clientId: "v1" });
    expect(Date.now() - started).toBeLessThan(2000);
    const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "over http" } });
    expect(posted.status).toBe(503);
    expect(posted.body).toEqual({ error: expect.any(String), code: ErrorCode.Unavailable });
    await runInDurableObject(stub, (room: ChatRoom) => {
      const internals = room as unknown as Internals;
      internals.d1 = withDeadline(env.DB, 5000);
      internals.writer = undefined;
    });
    a.sendJson(ClientEvent.SendMessage, { content: "into the void", clientId: "v1" });
    const ack = await a.next(ServerEvent.MessageSent);
    expect((await b.next(ServerEvent.ReceiveMessage)).id).toBe(ack.messageId);
    expect(a.of(ServerEvent.MessageSent)).toHaveLength(1);
    expect(b.of(ServerEvent.ReceiveMessage)).toHaveLength(1);
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token });
    expect(history.body.messages.map((m: { content: string }) => m.content)).toEqual(["into the void"]);
    a.close();
    b.close();
  });
});

describe("an inbox with a failing database", () => {
  it("refuses the socket with 503 unavailable rather than listen unrecorded, and recovers", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const mia = await register("mia");
    const stub = env.INBOX.get(env.INBOX.idFromName(String(mia.user.id)));
    const setDb = (d1: D1Database) =>
      runInDurableObject(stub, (inbox: InboxRoom) => void ((inbox as unknown as { db: Database }).db = database(d1)));
    await setDb(withDeadline(brokenD1("fail"), 200));
    const refused = await SELF.fetch(`${BASE}/api/inbox/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${mia.token}` } });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toEqual({ error: expect.any(String), code: ErrorCode.Unavailable });
    expect(refused.webSocket).toBeNull();
    await setDb(withDeadline(env.DB, 5000));
    const inbox = await connectInbox(mia.token);
    expect(inbox.of(InboxEvent.InboxReady)).toEqual([{ userId: mia.user.id }]);
    inbox.close();
  });
});
