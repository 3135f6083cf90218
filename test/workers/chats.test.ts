/** User search, chat creation and listing, and group administration over HTTP. */
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import type { Chat } from "../../src/protocol/models";
import { limits } from "../../src/protocol/limits";
import { api, connect, copyToD1Now, createGroup, expectError, register, type TestUser, uniqueName } from "./helpers";

let ann: TestUser, bob: TestUser, cid: TestUser, eve: TestUser;
beforeAll(async () => {
  [ann, bob, cid, eve] = await Promise.all([register("ann"), register("bob"), register("cid"), register("eve")]);
});


/** Registers a user with exactly this username. */
async function registerNamed(username: string): Promise<TestUser> {
  const password = "correct horse battery";
  const res = await api("POST", "/api/auth/register", { body: { username, password } });
  if (res.status !== 201) throw new Error(`register ${username} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return { ...res.body, password };
}

/** The order search promises: by lower-cased username (plain code-unit order, as SQLite's BINARY). */
const byLowerName = (a: { username: string }, b: { username: string }) => {
  const [x, y] = [a.username.toLowerCase(), b.username.toLowerCase()];
  return x < y ? -1 : x > y ? 1 : 0;
};

const search = async (q: string, token: string) => {
  const res = await api("GET", `/api/users?q=${encodeURIComponent(q)}`, { token });
  expect(res.status).toBe(200);
  return res.body.users as { id: number; username: string }[];
};

describe("users", () => {
  it("finds users by case-insensitive prefix, never the caller", async () => {
    const prefix = ann.user.username.slice(0, 3).toUpperCase();
    const users = await search(prefix, bob.token);
    expect(users).toContainEqual(ann.user);
    expect(users.every((u) => u.username.toLowerCase().startsWith(prefix.toLowerCase()))).toBe(true);
    expect(await search(ann.user.username, ann.token)).toEqual([]);
    expect(await search(ann.user.username.toUpperCase(), bob.token)).toEqual([ann.user]);
  });

  it("returns at most 20 users, ordered by lower-cased username, without the caller", async () => {
    // 30 users under one prefix nobody else has: groups a-f of five, letter case alternating so
    // that ordering by the raw username (uppercase first) would differ from the promised order.
    const prefix = uniqueName("cap").toLowerCase();
    const nameOf = (group: number, k: number) => {
      const letter = String.fromCharCode(97 + group);
      return `${prefix}${(5 * group + k) % 2 ? letter.toUpperCase() : letter}${k}`;
    };
    const names = Array.from({ length: 30 }, (_, i) => nameOf(Math.floor(i / 5), i % 5));
    const users = await Promise.all(names.map(registerNamed));
    // The caller sorts first among them: not excluding it would shift the whole window.
    const caller = users.find((u) => u.user.username === nameOf(0, 0))!;
    const others = users.map((u) => u.user).filter((u) => u.id !== caller.user.id).sort(byLowerName);
    expect(others).toHaveLength(29);

    const capped = await search(prefix.toUpperCase(), caller.token);
    expect(capped).toHaveLength(limits.userSearchMax);
    expect(limits.userSearchMax).toBe(20);
    expect(capped).toEqual(others.slice(0, 20));
    expect(capped.map((u) => u.username)).toEqual([
      ...[1, 2, 3, 4].map((k) => nameOf(0, k)),
      ...[1, 2, 3].flatMap((group) => [0, 1, 2, 3, 4].map((k) => nameOf(group, k))),
      nameOf(4, 0),
    ]);

    // A narrower prefix (in the other letter case) returns exactly its five, in order.
    const groupC = await search(`${prefix}C`, caller.token);
    expect(groupC).toEqual(others.filter((u) => u.username.toLowerCase().startsWith(`${prefix}c`)));
    expect(groupC.map((u) => u.username.slice(prefix.length).toLowerCase())).toEqual(["c0", "c1", "c2", "c3", "c4"]);
    // The empty prefix matches everyone: well over 20 users exist by now.
    expect(await search("", caller.token)).toHaveLength(20);
    // The last group is past the first 20, and still found by its own prefix.
    expect((await search(`${prefix}f`, caller.token)).map((u) => u.username.slice(prefix.length).toLowerCase())).toEqual(["f0", "f1", "f2", "f3", "f4"]);
    // Someone else searching sees the caller again (the exclusion is per caller).
    expect((await search(`${prefix}a`, bob.token)).map((u) => u.username)).toEqual([0, 1, 2, 3, 4].map((k) => nameOf(0, k)));
  });

  it("treats LIKE wildcards literally and refuses overlong queries", async () => {
    const prefix = uniqueName("lk").toLowerCase();
    const names = ["_x", "__y", "_Z9", "ax", "Bx", ".x", "-x", "9x"].map((s) => prefix + s);
    const users = (await Promise.all(names.map(registerNamed))).map((u) => u.user);
    const named = (...suffixes: string[]) => suffixes.map((s) => users.find((u) => u.username === prefix + s)!).sort(byLowerName);

    // `_` only matches itself, not any single character.
    expect(await search(`${prefix}_`, bob.token)).toEqual(named("_x", "__y", "_Z9"));
    expect(await search(`${prefix}__`, bob.token)).toEqual(named("__y"));
    expect(await search(`${prefix}_z`, bob.token)).toEqual(named("_Z9"));
    expect(await search(`${prefix}_x`, bob.token)).toEqual(named("_x"));
    // `.` and `-` are literal too (no regex or glob meaning).
    expect(await search(`${prefix}.`, bob.token)).toEqual(named(".x"));
    expect(await search(`${prefix}-`, bob.token)).toEqual(named("-x"));
    // The whole family, for reference: what a wildcard would have matched.
    expect(await search(prefix, bob.token)).toEqual(named("_x", "__y", "_Z9", "ax", "Bx", ".x", "-x", "9x"));
    // `%` never matches anything: no username contains it.
    expect(await search(`${prefix}%`, bob.token)).toEqual([]);
    expect(await search(`${prefix}%x`, bob.token)).toEqual([]);
    expect(await search(`${prefix.slice(0, -1)}%`, bob.token)).toEqual([]);
    expect(await search("%", bob.token)).toEqual([]);
    expect(await search("%%", bob.token)).toEqual([]);
    expect(await search(`%${prefix.slice(2)}`, bob.token)).toEqual([]);
    expect(await search(`_${prefix.slice(1)}`, bob.token)).toEqual([]);
    // The query is limited like a username: 32 characters.
    expect((await api("GET", `/api/users?q=${"a".repeat(32)}`, { token: ann.token })).status).toBe(200);
    expectError(await api("GET", `/api/users?q=${"a".repeat(33)}`, { token: ann.token }), 400, ErrorCode.BadRequest);
  });
});

describe("creating chats", () => {
  it("creates a direct chat once; the second request returns it with 200, from either side", async () => {
    const first = await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: cid.user.id } });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({ type: "direct", name: null, lastMessage: null, unreadCount: 0, lastReadMessageId: null });
    expect(first.body.members.map((m: { id: number }) => m.id).sort()).toEqual([ann.user.id, cid.user.id].sort());
    expect(first.body.createdAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const again = await api("POST", "/api/chats", { token: cid.token, body: { type: "direct", userId: ann.user.id } });
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
  });

  it("refuses a direct chat with oneself or an unknown user", async () => {
    expectError(await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: ann.user.id } }), 400, ErrorCode.BadRequest);
    expectError(await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: 99999999 } }), 404, ErrorCode.NotFound);
  });

  it("creates a group with the creator as its only admin", async () => {
    const res = await api("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "Team", memberIds: [bob.user.id, cid.user.id, ann.user.id, bob.user.id] } });
    expect(res.status).toBe(201);
    expect(res.body.name).toBe("Team");
    expect(res.body.members).toEqual([
      { ...ann.user, role: "admin", lastReadMessageId: null },
      ...[bob, cid].map((u) => ({ ...u.user, role: "member", lastReadMessageId: null })).sort((x, y) => x.id - y.id),
    ]);
    const alone = await api("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "Solo" } });
    expect(alone.status).toBe(201);
    expect(alone.body.members).toEqual([{ ...ann.user, role: "admin", lastReadMessageId: null }]);
  });

  it.each([
    ["no type", { name: "x" }],
    ["unknown type", { type: "channel", name: "x" }],
    ["empty name", { type: "group", name: "" }],
    ["blank name", { type: "group", name: "   " }],
    ["long name", { type: "group", name: "x".repeat(101) }],
    ["string member ids", { type: "group", name: "x", memberIds: ["2"] }],
    ["negative member id", { type: "group", name: "x", memberIds: [-1] }],
    ["float user id", { type: "direct", userId: 1.5 }],
  ])("refuses %s with 400", async (_, body) => {
    expectError(await api("POST", "/api/chats", { token: ann.token, body }), 400, ErrorCode.BadRequest);
  });

  it("refuses a group with an unknown member with 404 and creates nothing", async () => {
    const before = (await api("GET", "/api/chats", { token: bob.token })).body.chats.length;
    expectError(await api("POST", "/api/chats", { token: bob.token, body: { type: "group", name: "x", memberIds: [ann.user.id, 99999998] } }), 404, ErrorCode.NotFound);
    expect((await api("GET", "/api/chats", { token: bob.token })).body.chats.length).toBe(before);
  });
});

describe("reading chats", () => {
  it("lists the caller's chats, most recent activity first", async () => {
    const me = await register("lister");
    const older = await createGroup(me, [bob], "older");
    const newer = await createGroup(me, [bob], "newer");
    let list = await api("GET", "/api/chats", { token: me.token });
    expect(list.body.chats.map((c: Chat) => c.id)).toEqual([newer.id, older.id]);
    const posted = await api("POST", `/api/chats/${older.id}/messages`, { token: bob.token, body: { content: "bump" } });
    // The chat list reads D1's copy of the rooms' logs: let the room copy now instead of in ~1 s.
    expect(await copyToD1Now(older.id)).toBe(true);
    list = await api("GET", "/api/chats", { token: me.token });
    expect(list.body.chats.map((c: Chat) => c.id)).toEqual([older.id, newer.id]);
    expect(list.body.chats[0].lastMessage).toEqual(posted.body);
    expect(list.body.chats[0].unreadCount).toBe(1);
  });

  it("404 for no such chat, 403 for a chat of others, 400 for a bad id", async () => {
    const chat = await createGroup(ann, [bob], "private");
    expect((await api("GET", `/api/chats/${chat.id}`, { token: bob.token })).status).toBe(200);
    expectError(await api("GET", `/api/chats/${chat.id}`, { token: eve.token }), 403, ErrorCode.Forbidden);
    expectError(await api("GET", "/api/chats/99999999", { token: eve.token }), 404, ErrorCode.NotFound);
    for (const bad of ["abc", "0", "-1", "1.5", "1e3", "99999999999999999999"]) {
      expectError(await api("GET", `/api/chats/${bad}`, { token: ann.token }), 400, ErrorCode.BadRequest);
    }
    const eveList = await api("GET", "/api/chats", { token: eve.token });
    expect(eveList.body.chats.map((c: Chat) => c.id)).not.toContain(chat.id);
  });
});

describe("group administration", () => {
  let chat: Chat;
  beforeAll(async () => {
    chat = await createGroup(ann, [bob, cid], "Admin");
  });

  it("lets an admin rename; members and outsiders get 403; names are validated", async () => {
    const res = await api("PATCH", `/api/chats/${chat.id}`, { token: ann.token, body: { name: "Renamed" } });
    expect(res.status).toBe(200);
    expect(res.body.name).toBe("Renamed");
    expectError(await api("PATCH", `/api/chats/${chat.id}`, { token: bob.token, body: { name: "Mine" } }), 403, ErrorCode.Forbidden);
    expectError(await api("PATCH", `/api/chats/${chat.id}`, { token: eve.token, body: { name: "Mine" } }), 403, ErrorCode.Forbidden);
    expectError(await api("PATCH", `/api/chats/${chat.id}`, { token: ann.token, body: { name: "" } }), 400, ErrorCode.BadRequest);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: bob.token })).body.name).toBe("Renamed");
  });

  it("adds members (201), refuses duplicates (409), unknown users (404) and non-admins (403)", async () => {
    const res = await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: eve.user.id } });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({ ...eve.user, role: "member" });
    expectError(await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: eve.user.id } }), 409, ErrorCode.Conflict);
    expectError(await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: 99999997 } }), 404, ErrorCode.NotFound);
    expectError(await api("POST", `/api/chats/${chat.id}/members`, { token: bob.token, body: { userId: eve.user.id } }), 403, ErrorCode.Forbidden);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: eve.token })).status).toBe(200);
  });

  it("changes roles; refuses to leave a group without an admin", async () => {
    const promote = await api("PATCH", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token, body: { role: "admin" } });
    expect(promote.status).toBe(200);
    expect(promote.body).toEqual({ ...bob.user, role: "admin" });
    expect((await api("PATCH", `/api/chats/${chat.id}/members/${ann.user.id}`, { token: bob.token, body: { role: "member" } })).status).toBe(200);
    expectError(await api("PATCH", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: bob.token, body: { role: "member" } }), 400, ErrorCode.BadRequest);
    expectError(await api("PATCH", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: bob.token, body: { role: "owner" } }), 400, ErrorCode.BadRequest);
    expectError(await api("PATCH", `/api/chats/${chat.id}/members/99999996`, { token: bob.token, body: { role: "admin" } }), 404, ErrorCode.NotFound);
    expectError(await api("PATCH", `/api/chats/${chat.id}/members/${cid.user.id}`, { token: ann.token, body: { role: "admin" } }), 403, ErrorCode.Forbidden);
  });

  it("removes members (admins only), lets anyone leave, and promotes the longest-standing member when the last admin leaves", async () => {
    const group = await createGroup(ann, [bob, cid], "Succession");
    expectError(await api("DELETE", `/api/chats/${group.id}/members/${cid.user.id}`, { token: bob.token }), 403, ErrorCode.Forbidden);
    expect((await api("DELETE", `/api/chats/${group.id}/members/${bob.user.id}`, { token: bob.token })).status).toBe(204);
    expectError(await api("GET", `/api/chats/${group.id}`, { token: bob.token }), 403, ErrorCode.Forbidden);
    expect((await api("POST", `/api/chats/${group.id}/members`, { token: ann.token, body: { userId: eve.user.id } })).status).toBe(201);
    const [cidSocket, eveSocket] = await Promise.all([connect(group.id, cid.token), connect(group.id, eve.token)]);
    try {
      // Ann (the only admin) leaves: cid joined before eve, so cid becomes admin.
      expect((await api("DELETE", `/api/chats/${group.id}/members/${ann.user.id}`, { token: ann.token })).status).toBe(204);
      for (const socket of [cidSocket, eveSocket]) {
        expect(await socket.next("member_updated")).toEqual({ chatId: group.id, user: cid.user, role: "admin" });
        // Everything about membership the socket heard, in order: the leaver first, then the promotion.
        const membership = socket.frames.filter((f) => f !== "pong" && f.event.startsWith("member_"));
        expect(membership).toEqual([
          { event: "member_removed", data: { chatId: group.id, user: ann.user } },
          { event: "member_updated", data: { chatId: group.id, user: cid.user, role: "admin" } },
        ]);
      }
      const after = await api("GET", `/api/chats/${group.id}`, { token: cid.token });
      expect(after.body.members).toEqual([
        { ...cid.user, role: "admin", lastReadMessageId: null },
        { ...eve.user, role: "member", lastReadMessageId: null },
      ]);
      // The new admin can administer: eve becomes admin too, and both sockets hear it.
      const promote = await api("PATCH", `/api/chats/${group.id}/members/${eve.user.id}`, { token: cid.token, body: { role: "admin" } });
      expect(promote.status).toBe(200);
      for (const socket of [cidSocket, eveSocket]) {
        expect(await socket.next("member_updated", 2)).toEqual({ chatId: group.id, user: eve.user, role: "admin" });
      }
    } finally {
      cidSocket.close();
      eveSocket.close();
    }
    expectError(await api("DELETE", `/api/chats/${group.id}/members/${ann.user.id}`, { token: cid.token }), 404, ErrorCode.NotFound);
  });

  it("answers 400 for administration of a direct chat", async () => {
    const direct = (await api("POST", "/api/chats", { token: bob.token, body: { type: "direct", userId: eve.user.id } })).body;
    expectError(await api("PATCH", `/api/chats/${direct.id}`, { token: bob.token, body: { name: "x" } }), 400, ErrorCode.BadRequest);
    expectError(await api("POST", `/api/chats/${direct.id}/members`, { token: bob.token, body: { userId: ann.user.id } }), 400, ErrorCode.BadRequest);
    expectError(await api("PATCH", `/api/chats/${direct.id}/members/${eve.user.id}`, { token: bob.token, body: { role: "admin" } }), 400, ErrorCode.BadRequest);
    expectError(await api("DELETE", `/api/chats/${direct.id}/members/${bob.user.id}`, { token: bob.token }), 400, ErrorCode.BadRequest);
    // Outsiders learn nothing more than 403.
    expectError(await api("PATCH", `/api/chats/${direct.id}`, { token: ann.token, body: { name: "x" } }), 403, ErrorCode.Forbidden);
  });
});
