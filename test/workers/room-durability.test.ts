/**
 * Nothing is acknowledged or delivered unless the room's storage (the log of record) stored it;
 * after a failed write a resend with the same clientId is stored and delivered once.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { Message } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import type { MessageLog } from "../../src/room/log/messages";
import { api, copyToD1Now, roomStub, twoInAChat } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const STORAGE_ERROR = "SQLITE_FULL: simulated storage failure";

/**
 * Makes the room's log writes throw, as a storage write that fails does, or puts the real one back.
 * `appendAll` (every append goes through it) is called inside the room (not over RPC), so an own
 * property on the log shadows the method.
 */
async function breakStorage(chatId: number, failing: boolean) {
  await runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    const log = (room as unknown as { log: MessageLog & { appendAll: MessageLog["appendAll"] } }).log;
    if (failing) {
      log.appendAll = () => {
        throw new Error(STORAGE_ERROR);
      };
    } else {
      delete (log as Partial<Pick<MessageLog, "appendAll">>).appendAll;
    }
  });
}

describe("durability", () => {
  it("answers error internal, acks nothing and delivers nothing when the room's storage write fails, then stores a resend once", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { ann, bob, chat, a, b } = await twoInAChat("ann", "bob");
    a.sendJson(ClientEvent.SendMessage, { content: "before", clientId: "k0" });
    await a.next(ServerEvent.MessageSent);
    await b.next(ServerEvent.ReceiveMessage);

    await breakStorage(chat.id, true);
    a.sendJson(ClientEvent.SendMessage, { content: "lost?", clientId: "k1" });
    const error = await a.next(ServerEvent.Error);
    expect(error).toMatchObject({ code: ErrorCode.Internal, event: ClientEvent.SendMessage, clientId: "k1" });
    const post = await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "http lost?" } });
    expect(post.status).toBe(500);
    expect(post.body).toEqual({ error: expect.any(String), code: ErrorCode.Internal });
    expect(JSON.stringify(post.body)).not.toContain("SQLITE");

    await breakStorage(chat.id, false);
    a.sendJson(ClientEvent.SendMessage, { content: "lost?", clientId: "k1" });
    const ack = await a.next(ServerEvent.MessageSent, 2);
    expect(ack.clientId).toBe("k1");
    expect(await b.next(ServerEvent.ReceiveMessage, 2)).toMatchObject({ id: ack.messageId, content: "lost?" });
    // The resend is the first copy the room stored: the failed attempts took no id and reached no one
    // (anything sent for them would have reached these sockets before the frames above).
    expect(ack.messageId).toBe(2);
    expect(a.of(ServerEvent.MessageSent).map((m) => m.clientId)).toEqual(["k0", "k1"]);
    expect(a.of(ServerEvent.ReceiveMessage)).toEqual([]);
    expect(a.of(ServerEvent.Error)).toHaveLength(1);

    // Sent once more (its ack lost, say): acknowledged with the same message, not stored or delivered again.
    a.sendJson(ClientEvent.SendMessage, { content: "lost?", clientId: "k1" });
    expect((await a.next(ServerEvent.MessageSent, 3)).messageId).toBe(ack.messageId);
    a.sendJson(ClientEvent.SendMessage, { content: "after", clientId: "k2" });
    await b.next(ServerEvent.ReceiveMessage, 3);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["before", "lost?", "after"]);

    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(history.body.messages.map((m: Message) => [m.id, m.content])).toEqual([[1, "before"], [2, "lost?"], [3, "after"]]);
    // D1's copy gets the same messages, each once.
    expect(await copyToD1Now(chat.id)).toBe(true);
    const copied = await env.DB.prepare("SELECT count(*) AS n, count(DISTINCT id) AS d FROM messages WHERE chat_id = ?").bind(chat.id).first();
    expect(copied).toEqual({ n: 3, d: 3 });
    a.close();
    b.close();
  });
});
