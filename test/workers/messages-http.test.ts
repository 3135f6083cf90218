/** History paging, HTTP posts, read markers, and the error shape for malformed requests. */
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { limits } from "../../src/protocol/limits";
import type { Chat, Message } from "../../src/protocol/models";
import { api, copyToD1Now, createGroup, expectError, register, seedMessages, type TestUser } from "./helpers";

let ann: TestUser, bob: TestUser, eve: TestUser;
beforeAll(async () => {
  [ann, bob, eve] = await Promise.all([register("ann"), register("bob"), register("eve")]);
});
const post = (chat: Chat, user: TestUser, content: string, clientId?: string) =>
  api("POST", `/api/chats/${chat.id}/messages`, { token: user.token, body: { content, ...(clientId ? { clientId } : {}) } });
const page = (chat: Chat, query = "", user = ann) => api("GET", `/api/chats/${chat.id}/messages${query}`, { token: user.token });
const idsOf = (messages: Message[]) => messages.map((m) => m.id);

describe("history", () => {
  let chat: Chat;
  let ids: number[];
  beforeAll(async () => {
    chat = await createGroup(ann, [bob], "History");
    // Exactly two default pages: the boundaries fall on page edges.
    ids = await seedMessages(chat.id, [ann, bob], 100);
  });

  it("is empty for a new chat", async () => {
    const empty = await createGroup(ann, [], "Empty");
    expect((await page(empty)).body).toEqual({ messages: [], hasMore: false, lastChangeId: 0 });
    expect((await page(empty, "?before=5")).body).toEqual({ messages: [], hasMore: false, lastChangeId: 0 });
    expect((await page(empty, "?after=5")).body).toEqual({ messages: [], hasMore: false, lastChangeId: 0 });
  });

  it("returns the newest page by default, ascending", async () => {
    const res = await page(chat);
    expect(idsOf(res.body.messages)).toEqual(ids.slice(50));
    expect(res.body.hasMore).toBe(true);
  });

  it("pages back with before, to an exact boundary", async () => {
    const older = await page(chat, `?before=${ids[50]}`);
    expect(idsOf(older.body.messages)).toEqual(ids.slice(0, 50));
    expect(older.body.hasMore).toBe(false);
    const small = await page(chat, `?before=${ids[10]}&limit=10`);
    expect(idsOf(small.body.messages)).toEqual(ids.slice(0, 10));
    expect(small.body.hasMore).toBe(false);
    const partial = await page(chat, `?before=${ids[10]}&limit=9`);
    expect(idsOf(partial.body.messages)).toEqual(ids.slice(1, 10));
    expect(partial.body.hasMore).toBe(true);
  });

  it("pages forward with after", async () => {
    const newer = await page(chat, `?after=${ids[89]}&limit=5`);
    expect(idsOf(newer.body.messages)).toEqual(ids.slice(90, 95));
    expect(newer.body.hasMore).toBe(true);
    const last = await page(chat, `?after=${ids[94]}&limit=5`);
    expect(idsOf(last.body.messages)).toEqual(ids.slice(95));
    expect(last.body.hasMore).toBe(false);
  });

  it("honours limit up to 100 and refuses bad cursors", async () => {
    const all = await page(chat, "?limit=100");
    expect(idsOf(all.body.messages)).toEqual(ids);
    expect(all.body.hasMore).toBe(false);
    for (const q of ["?limit=0", "?limit=101", "?limit=abc", "?limit=-1", "?before=0", "?after=x", `?before=${ids[5]}&after=${ids[1]}`]) {
      expectError(await page(chat, q), 400, ErrorCode.BadRequest);
    }
  });

  it("is for members only", async () => {
    expectError(await page(chat, "", eve), 403, ErrorCode.Forbidden);
    expectError(await api("GET", "/api/chats/99999999/messages", { token: eve.token }), 404, ErrorCode.NotFound);
  });
});

describe("posting", () => {
  it("stores unicode and HTML exactly as sent", async () => {
    const chat = await createGroup(ann, [bob], "Verbatim");
    const samples = ["<script>alert('x')</script>", "emoji 👩‍👩‍👧 and RTL \u202eabc", "  padded  ", "line\nbreak\ttab", "&amp; &lt;", "x".repeat(limits.contentMax)];
    for (const content of samples) {
      const res = await post(chat, ann, content);
      expect(res.status).toBe(201);
      expect(res.body.content).toBe(content);
    }
    expect((await page(chat)).body.messages.map((m: Message) => m.content)).toEqual(samples);
  });

  it("refuses content out of range and bad client ids", async () => {
    const chat = await createGroup(ann, [bob], "Bad");
    for (const body of [{ content: "" }, { content: "   \n " }, { content: "x".repeat(limits.contentMax + 1) }, { content: 5 }, { content: "ok", clientId: "" }, { content: "ok", clientId: "x".repeat(65) }, {}]) {
      expectError(await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body }), 400, ErrorCode.BadRequest);
    }
    expectError(await post(chat, eve, "let me in"), 403, ErrorCode.Forbidden);
    expect((await page(chat)).body.messages).toEqual([]);
  });
});

