/**
 * A group of socket sends stored together: plain sends go in multi-row runs, anything else writes
 * the run before it and is stored alone, and the outcome is what storing them one by one gives.
 * The group is made by hand inside the room (its writer's pending sends, then `storePending`), so which
 * sends share a group does not depend on timing.
 */
import { runInDurableObject } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { Message } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import type { Draft, MessageLog } from "../../src/room/log/messages";
import { api, roomStub, twoInAChat } from "./helpers";

afterEach(() => vi.restoreAllMocks());

interface PendingSend {
  content: string;
  clientId?: string;
  replyToId?: number;
  attachmentIds?: string[];
}

interface RoomInside {
  ctx: DurableObjectState;
  log: MessageLog & { appendAll: MessageLog["appendAll"] };
  attachment(ws: WebSocket): { user: unknown; session: unknown };
  /** The room's send path (src/room/message-writer.ts). */
  writer: { pending: unknown[]; storePending(): void };
}

/**
 * Stores `sends` from `userId`'s socket as one group; returns the sizes of the log writes it made.
 * `fail`: every log write throws, as a storage write that fails does.
 */
async function storeGroup(chatId: number, userId: number, sends: PendingSend[], fail = false): Promise<number[]> {
  return runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    const inside = room as unknown as RoomInside;
    const writes: number[] = [];
    const real = inside.log.appendAll.bind(inside.log);
    inside.log.appendAll = (drafts: Draft[]) => {
      writes.push(drafts.length);
      if (fail) throw new Error("SQLITE_FULL: simulated storage failure");
      return real(drafts);
    };
    const [from] = inside.ctx.getWebSockets(String(userId));
    const { user, session } = inside.attachment(from!);
    inside.writer.pending = sends.map((s) => ({ user, session, clientId: undefined, replyToId: undefined, attachmentIds: undefined, ...s, from }));
    try {
      inside.writer.storePending();
    } finally {
      delete (inside.log as Partial<Pick<MessageLog, "appendAll">>).appendAll;
    }
    return writes;
  });
}

describe("a group of sends", () => {
  it("is stored in runs of plain sends, each other send alone, with the outcome of storing one by one", async () => {
    const { ann, chat, a, b } = await twoInAChat("ann", "bob");
    a.sendJson(ClientEvent.SendMessage, { content: "before", clientId: "k-before" });
    const before = await a.next(ServerEvent.MessageSent);

    const plain = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => ({ content: `m${from + i}`, clientId: `k${from + i}` }));
    const writes = await storeGroup(chat.id, ann.user.id, [
      // 14 plain sends: more than one INSERT holds (12 rows), so two statements in one transaction.
      ...plain(0, 14),
      // A resend of one still in the run: the run is written first, and the resend answered with it.
      { content: "m3", clientId: "k3" },
      { content: "a reply", clientId: "k-reply", replyToId: before.messageId },
      { content: "with a file nobody uploaded", clientId: "k-file", attachmentIds: ["nope"] },
      ...plain(14, 17),
    ]);
    // The first run (14), the reply alone (1), the last run (3); the resend and the refusal wrote nothing.
    expect(writes).toEqual([14, 1, 3]);

    await a.next(ServerEvent.MessageSent, 1 + 14 + 1 + 1 + 3);
    await a.next(ServerEvent.Error);
    const acks = a.of(ServerEvent.MessageSent).slice(1);
    const first = before.messageId + 1;
    expect(acks.map((m) => [m.clientId, m.messageId])).toEqual([
      ...Array.from({ length: 14 }, (_, i) => [`k${i}`, first + i]),
      ["k3", first + 3],
      ["k-reply", first + 14],
      ...Array.from({ length: 3 }, (_, i) => [`k${14 + i}`, first + 15 + i]),
    ]);
    expect(a.of(ServerEvent.Error)).toEqual([expect.objectContaining({ code: ErrorCode.BadRequest, clientId: "k-file" })]);

    const contents = ["before", ...plain(0, 14).map((s) => s.content), "a reply", ...plain(14, 17).map((s) => s.content)];
    await b.next(ServerEvent.ReceiveMessage, contents.length);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(contents);
    expect(b.of(ServerEvent.ReceiveMessage).find((m) => m.content === "a reply")?.replyTo).toMatchObject({ id: before.messageId });
    const history = await api("GET", `/api/chats/${chat.id}/messages?limit=100`, { token: ann.token });
    expect(history.body.messages.map((m: Message) => [m.id, m.content])).toEqual(contents.map((c, i) => [before.messageId + i, c]));
    a.close();
    b.close();
  });

  it("a run that cannot be written is answered error internal for each of its sends, and their resends are stored once", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { ann, chat, a, b } = await twoInAChat("ann", "bob");
    const sends = [0, 1, 2].map((i) => ({ content: `m${i}`, clientId: `k${i}` }));
    expect(await storeGroup(chat.id, ann.user.id, sends, true)).toEqual([3]);
    await a.next(ServerEvent.Error, 3);
    expect(a.of(ServerEvent.Error).map((e) => [e.code, e.clientId])).toEqual(sends.map((s) => [ErrorCode.Internal, s.clientId]));

    // Nothing of the run took an id or reached anyone: the resends are the chat's messages 1 to 3.
    for (const s of sends) a.sendJson(ClientEvent.SendMessage, s);
    await a.next(ServerEvent.MessageSent, 3);
    expect(a.of(ServerEvent.MessageSent).map((m) => [m.clientId, m.messageId])).toEqual([["k0", 1], ["k1", 2], ["k2", 3]]);
    await b.next(ServerEvent.ReceiveMessage, 3);
    expect(b.of(ServerEvent.ReceiveMessage).map((m) => [m.id, m.content])).toEqual([[1, "m0"], [2, "m1"], [3, "m2"]]);
    expect(a.of(ServerEvent.ReceiveMessage)).toEqual([]);
    a.close();
    b.close();
  });
});
