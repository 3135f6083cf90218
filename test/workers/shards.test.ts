/**
 * Fan-out shards (src/fanout, src/room/shards.ts), run with FANOUT_SHARD_SOCKETS = 1 (the "sharded"
 * vitest project): the room holds one socket itself and every other socket goes to a shard holding
 * one. What the rest of the sharded suite cannot reach: placement by region, and the corners of
 * exactly once — a failed delivery, a join answered after later operations, a room that restarts
 * without knowing what it sent, a shard that restarts and loses its sockets. Races are held at a
 * gate, not timed.
 */
import { env, evictDurableObject, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { Op, Position } from "../../src/fanout/batch";
import type { FanoutShard } from "../../src/fanout/shard";
import { CloseCode, ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, BASE, connect, roomStub, TestSocket, threeInAGroup, twoInAChat } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const shardStub = (name: string) => env.FANOUT_SHARD.get(env.FANOUT_SHARD.idFromName(name));

interface RoomShardsInternals {
  shards: { names: Set<string>; count: number; links: Map<string, { stub: unknown }> };
}
interface ShardInternals {
  room: unknown;
  recent: { ops: { at: Position; op: Op }[] };
  toRoom: { push(item: unknown): void };
}

/** How the room's sockets are spread: its own, on shards, and the shards it uses. */
const spread = (chatId: number) =>
  runInDurableObject(roomStub(chatId), (room: ChatRoom, state) => {
    const { shards } = room as unknown as RoomShardsInternals;
    return { own: state.getWebSockets().length, remote: shards.count, names: [...shards.names].sort() };
  });

/** Polls `condition` until it holds; fails after `timeoutMs`. */
async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 5000) {
  for (const start = Date.now(); !(await condition()); ) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function sent(socket: TestSocket, content: string) {
  socket.sendJson(ClientEvent.SendMessage, { content, clientId: content });
  await socket.until((s) => s.of(ServerEvent.MessageSent).some((a) => a.clientId === content), `ack of ${content}`);
  return socket.of(ServerEvent.MessageSent).find((a) => a.clientId === content)!.messageId;
}

const contents = (s: TestSocket) => s.of(ServerEvent.ReceiveMessage).map((m) => m.content);


describe("placement", () => {
  it("the room holds its share; later sockets go to shards of the caller's region, and a forged region header is ignored", async () => {
    const { ann, bob, cid, chat } = await threeInAGroup(["sa", "sb", "sc"]);
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token, "", { headers: { "X-Edge-Chat-Near": "eeur" } });
    const c = await connect(chat.id, cid.token, "", { cf: { continent: "EU", longitude: "2.35" } });
    expect(await spread(chat.id)).toEqual({ own: 1, remote: 2, names: [`${chat.id}/any/0`, `${chat.id}/weur/0`] });
    // Nothing about the placement reaches a client, and presence spans the room and its shards.
    expect(c.of(ServerEvent.JoinedChat)[0]!.online.map((u) => u.id).sort()).toEqual([ann.user.id, bob.user.id, cid.user.id].sort());

    // A shard's socket is served as the room's own: its errors and acks come back to it alone.
    b.sendJson(ClientEvent.SendMessage, { chatId: chat.id + 1000, content: "wrong", clientId: "w" });
    expect(await b.next(ServerEvent.Error)).toMatchObject({ code: ErrorCode.WrongChat, clientId: "w" });
    const id = await sent(b, "from a shard");
    expect((await a.next(ServerEvent.ReceiveMessage)).id).toBe(id);
    expect((await c.next(ServerEvent.ReceiveMessage)).id).toBe(id);
    expect(c.of(ServerEvent.Error)).toEqual([]);
    expect(b.of(ServerEvent.ReceiveMessage)).toEqual([]);

    // A shard that empties is dropped from the list the room keeps.
    b.close();
    await a.next(ServerEvent.UserOffline);
    expect((await spread(chat.id)).names).toEqual([`${chat.id}/weur/0`]);
    for (const s of [a, c]) s.close();
  });
});

