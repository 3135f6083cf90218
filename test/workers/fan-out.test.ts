/**
 * The room's fan-out (src/room/fan-out.ts): a group of sends stored in one turn leaves together, and
 * a socket opened with `frames=batched` gets it as one array frame (docs/PROTOCOL.md, "Batched
 * frames"); every other socket gets the same events one frame each, as before. The group is formed
 * by holding the room's store step at a gate while the sends arrive.
 */
import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import { BASE, connect, createGroup, holdNext, pendingSends, register, until } from "./helpers";

const N = 20;

describe("batched frames", () => {
  it("a group stored in one turn reaches a batching socket as one array frame, in order and once; a plain socket gets a frame per event", async () => {
    const [ann, bob, cid] = await Promise.all([register("fo"), register("fo"), register("fo")]);
    const chat = await createGroup(ann, [bob, cid]);
    const a = await connect(chat.id, ann.token, "?frames=batched");
    const b = await connect(chat.id, bob.token, "?frames=batched");
    const c = await connect(chat.id, cid.token);
    // The presence frames of the connects first, so what follows is the group's alone.
    await a.next(ServerEvent.UserOnline, 2);
    await b.next(ServerEvent.UserOnline, 1);
    const seen = { a: a.eventsPerFrame.length, b: b.eventsPerFrame.length, c: c.eventsPerFrame.length };

    const held = await holdNext(chat.id, "storePending");
    for (let i = 0; i < N; i++) a.sendJson(ClientEvent.SendMessage, { content: `m${i}`, clientId: `k${i}` });
    // Typing after a send still waiting is announced after it, in the same group.
    a.sendJson(ClientEvent.TypingStart, {});
    await held.reached();
    await until(async () => (await pendingSends(chat.id)) === N, `${N} sends waiting`);
    await held.release();

    await a.next(ServerEvent.MessageSent, N);
    await b.next(ServerEvent.UserTyping);
    await c.next(ServerEvent.UserTyping);
    const contents = Array.from({ length: N }, (_, i) => `m${i}`);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(contents);
    expect(c.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(contents);
    expect(a.of(ServerEvent.MessageSent).map((m) => m.clientId)).toEqual(contents.map((_, i) => `k${i}`));
    expect(a.of(ServerEvent.ReceiveMessage)).toEqual([]);
    // One frame for the whole group on the batching sockets (the sender's acks; the messages and
    // the typing after them); one per event on the plain socket.
    expect(a.eventsPerFrame.slice(seen.a)).toEqual([N]);
    expect(b.eventsPerFrame.slice(seen.b)).toEqual([N + 1]);
    expect(c.eventsPerFrame.slice(seen.c)).toEqual(Array(N + 1).fill(1));
    expect(b.frames.at(-1)).toMatchObject({ event: ServerEvent.UserTyping, data: { user: { id: ann.user.id } } });
    for (const s of [a, b, c]) s.close();
  });

  it("a single event is a plain frame on a batching socket too, and an HTTP post reaches it as one", async () => {
    const [ann, bob] = await Promise.all([register("fo"), register("fo")]);
    const chat = await createGroup(ann, [bob]);
    const b = await connect(chat.id, bob.token, "?frames=batched");
    const res = await SELF.fetch(`${BASE}/api/chats/${chat.id}/messages`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ann.token}`, "Content-Type": "application/json" },
      body: JSON.stringify({ content: "over http" }),
    });
    expect(res.status).toBe(201);
    await b.next(ServerEvent.ReceiveMessage);
    expect(b.eventsPerFrame.at(-1)).toBe(1);
    b.close();
  });

  it("refuses a frames value other than batched before the upgrade (400)", async () => {
    const [ann, bob] = await Promise.all([register("fo"), register("fo")]);
    const chat = await createGroup(ann, [bob]);
    const res = await SELF.fetch(`${BASE}/api/chats/${chat.id}/ws?frames=all`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${ann.token}` } });
    expect(res.status).toBe(400);
    expect((await res.json<{ code: string }>()).code).toBe("bad_request");
  });
});
