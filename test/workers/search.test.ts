// Message search (`GET /api/search`): the index follows D1's copy (driven here by running each
// room's copy at once), results are newest first and paged, what users type is only ever text, and
// only the chats the caller is a member of now are searched.
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { limits } from "../../src/protocol/limits";
import type { Message, SearchPage } from "../../src/protocol/models";
import { MARK_END, MARK_START, snippetParts } from "../../src/protocol/search";
import { api, copyToD1Now, createGroup, register, uniqueName, type TestUser } from "./helpers";

async function post(user: TestUser, chatId: number, content: string): Promise<Message> {
  const res = await api("POST", `/api/chats/${chatId}/messages`, { token: user.token, body: { content } });
  expect(res.status, JSON.stringify(res.body)).toBe(201);
  return res.body;
}

async function search(user: TestUser, q: string, options: Record<string, string | number> = {}): Promise<SearchPage> {
  const res = await api("GET", `/api/search?${new URLSearchParams({ q, ...Object.fromEntries(Object.entries(options).map(([k, v]) => [k, String(v)])) })}`, { token: user.token });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

const ids = (page: SearchPage) => page.results.map((r) => `${r.chatId}:${r.message.id}`);
/** A word no other test (or file) uses, so results come only from this test's messages. */
const word = () => uniqueName("w").toLowerCase();

describe("search: results", () => {
  it("finds messages by a word, newest first across chats, with the message and a marked snippet", async () => {
    const [ann, bob] = await Promise.all([register("sa"), register("sb")]);
    const [one, two] = await Promise.all([createGroup(ann, [bob], "One"), createGroup(ann, [], "Two")]);
    const w = word();
    const first = await post(ann, one.id, `the ${w} is in the first chat`);
    const second = await post(ann, two.id, `and the ${w} again, in the second`);
    const third = await post(bob, one.id, `${w}: the newest`);
    await post(ann, one.id, "nothing to see here");
    await Promise.all([copyToD1Now(one.id), copyToD1Now(two.id)]);

    const page = await search(ann, w);
    expect(ids(page)).toEqual([third, second, first].map((m) => `${m.chatId}:${m.id}`));
    expect(page.hasMore).toBe(false);
    expect(page.nextBefore).toBeNull();
    expect(page.results[0]!.message).toEqual(third);
    expect(page.results[0]!.snippet).toBe(`${MARK_START}${w}${MARK_END}: the newest`);
    expect(snippetParts(page.results[1]!.snippet)).toEqual([
      { text: "and the ", match: false },
      { text: w, match: true },
      { text: " again, in the second", match: false },
    ]);
    // Bob is only in the first chat.
    expect(ids(await search(bob, w))).toEqual([third, first].map((m) => `${m.chatId}:${m.id}`));
    // One chat only.
    expect(ids(await search(ann, w, { chatId: two.id }))).toEqual([`${two.id}:${second.id}`]);
  });

  it("pages with before = nextBefore: every match once, newest first, hasMore until the last page", async () => {
    const ann = await register("sp");
    const [one, two] = await Promise.all([createGroup(ann, [], "P1"), createGroup(ann, [], "P2")]);
    const w = word();
    const posted: Message[] = [];
    for (let i = 0; i < 7; i++) posted.push(await post(ann, i % 2 ? one.id : two.id, `${w} number ${i}`));
    await Promise.all([copyToD1Now(one.id), copyToD1Now(two.id)]);
    const newestFirst = [...posted].reverse().map((m) => `${m.chatId}:${m.id}`);

    const seen: string[] = [];
    let before: string | undefined;
    const more: boolean[] = [];
    for (let pages = 0; pages < 5; pages++) {
      const page = await search(ann, w, { limit: 3, ...(before ? { before } : {}) });
      seen.push(...ids(page));
      more.push(page.hasMore);
      if (!page.hasMore) {
        expect(page.nextBefore).toBeNull();
        break;
      }
      before = page.nextBefore!;
    }
    expect(more).toEqual([true, true, false]);
    expect(seen).toEqual(newestFirst);
    // The default page size is 20; a limit over 50 is refused.
    expect((await search(ann, w)).results).toHaveLength(7);
    expect((await api("GET", `/api/search?q=${w}&limit=${limits.searchMaxLimit + 1}`, { token: ann.token })).status).toBe(400);
  });

  it("every word must match, the last one as a prefix", async () => {
    const ann = await register("sw");
    const chat = await createGroup(ann, [], "Words");
    const w = word();
    const both = await post(ann, chat.id, `${w} searching for the lighthouse`);
    await post(ann, chat.id, `${w} without the other one`);
    await copyToD1Now(chat.id);
    expect(ids(await search(ann, `${w} lighth`))).toEqual([`${chat.id}:${both.id}`]);
    expect(ids(await search(ann, `${w} sear`))).toEqual([`${chat.id}:${both.id}`]);
    expect((await search(ann, `${w} sear`)).results[0]!.snippet).toContain(`${MARK_START}searching${MARK_END}`);
    // Only the last word is a prefix.
    expect((await search(ann, `sear ${w}`)).results).toEqual([]);
    expect((await search(ann, `${w.slice(0, -2)}`)).results).toHaveLength(2);
  });
});

describe("search: what users type is text", () => {
  it('quotes, *, NEAR, -, OR, AND, NOT, :, ^ and parentheses are searched as words or ignored, never as operators', async () => {
    const ann = await register("so");
    const chat = await createGroup(ann, [], "Operators");
    const w = word();
    const near = await post(ann, chat.id, `${w} she said "hello" and stayed NEAR the door`);
    const or = await post(ann, chat.id, `${w} tea OR coffee`);
    const dash = await post(ann, chat.id, `${w} well-known fact`);
    const colon = await post(ann, chat.id, `${w} key:value pairs`);
    await post(ann, chat.id, `${w} plain words only`);
    await copyToD1Now(chat.id);
    const found = async (q: string) => ids(await search(ann, q));
    const key = (m: Message) => `${chat.id}:${m.id}`;

    expect(await found(`${w} "hello"`)).toEqual([key(near)]);
    expect(await found(`${w} "hello`)).toEqual([key(near)]);
    expect(await found(`${w} NEAR`)).toEqual([key(near)]);
    // Not FTS5's NEAR group: the phrase "near hello" and the word "door", which no message has together.
    expect(await found(`${w} NEAR(hello door)`)).toEqual([]);
    expect(await found(`${w} NEAR(`)).toEqual([key(near)]); // the word "near"
    expect(await found(`${w} OR`)).toEqual([key(or)]); // the word "or", not every message
    expect(await found(`tea OR ${w}`)).toEqual([key(or)]);
    expect(await found(`${w} -known`)).toEqual([key(dash)]); // "-" does not exclude
    expect(await found(`${w} well-known`)).toEqual([key(dash)]);
    expect(await found(`${w} key:value`)).toEqual([key(colon)]); // not a column filter
    expect(await found(`${w} AND coffee`)).toEqual([]); // "and" is a word here, and that message has none
    expect(await found(`${w} NOT tea`)).toEqual([]);
    expect(await found(`${w} ^tea`)).toEqual([key(or)]);
    expect(await found(`(${w}) (tea`)).toEqual([key(or)]);
    expect(await found(`${w}*`)).toHaveLength(5);
    // Nothing to look for: no words at all.
    for (const q of ["*", '"', '""', "-", "( )", "^", ":", "🎉"]) expect(await found(q), q).toEqual([]);
  });

  it("empty, blank or too long q, and bad chatId, limit or before, are 400 in the contract's shape", async () => {
    const ann = await register("sx");
    for (const query of ["", "q=", "q=%20%20", `q=${"a".repeat(limits.searchQueryMax + 1)}`, "q=a&limit=0", "q=a&limit=x", "q=a&chatId=abc", "q=a&chatId=0", "q=a&before=yesterday", "q=a&before=1.2"]) {
      const res = await api("GET", `/api/search?${query}`, { token: ann.token });
      expect(res.status, query).toBe(400);
      expect(res.body).toMatchObject({ code: ErrorCode.BadRequest, error: expect.any(String) });
    }
    expect((await api("GET", `/api/search?q=${"a".repeat(limits.searchQueryMax)}`, { token: ann.token })).status).toBe(200);
    expect((await api("GET", "/api/search?q=a")).status).toBe(401);
  });
});

describe("search: unicode", () => {
  it("diacritics and case do not matter; CJK, emoji and other scripts never fail", async () => {
    const ann = await register("su");
    const chat = await createGroup(ann, [], "Unicode");
    const w = word();
    const cafe = await post(ann, chat.id, `${w} un café à Paris, naïve Ångström`);
    const cjk = await post(ann, chat.id, `${w} 東京に行きます`);
    const emoji = await post(ann, chat.id, `${w} party 🎉 time 👩‍👩‍👧`);
    const greek = await post(ann, chat.id, `${w} Καλημέρα κόσμε`);
    await copyToD1Now(chat.id);
    const key = (m: Message) => `${chat.id}:${m.id}`;
    const found = async (q: string) => ids(await search(ann, q));

    expect(await found(`${w} cafe`)).toEqual([key(cafe)]);
    expect(await found(`${w} CAFÉ`)).toEqual([key(cafe)]);
    expect(await found(`${w} naive angstrom`)).toEqual([key(cafe)]);
    expect((await search(ann, `${w} cafe`)).results[0]!.snippet).toContain(`${MARK_START}café${MARK_END}`);
    expect(await found(`${w} 東京`)).toEqual([key(cjk)]); // a CJK run is one token: found as a prefix
    expect(await found(`${w} 🎉 party`)).toEqual([key(emoji)]);
    // Case folds in every script; unicode61 removes the diacritics of Latin letters only.
    expect(await found(`${w} ΚΑΛΗΜΈΡΑ`)).toEqual([key(greek)]);
    for (const q of ["👩‍👩‍👧", "🎉🎉", "東京", "\u0301", "ｆｕｌｌｗｉｄｔｈ", "\u200b", "\ufeff", "𝕏", "a\u0000b"]) {
      const res = await api("GET", `/api/search?${new URLSearchParams({ q })}`, { token: ann.token });
      expect(res.status, q).toBeLessThan(500);
    }
  });

  it("marker characters in a message cannot forge a highlight", async () => {
    const ann = await register("sm");
    const chat = await createGroup(ann, [], "Markers");
    const w = word();
    await post(ann, chat.id, `${MARK_START}fake${MARK_END} and ${w}`);
    await copyToD1Now(chat.id);
    const [result] = (await search(ann, w)).results;
    expect(snippetParts(result!.snippet)).toEqual([
      { text: "fake and ", match: false },
      { text: w, match: true },
    ]);
    // The message itself is as it was sent.
    expect(result!.message.content).toContain(MARK_START);
  });
});

describe("search: membership", () => {
  it("a member who leaves, or is removed, stops finding the chat's messages at once; others' chats never appear", async () => {
    const [ann, bob, carol, dave] = await Promise.all([register("sl"), register("sr"), register("sc"), register("sd")]);
    const chat = await createGroup(ann, [bob, carol], "Members");
    const w = word();
    const m = await post(ann, chat.id, `${w} for members only`);
    await copyToD1Now(chat.id);
    expect(ids(await search(bob, w))).toEqual([`${chat.id}:${m.id}`]);
    expect(ids(await search(carol, w))).toEqual([`${chat.id}:${m.id}`]);
    // Never a member: Dave finds only his own chat's message with the same word, and nobody else finds that.
    const daves = await createGroup(dave, [], "Dave's");
    const own = await post(dave, daves.id, `${w} in dave's own chat`);
    await copyToD1Now(daves.id);
    expect(ids(await search(dave, w))).toEqual([`${daves.id}:${own.id}`]);
    for (const other of [ann, bob, carol]) expect(ids(await search(other, w))).toEqual([`${chat.id}:${m.id}`]);
    expect((await api("GET", `/api/search?q=${w}&chatId=${chat.id}`, { token: dave.token })).status).toBe(403);
    expect((await api("GET", `/api/search?q=${w}&chatId=999999999`, { token: dave.token })).status).toBe(404);

    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: bob.token })).status).toBe(204);
    expect((await search(bob, w)).results).toEqual([]);
    expect((await api("GET", `/api/search?q=${w}&chatId=${chat.id}`, { token: bob.token })).status).toBe(403);
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${carol.user.id}`, { token: ann.token })).status).toBe(204);
    expect((await search(carol, w)).results).toEqual([]);
    expect(ids(await search(ann, w))).toEqual([`${chat.id}:${m.id}`]);

    // Added back: found again (the index never forgot the message, membership is checked per query).
    expect((await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: bob.user.id } })).status).toBe(201);
    expect(ids(await search(bob, w))).toEqual([`${chat.id}:${m.id}`]);
  });
});

describe("search: the index follows the messages", () => {
  it("with nothing forced, a new message is found once its room's alarm copied it (about a second after the chat pauses)", async () => {
    const ann = await register("sf");
    const chat = await createGroup(ann, [], "Fresh");
    const w = word();
    const m = await post(ann, chat.id, `${w} fresh off the press`);
    const sent = Date.now();
    let found: string[] = [];
    while (found.length === 0 && Date.now() - sent < 8000) {
      found = ids(await search(ann, w));
      if (found.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(found).toEqual([`${chat.id}:${m.id}`]);
    // The copy waits for a second's pause (COPY_QUIET_MS); the first copy after a room starts does not wait longer.
    expect(Date.now() - sent).toBeLessThan(4000);
  });

  it("a new message is found once the room copied it; an edit by its new words only; a delete not at all", async () => {
    const ann = await register("se");
    const chat = await createGroup(ann, [], "Lifecycle");
    const w = word();
    const m = await post(ann, chat.id, `${w} original wording`);
    await copyToD1Now(chat.id);
    expect(ids(await search(ann, `${w} original`))).toEqual([`${chat.id}:${m.id}`]);

    const edited = await api("PATCH", `/api/chats/${chat.id}/messages/${m.id}`, { token: ann.token, body: { content: `${w} revised text` } });
    expect(edited.status).toBe(200);
    // A reaction rewrites the row in D1 too; the index is not touched by it.
    expect((await api("PUT", `/api/chats/${chat.id}/messages/${m.id}/reactions/${encodeURIComponent("👍")}`, { token: ann.token })).status).toBe(204);
    await copyToD1Now(chat.id);
    expect((await search(ann, `${w} original`)).results).toEqual([]);
    const after = await search(ann, `${w} revised`);
    expect(ids(after)).toEqual([`${chat.id}:${m.id}`]);
    expect(after.results[0]!.message).toMatchObject({ content: `${w} revised text`, reactions: [{ emoji: "👍", count: 1 }] });
    expect(after.results[0]!.message.editedAt).not.toBeNull();

    expect((await api("DELETE", `/api/chats/${chat.id}/messages/${m.id}`, { token: ann.token })).status).toBe(204);
    await copyToD1Now(chat.id);
    expect((await search(ann, w)).results).toEqual([]);
    expect((await search(ann, `${w} revised`)).results).toEqual([]);
  });

  it("a reply is found with its preview of the original", async () => {
    const ann = await register("sq");
    const chat = await createGroup(ann, [], "Replies");
    const w = word();
    const original = await post(ann, chat.id, "the question");
    const res = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: `${w} the answer`, replyToId: original.id } });
    await copyToD1Now(chat.id);
    const [result] = (await search(ann, w)).results;
    expect(result!.message).toEqual(res.body);
    expect(result!.message.replyTo).toMatchObject({ id: original.id, excerpt: "the question" });
  });
});
