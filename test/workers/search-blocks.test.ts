// Search indexes blocks of messages copied together (migration 0009, src/db/room-copy.ts): one FTS5
// document per chunk of new messages. These tests pin down what a block must never change: a match
// is a message, not a block; edits, deletes and a chat's deletion keep the index true; a retried
// copy adds nothing; and a common word over many blocks still pages through all of them.
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { database } from "../../src/db/client";
import { roomCopier, SEARCH_BLOCK_SPAN, type CopiedMessage } from "../../src/db/room-copy";
import { CANDIDATES_PER_READ, findMessages } from "../../src/db/search";
import { searchTerms } from "../../src/db/search-text";
import type { Message, SearchPage } from "../../src/protocol/models";
import { api, copyToD1Now, createGroup, register, uniqueName, type TestUser } from "./helpers";

async function post(user: TestUser, chatId: number, content: string): Promise<Message> {
  const res = await api("POST", `/api/chats/${chatId}/messages`, { token: user.token, body: { content } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function search(user: TestUser, q: string, options: Record<string, string> = {}): Promise<SearchPage> {
  const res = await api("GET", `/api/search?${new URLSearchParams({ q, ...options })}`, { token: user.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

const ids = (page: SearchPage) => page.results.map((r) => r.message.id);
const word = () => uniqueName("b").toLowerCase();

/** The index's documents (rowids) in `chatId` holding `w`: one per block. */
const blocksWith = async (chatId: number, w: string) =>
  (
    await env.DB.prepare("SELECT rowid AS k FROM message_search WHERE message_search MATCH ?1 AND rowid BETWEEN ?2 * 4294967296 AND ?2 * 4294967296 + 4294967295")
      .bind(`"${w}"`, chatId)
      .all<{ k: number }>()
  ).results.map((r) => r.k - chatId * 4294967296);

describe("search blocks", () => {
  it("messages copied together are one document, but a message is found only when it alone has every word", async () => {
    const ann = await register("ba");
    const chat = await createGroup(ann, [], "Blocks");
    const [w, lunch, tomorrow] = [word(), word(), word()];
    const first = await post(ann, chat.id, `${w} shall we have ${lunch}`);
    const second = await post(ann, chat.id, `${tomorrow} then, ${w}?`);
    const both = await post(ann, chat.id, `${w} ${lunch} ${tomorrow}`);
    await copyToD1Now(chat.id);
    expect(await blocksWith(chat.id, w)).toEqual([first.id]);

    expect(ids(await search(ann, `${lunch} ${tomorrow}`))).toEqual([both.id]);
    // A phrase neither runs from one message into the next.
    expect(ids(await search(ann, `${lunch}-${tomorrow}`))).toEqual([both.id]);
    expect(ids(await search(ann, w))).toEqual([both.id, second.id, first.id]);
  });

  it("an edit in an older block is found by its new words only, a delete not at all; the block's other messages stay found", async () => {
    const ann = await register("be");
    const chat = await createGroup(ann, [], "Edits");
    const [w, before, after] = [word(), word(), word()];
    const kept = await post(ann, chat.id, `${w} stays as it is`);
    const edited = await post(ann, chat.id, `${w} says ${before}`);
    const removed = await post(ann, chat.id, `${w} will go`);
    await copyToD1Now(chat.id);
    const newer = await post(ann, chat.id, `${w} in a newer block`);
    await copyToD1Now(chat.id);
    expect(await blocksWith(chat.id, w)).toEqual([kept.id, newer.id]);

    expect((await api("PATCH", `/api/chats/${chat.id}/messages/${edited.id}`, { token: ann.token, body: { content: `${w} says ${after}` } })).status).toBe(200);
    expect((await api("DELETE", `/api/chats/${chat.id}/messages/${removed.id}`, { token: ann.token })).status).toBe(204);
    await copyToD1Now(chat.id);
    expect((await search(ann, before)).results).toEqual([]);
    expect(ids(await search(ann, after))).toEqual([edited.id]);
    expect(ids(await search(ann, w))).toEqual([newer.id, edited.id, kept.id]);
    expect((await search(ann, `${w} will`)).results).toEqual([]);
    // Still one document per block (the edited block's was replaced, not added to).
    expect(await blocksWith(chat.id, w)).toEqual([kept.id, newer.id]);
  });

  it("a chat's deletion (its messages cascade) leaves no document of it", async () => {
    const ann = await register("bd");
    const chat = await createGroup(ann, [], "Gone");
    const w = word();
    await post(ann, chat.id, `${w} one`);
    await copyToD1Now(chat.id);
    await post(ann, chat.id, `${w} two`);
    await copyToD1Now(chat.id);
    expect(await blocksWith(chat.id, w)).toHaveLength(2);
    await env.DB.prepare("DELETE FROM chats WHERE id = ?").bind(chat.id).run();
    expect(await blocksWith(chat.id, w)).toEqual([]);
    const rest = await env.DB.prepare("SELECT count(*) AS n FROM message_search WHERE rowid BETWEEN ?1 * 4294967296 AND ?1 * 4294967296 + 4294967295").bind(chat.id).first<{ n: number }>();
    expect(rest!.n).toBe(0);
  });
});

describe("search blocks: the copy", () => {
  const rows = (w: string, from: number, count: number, extra: (i: number) => string = () => ""): CopiedMessage[] =>
    Array.from({ length: count }, (_, n) => ({ i: from + n, s: 0, c: `${w} message ${from + n}${extra(from + n)}`, k: null, t: 1_000_000 + from + n }));

  async function chatWith(prefix: string) {
    const ann = await register(prefix);
    const chat = await createGroup(ann, [], prefix);
    return { ann, chatId: chat.id, copy: roomCopier(env.DB, chat.id) };
  }

  it("a retried copy, and one that repeats old rows beside new ones, adds no document and no duplicate result", async () => {
    const { ann, chatId, copy } = await chatWith("br");
    const w = word();
    const sent = rows(w, 1, 5).map((r) => ({ ...r, s: ann.user.id }));
    await copy(sent, []);
    await copy(sent, []);
    const more = rows(w, 6, 3).map((r) => ({ ...r, s: ann.user.id }));
    await copy([...sent, ...more].reverse(), []); // out of order too: the copy sorts by id
    expect(await blocksWith(chatId, w)).toEqual([1, 6]);
    const page = await search(ann, w);
    expect(ids(page)).toEqual([8, 7, 6, 5, 4, 3, 2, 1]);
    const blocks = await env.DB.prepare("SELECT search_block AS b, search_last AS l FROM messages WHERE chat_id = ? ORDER BY id").bind(chatId).all<{ b: number; l: number | null }>();
    expect(blocks.results.map((r) => r.b)).toEqual([1, 1, 1, 1, 1, 6, 6, 6]);
    expect(blocks.results.map((r) => r.l)).toEqual([5, null, null, null, null, 8, null, null]);
  });

  it("a burst wider than a block's span is split; a common word's non-matching messages are paged through in batches", async () => {
    const { ann, chatId, copy } = await chatWith("bs");
    const [w, rare] = [word(), word()];
    const count = 2 * SEARCH_BLOCK_SPAN + CANDIDATES_PER_READ; // more candidates than the first read takes
    // `rare` only in each block's first message: every block matches `w rare`, one message in each.
    const firsts = Array.from({ length: Math.ceil(count / SEARCH_BLOCK_SPAN) }, (_, k) => k * SEARCH_BLOCK_SPAN + 1);
    const burst = rows(w, 1, count, (i) => (firsts.includes(i) ? ` ${rare}` : "")).map((r) => ({ ...r, s: ann.user.id }));
    await copy(burst, []);
    expect(await blocksWith(chatId, w)).toEqual(firsts);
    const newestFirst = [...firsts].reverse();
    // The oldest matches lie past the first read's candidates: found by the next one.
    expect(newestFirst.at(-1)!).toBeLessThan(count - CANDIDATES_PER_READ);
    expect(ids(await search(ann, `${w} ${rare}`))).toEqual(newestFirst);
    // Straight through findMessages: a page of one (and the one more that says there is more), then the rest after it.
    const db = database(env.DB);
    const { match, matcher } = searchTerms(`${w} ${rare}`);
    const terms = { match: match!, matcher };
    const first = await findMessages(db, ann.user.id, { terms, limit: 1 });
    expect(first.map((m) => m.id)).toEqual(newestFirst.slice(0, 2));
    const next = await findMessages(db, ann.user.id, { terms, limit: 10, before: { createdAt: Date.parse(first[0]!.timestamp), chatId, messageId: first[0]!.id } });
    expect(next.map((m) => m.id)).toEqual(newestFirst.slice(1));
    // Paging the common word: every message once, newest first.
    const seen: number[] = [];
    let before: string | undefined;
    for (let n = 0; n < Math.ceil(count / 50) + 1; n++) {
      const page = await search(ann, w, { limit: "50", chatId: String(chatId), ...(before ? { before } : {}) });
      seen.push(...ids(page));
      if (!page.hasMore) break;
      before = page.nextBefore!;
    }
    expect(seen).toEqual(Array.from({ length: count }, (_, n) => count - n));
  });
});