describe("read markers and unread counts", () => {
  it("counts other members' messages after the marker, moves only forward, and counts own messages as read", async () => {
    const chat = await createGroup(ann, [bob], "Unread");
    const other = await createGroup(ann, [bob], "Other");
    const m1 = (await post(chat, ann, "one")).body;
    const m2 = (await post(chat, ann, "two")).body;
    await post(other, ann, "elsewhere");
    // The chat list reads D1's copy of the rooms, which may lag a room by up to the copy delay (the
    // documented contract): after each change the chat's copy is run before the list is read.
    const bobView = async (id: number) => (await api("GET", "/api/chats", { token: bob.token })).body.chats.find((c: Chat) => c.id === id);
    const annView = async (id: number) => (await api("GET", `/api/chats/${id}`, { token: ann.token })).body;
    await copyToD1Now(chat.id);
    await copyToD1Now(other.id);
    expect(await bobView(chat.id)).toMatchObject({ unreadCount: 2, lastReadMessageId: null });
    expect(await bobView(other.id)).toMatchObject({ unreadCount: 1 });
    expect((await bobView(chat.id)).lastMessage).toEqual(m2);

    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: m2.id } })).status).toBe(204);
    await copyToD1Now(chat.id);
    expect(await bobView(chat.id)).toMatchObject({ unreadCount: 0, lastReadMessageId: m2.id });
    // Never backward.
    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: m1.id } })).status).toBe(204);
    await copyToD1Now(chat.id);
    expect(await bobView(chat.id)).toMatchObject({ unreadCount: 0, lastReadMessageId: m2.id });
    // The sender's own messages are read by them.
    expect(await annView(chat.id)).toMatchObject({ unreadCount: 0, lastReadMessageId: m2.id });
    // Bob replies: his marker moves, ann has one unread.
    const reply = (await post(chat, bob, "three")).body;
    await copyToD1Now(chat.id);
    expect(await bobView(chat.id)).toMatchObject({ unreadCount: 0, lastReadMessageId: reply.id });
    expect(await annView(chat.id)).toMatchObject({ unreadCount: 1, lastReadMessageId: m2.id });
  });

  it("refuses a message id that is not in the chat", async () => {
    const chat = await createGroup(ann, [bob], "Marker");
    const other = await createGroup(ann, [bob], "Elsewhere");
    // Ids are per chat: this one exists only in the other chat (this chat has no messages).
    const foreign = (await post(other, ann, "not here")).body;
    expectError(await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: foreign.id } }), 400, ErrorCode.BadRequest);
    expectError(await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: "1" } }), 400, ErrorCode.BadRequest);
    expectError(await api("POST", `/api/chats/${chat.id}/read`, { token: eve.token, body: { messageId: foreign.id } }), 403, ErrorCode.Forbidden);
  });
});

describe("malformed requests", () => {
  it("answers malformed JSON with 400 and a body over 64 KiB with 413", async () => {
    expectError(await api("POST", "/api/auth/login", { raw: "{not json" }), 400, ErrorCode.BadRequest);
    expectError(await api("POST", "/api/chats", { token: ann.token, raw: '{"type":' }), 400, ErrorCode.BadRequest);
    const huge = JSON.stringify({ username: "x", password: "y".repeat(limits.maxBodyBytes) });
    expectError(await api("POST", "/api/auth/register", { raw: huge }), 413, ErrorCode.PayloadTooLarge);
    const chat = await createGroup(ann, [], "Big");
    expectError(await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, raw: JSON.stringify({ content: "x".repeat(70_000) }) }), 413, ErrorCode.PayloadTooLarge);
  });

  it("answers unknown routes with a JSON 404, authenticated or not", async () => {
    expectError(await api("GET", "/api/nothing-here", { token: ann.token }), 404, ErrorCode.NotFound);
    expectError(await api("GET", "/nothing-here"), 404, ErrorCode.NotFound);
    expectError(await api("DELETE", "/api/chats", { token: ann.token }), 404, ErrorCode.NotFound);
  });

  it("requires a token on every route but auth", async () => {
    for (const [method, path] of [["GET", "/api/me"], ["GET", "/api/users?q=a"], ["GET", "/api/chats"], ["POST", "/api/chats"], ["GET", "/api/chats/1/messages"]] as const) {
      expectError(await api(method, path), 401, ErrorCode.Unauthorized);
    }
  });
});

