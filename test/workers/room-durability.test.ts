/** Nothing is acknowledged or delivered unless D1 committed it; the room recovers by itself. */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { Draft, Stored } from "../../src/db/messages";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, connect, createGroup, register } from "./helpers";

type Writer = (drafts: readonly Draft[]) => Promise<Stored[]>;
const roomStub = (chatId: number) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(String(chatId)));

/** Swaps the room's write path (a private field) for one that fails like a D1 outage. */
async function breakWrites(chatId: number, failing: boolean) {
  await runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    const internals = room as unknown as { writer?: Writer; realWriter?: Writer };
    if (failing) {
      internals.realWriter = internals.writer;
      internals.writer = async () => {
        throw new Error("D1_ERROR: simulated outage");
      };
    } else {
      internals.writer = internals.realWriter;
    }
  });
}

describe("durability", () => {
  it("answers error internal, acks nothing and delivers nothing when the write fails, then recovers", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const chat = await createGroup(ann, [bob]);
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    a.sendJson(ClientEvent.SendMessage, { content: "before", clientId: "k0" });
    await a.next(ServerEvent.MessageSent);
    await b.next(ServerEvent.ReceiveMessage);

    await breakWrites(chat.id, true);
    a.sendJson(ClientEvent.SendMessage, { content: "lost?", clientId: "k1" });
    const error = await a.next(ServerEvent.Error);
    expect(error).toMatchObject({ code: ErrorCode.Internal, event: ClientEvent.SendMessage, clientId: "k1" });
    const post = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "http lost?" } });
    expect(post.status).toBe(500);
    expect(post.body).toEqual({ error: expect.any(String), code: ErrorCode.Internal });
    expect(JSON.stringify(post.body)).not.toContain("D1_ERROR");

    await breakWrites(chat.id, false);
    a.sendJson(ClientEvent.SendMessage, { content: "lost?", clientId: "k1" });
    const ack = await a.next(ServerEvent.MessageSent, 2);
    expect(ack.clientId).toBe("k1");
    await b.next(ServerEvent.ReceiveMessage, 2);
    expect(a.of(ServerEvent.MessageSent).map((m) => m.clientId)).toEqual(["k0", "k1"]);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["before", "lost?"]);
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(history.body.messages.map((m: { content: string }) => m.content)).toEqual(["before", "lost?"]);
    a.close();
    b.close();
  });
});
