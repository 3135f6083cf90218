/**
 * The corners the delivery rules must hold in: a slow D1, a replay longer than its limit, live
 * messages during a replay, and removals racing connects or failing half-way.
 */
import { env, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { withDeadline } from "../../src/db/deadline";
import { CloseCode, ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import { limits } from "../../src/protocol/limits";
import type { Message } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import type { RoomMembers } from "../../src/room/log/members";
import { api, BASE, brokenD1, connect, copyToD1Now, createGroup, register, roomStub, seedMessages, TestSocket, type TestUser, twoInAChat } from "./helpers";

afterEach(() => vi.restoreAllMocks());

/** Pages `GET …/messages?after=` from `after` to the end, as a client does after `hasMore`. */
async function pageFrom(chatId: number, user: TestUser, after: number): Promise<Message[]> {
  const all: Message[] = [];
  for (let hasMore = true; hasMore; ) {
    const res = await api("GET", `/api/chats/${chatId}/messages?after=${after}&limit=100`, { token: user.token });
    expect(res.status).toBe(200);
    all.push(...res.body.messages);
    hasMore = res.body.hasMore;
    after = all.at(-1)?.id ?? after;
  }
  return all;
}

describe("a stored message reaches every socket exactly once", () => {
  it("even when D1 answers slower than its deadline: the ack and the live delivery do not wait for it", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { chat, a, b } = await twoInAChat("slow", "watch");
    // Every D1 call takes 300 ms and the deadline is 50 ms: each copy to D1 "fails" although it commits late.
    const slow = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "batch") return async (s: D1PreparedStatement[]) => (await new Promise((r) => setTimeout(r, 300)), target.batch(s));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => void ((room as unknown as { d1: D1Database }).d1 = withDeadline(slow, 50)));
    a.sendJson(ClientEvent.SendMessage, { content: "late commit", clientId: "x1" });
    const ack = await a.next(ServerEvent.MessageSent);
    expect(await b.next(ServerEvent.ReceiveMessage)).toMatchObject({ id: ack.messageId, content: "late commit" });
    // The client did not see its ack (say, a dropped connection) and resends: same id, no second delivery.
    a.sendJson(ClientEvent.SendMessage, { content: "late commit", clientId: "x1" });
    expect((await a.next(ServerEvent.MessageSent, 2)).messageId).toBe(ack.messageId);
    a.sendJson(ClientEvent.SendMessage, { content: "next", clientId: "x2" });
    await b.next(ServerEvent.ReceiveMessage, 2);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["late commit", "next"]);
    a.close();
    b.close();
  });
});

