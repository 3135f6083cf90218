/**
 * The inbox flush's one-pass unread query against the obvious per-member count, on chats built
 * through the real write path (so senders' markers move as in production) with random reads.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { addMember, createGroupChat, markRead, removeMember, unreadForOpenInboxes } from "../../src/db/chats";
import { database } from "../../src/db/client";
import { messageWriter } from "../../src/db/messages";
import { setInboxOpen } from "../../src/db/users";
import { prng, register, type TestUser } from "./helpers";

async function naiveUnread(chatId: number, userId: number): Promise<{ unread: number; marker: number | null }> {
  const row = await env.DB.prepare(
    `SELECT m.last_read_message_id AS marker,
       (SELECT count(*) FROM messages WHERE chat_id = ?1 AND id > coalesce(m.last_read_message_id, 0) AND sender_id != m.user_id) AS unread
     FROM chat_members m WHERE m.chat_id = ?1 AND m.user_id = ?2`,
  )
    .bind(chatId, userId)
    .first<{ marker: number | null; unread: number }>();
  return row!;
}

describe("unreadForOpenInboxes", () => {
  it("equals a per-member count for every member with an inbox open, and leaves out the others", async () => {
    const db = database(env.DB);
    const people: TestUser[] = [];
    for (let i = 0; i < 8; i++) people.push(await register("uq"));
    const [owner, ...rest] = people;
    const chatId = await createGroupChat(db, owner!.user.id, "Unread", rest.map((p) => p.user.id));
    const listening = people.filter((_, i) => i !== 3);
    for (const p of listening) await setInboxOpen(db, p.user.id, true);

    const next = prng(20261124);
    const write = messageWriter(env.DB, chatId);
    const ids: number[] = [];
    for (let round = 0; round < 12; round++) {
      const batch = Array.from({ length: 1 + Math.floor(next() * 15) }, (_, i) => {
        const sender = people[Math.floor(next() * people.length)]!.user;
        return { sender, content: `r${round} m${i}`, createdAt: Date.now() };
      });
      for (const stored of await write(batch)) ids.push(stored.message.id);
      // Some members read up to a random message so far, some never read.
      for (const p of people) if (next() < 0.3) await markRead(db, chatId, p.user.id, ids[Math.floor(next() * ids.length)]!);
    }

    const result = await unreadForOpenInboxes(db, chatId);
    expect(result.map((r) => r.userId).sort()).toEqual(listening.map((p) => p.user.id).sort());
    for (const r of result) {
      const expected = await naiveUnread(chatId, r.userId);
      expect({ userId: r.userId, unread: r.unreadCount, marker: r.lastReadMessageId }).toEqual({
        userId: r.userId,
        unread: expected.unread,
        marker: expected.marker,
      });
    }
    // The data is not trivial: someone has unread messages and someone has read some.
    expect(result.some((r) => r.unreadCount > 0)).toBe(true);
    expect(result.some((r) => r.lastReadMessageId !== null)).toBe(true);
  });

  it("does not count a re-added member's own earlier messages as unread", async () => {
    const db = database(env.DB);
    const [a, b] = [await register("uq"), await register("uq")];
    const chatId = await createGroupChat(db, a.user.id, "Again", [b.user.id]);
    for (const p of [a, b]) await setInboxOpen(db, p.user.id, true);
    const write = messageWriter(env.DB, chatId);
    await write([{ sender: a.user, content: "from a", createdAt: Date.now() }, { sender: b.user, content: "from b", createdAt: Date.now() }]);
    await removeMember(db, chatId, b.user.id);
    await addMember(db, chatId, b.user);
    await write([{ sender: a.user, content: "welcome back", createdAt: Date.now() }]);

    const result = await unreadForOpenInboxes(db, chatId);
    const back = result.find((r) => r.userId === b.user.id)!;
    expect({ unread: back.unreadCount, marker: back.lastReadMessageId }).toEqual(await naiveUnread(chatId, b.user.id));
  });

  it("returns nobody when no member has an inbox open", async () => {
    const db = database(env.DB);
    const [a, b] = [await register("uq"), await register("uq")];
    const chatId = await createGroupChat(db, a.user.id, "Quiet", [b.user.id]);
    await messageWriter(env.DB, chatId)([{ sender: a.user, content: "hi", createdAt: Date.now() }]);
    expect(await unreadForOpenInboxes(db, chatId)).toEqual([]);
  });
});
