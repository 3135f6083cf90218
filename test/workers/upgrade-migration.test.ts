/**
 * Upgrading a database from before rooms kept logs: migration 0004 keeps every message (now keyed
 * by chat and id), 0005 keeps them again in a WITHOUT ROWID table, the chat list reads them, and
 * they are what a room imports on first wake; 0009 re-indexes 0008's search entries in blocks and
 * the old messages stay findable (and editable). Runs the real migration files, step by step, on a
 * second local D1 that starts empty.
 */
import { applyD1Migrations, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadChats } from "../../src/db/chats";
import { database } from "../../src/db/client";
import { loadRoomStart, messagesForImport, roomCopier } from "../../src/db/room-copy";
import { findMessages } from "../../src/db/search";
import { searchTerms } from "../../src/db/search-text";
import { countingWrites } from "./helpers";

const allMessages = (d1: D1Database) =>
  d1.prepare("SELECT chat_id, id, sender_id, content, client_id, created_at FROM messages ORDER BY chat_id, id").all().then((r) => r.results);

describe("migrations 0004, 0005 and 0009 on a database with messages", () => {
  it("keeps every message with its id, chat, sender, content and time, and the chat list and import read them", async () => {
    const d1 = env.UPGRADE_DB;
    await applyD1Migrations(d1, env.TEST_MIGRATIONS.filter((m) => m.name < "0004"));
    // The old shape: one AUTOINCREMENT id across chats, and the chat's last message kept on the chat.
    await d1.batch([
      d1.prepare("INSERT INTO users (id, username, username_key, password_hash, password_salt, created_at) VALUES (1, 'Ann', 'ann', 'h', 's', 1), (2, 'Bob', 'bob', 'h', 's', 1)"),
      d1.prepare("INSERT INTO chats (id, type, name, created_at, last_message_id, last_activity_at) VALUES (10, 'group', 'A', 100, 4, 400), (11, 'group', 'B', 100, 3, 300)"),
      d1.prepare("INSERT INTO chat_members (chat_id, user_id, role, joined_at, last_read_message_id) VALUES (10, 1, 'admin', 100, 4), (10, 2, 'member', 101, 1), (11, 1, 'admin', 100, 3), (11, 2, 'member', 101, NULL)"),
      d1.prepare(
        `INSERT INTO messages (id, chat_id, sender_id, content, client_id, created_at) VALUES
         (1, 10, 1, 'a1', 'k1', 100), (2, 11, 1, 'b1', NULL, 200), (3, 11, 2, 'b2', NULL, 300), (4, 10, 1, 'a2', 'k2', 400)`,
      ),
    ]);

    const upgraded = [
      { chat_id: 10, id: 1, sender_id: 1, content: "a1", client_id: "k1", created_at: 100 },
      { chat_id: 10, id: 4, sender_id: 1, content: "a2", client_id: "k2", created_at: 400 },
      { chat_id: 11, id: 2, sender_id: 1, content: "b1", client_id: null, created_at: 200 },
      { chat_id: 11, id: 3, sender_id: 2, content: "b2", client_id: null, created_at: 300 },
    ];
    await applyD1Migrations(d1, env.TEST_MIGRATIONS.filter((m) => m.name < "0005"));
    expect(await allMessages(d1)).toEqual(upgraded);

    // 0008 indexed each message alone (rowid chat_id * 2^32 + id); 0009 re-indexes them in blocks.
    await applyD1Migrations(d1, env.TEST_MIGRATIONS.filter((m) => m.name < "0009"));
    const documents = (match: string) =>
      d1.prepare("SELECT rowid >> 32 AS chat, rowid & 4294967295 AS first FROM message_search WHERE message_search MATCH ? ORDER BY rowid").bind(match).all().then((r) => r.results);
    expect(await documents('"a1" OR "a2"')).toEqual([{ chat: 10, first: 1 }, { chat: 10, first: 4 }]);
    await applyD1Migrations(d1, env.TEST_MIGRATIONS);
    expect(await allMessages(d1)).toEqual(upgraded);
    // One document per chat now (ids 1–64 are one block), named by its first message.
    expect(await documents('"a1" OR "a2"')).toEqual([{ chat: 10, first: 1 }]);
    expect(await documents('"b1" OR "b2"')).toEqual([{ chat: 11, first: 2 }]);
    // WITHOUT ROWID: the key's b-tree is the table, with no separate index (also after any later
    // migration: one that rebuilds the table must keep it).
    const table = await d1.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'messages'").first<{ sql: string }>();
    expect(table!.sql).toMatch(/\)\s*WITHOUT ROWID\s*$/i);
    const indexes = await d1.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'messages'").all();
    expect(indexes.results).toEqual([]);
    // Keyed by (chat, id) now: the same id may be used by another chat.
    await roomCopier(d1, 11)([{ i: 1, s: 1, c: "other chat, same id", k: null, t: 50 }], []);

    const db = database(d1);
    // 0008 indexed the messages already there, 0009 again in blocks; the row just copied by the copy.
    const found = async (q: string) => {
      const { match, matcher } = searchTerms(q);
      return (await findMessages(db, 2, { terms: { match: match!, matcher }, limit: 10 })).map((m) => [m.chatId, m.id]);
    };
    expect(await found("a2")).toEqual([[10, 4]]);
    expect(await found("b")).toEqual([[11, 3], [11, 2]]);
    expect(await found('"same" "id"')).toEqual([[11, 1]]);
    // Words of two messages of one migrated block: the block matches, no message does.
    expect(await found('"a1" "a2"')).toEqual([]);
    const bobsChats = await loadChats(db, 2);
    expect(bobsChats.map((c) => [c.id, c.lastMessage?.content, c.unreadCount, c.lastReadMessageId])).toEqual([
      [10, "a2", 1, 1],
      [11, "b2", 2, null],
    ]);
    expect(await loadRoomStart(db, 10)).toEqual({
      chat: { id: 10, type: "group", name: "A", createdAt: expect.any(Number), slowModeSeconds: 0, retentionSeconds: null },
      members: expect.arrayContaining([
        { id: 1, username: "Ann", role: "admin", lastRead: 4, joinedAt: 100 },
        { id: 2, username: "Bob", role: "member", lastRead: 1, joinedAt: 101 },
      ]),
      blocks: [],
    });
    expect((await messagesForImport(db, 10, 0, 10)).map((m) => [m.id, m.senderName, m.content])).toEqual([
      [1, "Ann", "a1"],
      [4, "Ann", "a2"],
    ]);

    // An old message edited by a copy: found by its new words only, its block's other message still found.
    await roomCopier(d1, 10)([{ i: 4, s: 1, c: "renamed", k: "k2", t: 400, e: 500, v: 1 }], []);
    expect(await found('"renamed"')).toEqual([[10, 4]]);
    expect(await found('"a2"')).toEqual([]);
    expect(await found('"a1"')).toEqual([[10, 1]]);
    expect(await documents('"a1" OR "renamed"')).toEqual([{ chat: 10, first: 1 }]);
  });

  // As D1 counts them: the message (one row, WITHOUT ROWID) and one search index entry per chunk of
  // new messages (0009), however many it holds.
  it("a room's copy writes one D1 row per new message and one per search block, and a repeated copy writes none and adds nothing", async () => {
    await applyD1Migrations(env.UPGRADE_DB, env.TEST_MIGRATIONS);
    const { d1, written } = countingWrites(env.UPGRADE_DB);
    await d1.batch([
      d1.prepare("INSERT OR IGNORE INTO users (id, username, username_key, password_hash, password_salt, created_at) VALUES (1, 'Ann', 'ann', 'h', 's', 1), (2, 'Bob', 'bob', 'h', 's', 1)"),
      d1.prepare("INSERT INTO chats (id, type, name, created_at) VALUES (20, 'group', 'C', 100)"),
    ]);
    written.length = 0;
    const copy = roomCopier(d1, 20);
    const rows = Array.from({ length: 50 }, (_, i) => ({ i: i + 1, s: 1 + (i % 2), c: `m${i} ${"x".repeat(i * 40)}`, k: i % 3 ? `k${i}` : null, t: 1000 + i }));
    await copy(rows.slice(0, 30), []);
    await copy(rows, []); // 30 of them again, as after a room that died before recording its copy
    expect(written).toEqual([31, 21]);
    const copied = await d1.prepare("SELECT id, sender_id, content, client_id, created_at FROM messages WHERE chat_id = 20 ORDER BY id").all();
    expect(copied.results).toEqual(rows.map((r) => ({ id: r.i, sender_id: r.s, content: r.c, client_id: r.k, created_at: r.t })));
    await copy(rows, []);
    expect(written).toEqual([31, 21, 0]);
  });
});