describe("replays longer than the limit", () => {
  it("end with replay_done naming where to page from, and paging brings the rest: 1,500 missed, none lost", async () => {
    const [ann, bob] = await Promise.all([register("away"), register("long")]);
    const chat = await createGroup(ann, [bob]);
    const ids = await seedMessages(chat.id, [ann], 1500);
    const b = await connect(chat.id, bob.token, "?since=0");
    const done = await b.next(ServerEvent.ReplayDone);
    const replayed = b.of(ServerEvent.ReceiveMessage).map((m) => m.id);
    expect(replayed).toEqual(ids.slice(0, limits.replayMax));
    expect(done).toEqual({ chatId: chat.id, lastId: ids[limits.replayMax - 1], hasMore: true, lastChangeId: 0, hasMoreChanges: false });
    const paged = await pageFrom(chat.id, bob, done.lastId);
    expect([...replayed, ...paged.map((m) => m.id)]).toEqual(ids);

    // Nothing missed: replay_done says so, with the newest id.
    const c = await connect(chat.id, bob.token, `?since=${ids[1400]}`);
    expect(await c.next(ServerEvent.ReplayDone)).toEqual({ chatId: chat.id, lastId: ids.at(-1), hasMore: false, lastChangeId: 0, hasMoreChanges: false });
    expect(c.of(ServerEvent.ReceiveMessage)).toHaveLength(99);
    b.close();
    c.close();
  });

  it("delivers messages committed while a 1,000-message replay is under way exactly once and in order", async () => {
    const [ann, bob, cid] = await Promise.all([register("busy"), register("join"), register("post")]);
    const chat = await createGroup(ann, [bob, cid]);
    await seedMessages(chat.id, [ann], 990);
    const a = await connect(chat.id, ann.token);
    // Bob connects with a replay of ~1,000 while Ann and Cid keep sending over the socket and HTTP.
    const joining = SELF.fetch(`${BASE}/api/chats/${chat.id}/ws?since=0`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${bob.token}` } });
    const posts = Array.from({ length: 10 }, (_, i) => api("POST", `/api/chats/${chat.id}/messages`, { token: cid.token, body: { content: `http ${i}` } }));
    for (let i = 0; i < 10; i++) a.sendJson(ClientEvent.SendMessage, { content: `ws ${i}`, clientId: `w${i}` });
    const res = await joining;
    res.webSocket!.accept();
    const b = new TestSocket(res.webSocket!);
    await Promise.all(posts);
    await a.next(ServerEvent.MessageSent, 10);
    const done = await b.next(ServerEvent.ReplayDone);
    // After the replay, Bob is sent every message committed after his socket was accepted.
    a.sendJson(ClientEvent.SendMessage, { content: "last", clientId: "w-last" });
    await b.until((s) => s.of(ServerEvent.ReceiveMessage).some((m) => m.content === "last"), "the last message");
    const onSocket = b.of(ServerEvent.ReceiveMessage).map((m) => m.id);
    expect([...onSocket].sort((x, y) => x - y)).toEqual(onSocket);
    expect(new Set(onSocket).size).toBe(onSocket.length);
    // Whatever the replay left out (hasMore) is paged; together they are the whole chat, once each.
    const paged = done.hasMore ? (await pageFrom(chat.id, bob, done.lastId)).map((m) => m.id) : [];
    const seen = [...new Set([...onSocket, ...paged])].sort((x, y) => x - y);
    const all = (await pageFrom(chat.id, bob, 0)).map((m) => m.id);
    expect(all).toHaveLength(990 + 21);
    expect(seen).toEqual(all);
    a.close();
    b.close();
  });
});

describe("a removed member receives nothing more", () => {
  it("when the room's write of the removal fails, nothing changes, and the admin's retry completes it", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { ann, bob, chat, a, b } = await twoInAChat("admin", "gone");
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const members = (room as unknown as { members: RoomMembers }).members;
      const real = members.leave.bind(members);
      members.leave = () => {
        members.leave = real;
        throw new Error("simulated failure in the room");
      };
    });
    const failed = await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token });
    expect(failed.status).toBe(500);
    // Still a member everywhere: the room decided nothing, and Bob still hears the chat.
    expect((await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).body.members.map((m: { id: number }) => m.id)).toContain(bob.user.id);
    a.sendJson(ClientEvent.SendMessage, { content: "still here?", clientId: "r1" });
    expect((await b.next(ServerEvent.ReceiveMessage)).content).toBe("still here?");

    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    await b.until((s) => s.closed !== null, "close");
    expect(b.closed!.code).toBe(CloseCode.Removed);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).body.members.map((m: { id: number }) => m.id)).not.toContain(bob.user.id);
    a.close();
  });

  it("when D1's copy of the removal fails, the room's removal stands and D1 follows once it can", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { ann, bob, chat, a, b } = await twoInAChat("keeps", "ghost");
    const room = roomStub(chat.id);
    await runInDurableObject(room, (r: ChatRoom) => void ((r as unknown as { d1: D1Database }).d1 = brokenD1("fail")));
    // The room decided: 204 although D1 could not be written.
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    await b.until((s) => s.closed !== null, "close");
    expect(b.closed!.code).toBe(CloseCode.Removed);
    const row = await env.DB.prepare("SELECT 1 AS here FROM chat_members WHERE chat_id = ? AND user_id = ?").bind(chat.id, bob.user.id).first();
    expect(row).toEqual({ here: 1 });
    const upgrade = await SELF.fetch(`${BASE}/api/chats/${chat.id}/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${bob.token}` } });
    expect(upgrade.status).toBe(403);
    for (const res of [
      await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token }),
      await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "let me in" } }),
    ]) {
      expect(res.status).toBe(403);
      expect(res.body.code).toBe(ErrorCode.Forbidden);
    }
    // D1 is back: the next copy (the alarm's retry) removes him there too.
    await runInDurableObject(room, (r: ChatRoom) => void ((r as unknown as { d1: D1Database }).d1 = withDeadline(env.DB, 5000)));
    expect(await copyToD1Now(chat.id)).toBe(true);
    expect(await env.DB.prepare("SELECT 1 FROM chat_members WHERE chat_id = ? AND user_id = ?").bind(chat.id, bob.user.id).first()).toBeNull();
    a.close();
  });

  it("when the removal races the member's connect: either refused, or closed with 4003, never left listening", async () => {
    for (let round = 0; round < 5; round++) {
      const [ann, bob] = await Promise.all([register("race"), register("late")]);
      const chat = await createGroup(ann, [bob]);
      const a = await connect(chat.id, ann.token);
      const [upgrade, removal] = await Promise.all([
        SELF.fetch(`${BASE}/api/chats/${chat.id}/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${bob.token}` } }),
        api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token }),
      ]);
      expect(removal.status).toBe(204);
      a.sendJson(ClientEvent.SendMessage, { content: "after the removal", clientId: `after${round}` });
      await a.next(ServerEvent.MessageSent);
      if (upgrade.status === 101) {
        upgrade.webSocket!.accept();
        const b = new TestSocket(upgrade.webSocket!);
        await b.until((s) => s.closed !== null, "close");
        expect(b.closed!.code).toBe(CloseCode.Removed);
        expect(b.of(ServerEvent.ReceiveMessage)).toEqual([]);
      } else {
        expect(upgrade.status).toBe(403);
      }
      a.close();
    }
  });
});