describe("exactly once when deliveries go wrong", () => {
  it("a failed delivery closes the shard's sockets with 1012; a reconnect with since gets what they missed, once, in order", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { bob, chat, a, b } = await twoInAChat("sa", "sb");
    await sent(a, "one");
    await b.until((s) => contents(s).length === 1, "one");
    // The next call to Bob's shard fails (as a call to an overloaded or moving object can).
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const link = (room as unknown as RoomShardsInternals).shards.links.get(`${chat.id}/any/0`)!;
      link.stub = { deliver: () => Promise.reject(new Error("simulated: the shard did not answer")) };
    });
    await sent(a, "two");
    await b.until((s) => s.closed !== null, "the close");
    expect(b.closed!.code).toBe(1012);
    await sent(a, "three");
    const back = await connect(chat.id, bob.token, `?since=${b.of(ServerEvent.ReceiveMessage).at(-1)!.id}`);
    await back.next(ServerEvent.ReplayDone);
    await sent(a, "four");
    await back.until((s) => contents(s).includes("four"), "four");
    expect(contents(b)).toEqual(["one"]);
    expect(contents(back)).toEqual(["two", "three", "four"]);
    a.close();
    back.close();
  });

  it("a join the room answered after later operations reached the shard gets them from the shard, once, after its replay", async () => {
    const { ann, bob, chat } = await threeInAGroup(["sa", "sb", "sc"]);
    const a = await connect(chat.id, ann.token);
    await sent(a, "before");
    const name = `${chat.id}/any/0`;
    // Hold the room's answer to the shard: Bob is in the room's order, the shard has not accepted him yet.
    await runInDurableObject(shardStub(name), (shard: FanoutShard) => {
      const own = shard as unknown as ShardInternals & { gate?: () => void; arrived?: boolean };
      const real = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(String(chat.id)));
      const released = new Promise<void>((resolve) => (own.gate = resolve));
      own.room = {
        joinRemote: async (...args: Parameters<ChatRoom["joinRemote"]>) => {
          const answer = await real.joinRemote(...args);
          own.arrived = true;
          await released;
          return answer;
        },
        fromShard: (...args: Parameters<ChatRoom["fromShard"]>) => real.fromShard(...args),
      };
    });
    const joining = SELF.fetch(`${BASE}/api/chats/${chat.id}/ws?since=0`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${bob.token}` } });
    const shardSays = <T>(read: (own: ShardInternals & { arrived?: boolean }) => T) => runInDurableObject(shardStub(name), (shard: FanoutShard) => read(shard as unknown as ShardInternals & { arrived?: boolean }));
    await until(() => shardSays((own) => own.arrived === true), "the room's answer");
    for (const content of ["m1", "m2", "m3"]) await sent(a, content);
    await until(() => shardSays((own) => own.recent.ops.filter(({ op }) => op.kind === "all" && op.frame.includes('"m3"')).length === 1), "m3 at the shard");
    await runInDurableObject(shardStub(name), (shard: FanoutShard) => (shard as unknown as { gate: () => void }).gate());
    const res = await joining;
    res.webSocket!.accept();
    const b = new TestSocket(res.webSocket!);
    await b.until((s) => contents(s).includes("m3"), "m3");
    const events = b.frames.flatMap((f) => (f === "pong" ? [] : [f.event === ServerEvent.ReceiveMessage ? (f.data as { content: string }).content : f.event]));
    expect(events).toEqual([ServerEvent.JoinedChat, "before", ServerEvent.ReplayDone, "m1", "m2", "m3"]);
    a.close();
    b.close();
  });

  it("a room that restarts without a record that its last operations went out closes its shards' sockets, which miss nothing", async () => {
    const { bob, chat, a, b } = await twoInAChat("sa", "sb");
    await sent(a, "one");
    await b.until((s) => contents(s).length === 1, "one");
    // As after a crash between storing a message and sending it to the shards: the record is behind the log.
    const recorded = () => runInDurableObject(roomStub(chat.id), (_room: ChatRoom, state) => state.storage.kv.get<{ messageId: number }>("fanout:delivered")?.messageId);
    await until(async () => (await recorded()) === b.of(ServerEvent.ReceiveMessage)[0]!.id, "the record of what was sent");
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom, state) => {
      (room as unknown as { shards: { watermark: unknown } }).shards.watermark = { messageId: 0, changeId: 0 };
      state.storage.kv.put("fanout:delivered", { messageId: 0, changeId: 0 });
    });
    await evictDurableObject(roomStub(chat.id), { webSockets: "hibernate" });
    await sent(a, "two");
    await b.until((s) => s.closed !== null, "the close");
    expect(b.closed!.code).toBe(1012);
    const back = await connect(chat.id, bob.token, `?since=${b.of(ServerEvent.ReceiveMessage).at(-1)!.id}`);
    await back.next(ServerEvent.ReplayDone);
    expect([...contents(b), ...contents(back)]).toEqual(["one", "two"]);
    a.close();
    back.close();
  });

  it("a shard that restarted and lost its sockets without a word is found out at the next delivery: its users go offline", async () => {
    const { bob, chat, a, b } = await twoInAChat("sa", "sb");
    const name = `${chat.id}/any/0`;
    // A crash tells nobody: the shard's closes never reach the room.
    await runInDurableObject(shardStub(name), (shard: FanoutShard) => void ((shard as unknown as ShardInternals).toRoom.push = () => {}));
    await evictDurableObject(shardStub(name), { webSockets: "close" });
    await b.until((s) => s.closed !== null, "the shard's sockets gone");
    expect(a.of(ServerEvent.UserOffline)).toEqual([]);
    await sent(a, "anyone there?");
    expect(await a.next(ServerEvent.UserOffline)).toEqual({ chatId: chat.id, user: bob.user });
    expect((await spread(chat.id)).remote).toBe(0);
    a.close();
  });
});

describe("closes reach every shard", () => {
  it("a removal closes the member's sockets on every shard with 4003; a logout closes another's with 4001 before its answer", async () => {
    const { ann, bob, cid, chat } = await threeInAGroup(["sa", "sb", "sc"]);
    const a = await connect(chat.id, ann.token);
    const bobs = [await connect(chat.id, bob.token), await connect(chat.id, bob.token)];
    const cids = [await connect(chat.id, cid.token), await connect(chat.id, cid.token)];
    expect(await spread(chat.id)).toMatchObject({ own: 1, remote: 4 });

    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    for (const s of bobs) await s.until((x) => x.closed !== null, "bob's close");
    expect(bobs.map((s) => s.closed!.code)).toEqual([CloseCode.Removed, CloseCode.Removed]);

    expect((await api("POST", "/api/auth/logout", { token: cid.token })).status).toBe(204);
    // Closed before the 204: a frame from either would not be served.
    await Promise.all(cids.map((s) => s.until((x) => x.closed !== null, "cid's close", 1000)));
    expect(cids.map((s) => s.closed!.code)).toEqual([CloseCode.SessionEnded, CloseCode.SessionEnded]);
    await sent(a, "after");
    for (const s of [...bobs, ...cids]) expect(contents(s)).toEqual([]);
    a.close();
  });
});

describe("batches", () => {
  it("a burst reaches each shard in few calls, every socket in the room's order", async () => {
    const { ann, bob, cid, chat } = await threeInAGroup(["sa", "sb", "sc"]);
    const sockets = [await connect(chat.id, ann.token), await connect(chat.id, bob.token), await connect(chat.id, cid.token), await connect(chat.id, cid.token)];
    // Counts the deliveries Bob's shard answers, and the operations it applies.
    await runInDurableObject(shardStub(`${chat.id}/any/0`), (shard: FanoutShard) => {
      const own = shard as unknown as { delivered(): unknown; recent: { add(...args: unknown[]): void }; calls: number; ops: number };
      const [delivered, add] = [own.delivered.bind(shard), own.recent.add.bind(own.recent)];
      Object.assign(own, { calls: 0, ops: 0 });
      own.delivered = () => (own.calls++, delivered());
      own.recent.add = (...args) => (own.ops++, add(...args));
    });
    // Two senders at once, on the room and on a shard, and HTTP posts: one order for everyone.
    for (let i = 0; i < 20; i++) {
      sockets[0]!.sendJson(ClientEvent.SendMessage, { content: `a${i}`, clientId: `a${i}` });
      sockets[2]!.sendJson(ClientEvent.SendMessage, { content: `c${i}`, clientId: `c${i}` });
    }
    await Promise.all(Array.from({ length: 5 }, (_, i) => api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: `h${i}` } })));
    const stored = async () => ((await api("GET", `/api/chats/${chat.id}/messages?limit=100`, { token: ann.token })).body.messages as { id: number }[]).map((m) => m.id);
    await until(async () => (await stored()).length === 45, "45 messages stored");
    const order = await stored();
    // A socket gets every message but those it sent (HTTP posts come from no socket).
    const expected = [25, 45, 25, 45];
    for (const [i, s] of sockets.entries()) await s.until((x) => x.of(ServerEvent.ReceiveMessage).length === expected[i], `socket ${i}`);
    for (const s of sockets) {
      const ids = s.of(ServerEvent.ReceiveMessage).map((m) => m.id);
      expect(ids).toEqual(order.filter((id) => ids.includes(id)));
    }
    // Bob's socket on shard 0 got 45 messages (and presence) in fewer calls than messages.
    const { calls, ops } = await runInDurableObject(shardStub(`${chat.id}/any/0`), (shard: FanoutShard) => shard as unknown as { calls: number; ops: number });
    expect(ops).toBeGreaterThanOrEqual(45);
    expect(calls).toBeLessThan(45);
    for (const s of sockets) s.close();
  });
});