describe("changes to a deleted message (docs/PROTOCOL.md, Changes)", () => {
  it("answers 410 to every change but a delete, even one that would change nothing, whoever asks", async () => {
    const chat = await createGroup(ann, [bob, eve], "Gone");
    const m = (await post(chat, bob, "soon gone")).body as Message;
    const base = `/api/chats/${chat.id}/messages/${m.id}`;
    const thumbs = `${base}/reactions/${encodeURIComponent("👍")}`;
    expect((await api("PUT", thumbs, { token: ann.token })).status).toBe(204);
    expect((await api("DELETE", base, { token: bob.token })).status).toBe(204);
    const changeId = (await page(chat)).body.lastChangeId;

    const attempts: [string, string, TestUser, unknown?][] = [
      ["DELETE", thumbs, ann], // the reaction she gave went with the delete: removing it changes nothing
      ["DELETE", `${base}/reactions/${encodeURIComponent("🎉")}`, eve], // one she never gave
      ["PUT", thumbs, eve],
      ["PATCH", base, bob, { content: "soon gone" }], // the sender, the same content
      ["PATCH", base, eve, { content: "not hers" }], // 410 comes before "someone else's message"
    ];
    for (const [method, path, user, body] of attempts) {
      expectError(await api(method, path, { token: user.token, ...(body ? { body } : {}) }), 410, ErrorCode.Gone);
    }
    // A second delete by the sender succeeds; by someone who could never delete it, 403 as before.
    expect((await api("DELETE", base, { token: bob.token })).status).toBe(204);
    expectError(await api("DELETE", base, { token: eve.token }), 403, ErrorCode.Forbidden);
    // Nothing of it was a change.
    expect((await page(chat)).body.lastChangeId).toBe(changeId);
  });

  it("takes changes that change nothing on a message that is not deleted, without a new change id", async () => {
    const chat = await createGroup(ann, [bob], "Idle");
    const m = (await post(chat, ann, "as is")).body as Message;
    const base = `/api/chats/${chat.id}/messages/${m.id}`;
    expect((await api("PUT", `${base}/reactions/${encodeURIComponent("👍")}`, { token: bob.token })).status).toBe(204);
    const changeId = (await page(chat)).body.lastChangeId;
    expect((await api("PUT", `${base}/reactions/${encodeURIComponent("👍")}`, { token: bob.token })).status).toBe(204);
    expect((await api("DELETE", `${base}/reactions/${encodeURIComponent("🎉")}`, { token: bob.token })).status).toBe(204);
    const same = await api("PATCH", base, { token: ann.token, body: { content: "as is" } });
    expect(same).toMatchObject({ status: 200, body: { content: "as is", editedAt: null } });
    expect((await page(chat)).body.lastChangeId).toBe(changeId);
  });
});

describe("GET …/changes (docs/PROTOCOL.md, Changes)", () => {
  it("defaults after to 0; lastChangeId is the last returned message's change id, or after when the page is empty", async () => {
    const chat = await createGroup(ann, [bob], "Changes");
    const ids = await seedMessages(chat.id, [ann], limits.historyMaxLimit + 1);
    // One reaction per message, in id order, in a new chat: message i changes with change id i + 1.
    for (const id of ids) {
      expect((await api("PUT", `/api/chats/${chat.id}/messages/${id}/reactions/${encodeURIComponent("👍")}`, { token: bob.token })).status).toBe(204);
    }
    const changes = (query: string) => api("GET", `/api/chats/${chat.id}/changes${query}`, { token: bob.token });
    const first = await changes("");
    expect(first.status).toBe(200);
    expect(idsOf(first.body.messages)).toEqual(ids.slice(0, limits.historyMaxLimit));
    expect(first.body).toMatchObject({ hasMore: true, lastChangeId: limits.historyMaxLimit });
    expect((await changes("?after=0")).body).toEqual(first.body);

    const second = await changes(`?after=${first.body.lastChangeId}`);
    expect(idsOf(second.body.messages)).toEqual(ids.slice(limits.historyMaxLimit));
    expect(second.body).toMatchObject({ hasMore: false, lastChangeId: ids.length });

    expect((await changes(`?after=${ids.length}`)).body).toEqual({ messages: [], lastChangeId: ids.length, hasMore: false });
    // An empty page hands `after` back as it came, even past the chat's newest change.
    expect((await changes("?after=5000")).body).toEqual({ messages: [], lastChangeId: 5000, hasMore: false });
    expectError(await changes("?after=-1"), 400, ErrorCode.BadRequest);
  });
});

describe("lengths count UTF-16 code units (docs/PROTOCOL.md, Conventions)", () => {
  // U+1F600 is one character to a reader, two UTF-16 code units to the limits.
  const astral = "😀";

  it("message content: 4000 units, so 2000 such emoji and not one unit more", async () => {
    const chat = await createGroup(ann, [], "Units");
    expect((await post(chat, ann, astral.repeat(limits.contentMax / 2))).status).toBe(201);
    expectError(await post(chat, ann, astral.repeat(limits.contentMax / 2) + "a"), 400, ErrorCode.BadRequest);
  });

  it("search q: 200 units", async () => {
    const search = (q: string) => api("GET", `/api/search?q=${encodeURIComponent(q)}`, { token: ann.token });
    expect((await search(astral.repeat(limits.searchQueryMax / 2))).status).toBe(200);
    expectError(await search(astral.repeat(limits.searchQueryMax / 2) + "a"), 400, ErrorCode.BadRequest);
  });
});
