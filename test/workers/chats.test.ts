/** User search, chat creation and listing, and group administration over HTTP. */
import { beforeAll, describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import type { Chat } from "../../src/protocol/models";
import { api, createGroup, register, type TestUser, copyToD1Now } from "./helpers";

let ann: TestUser, bob: TestUser, cid: TestUser, eve: TestUser;
beforeAll(async () => {
  [ann, bob, cid, eve] = await Promise.all([register("ann"), register("bob"), register("cid"), register("eve")]);
});

const expectError = (res: { status: number; body: unknown }, status: number, code: string) => {
  expect(res.status).toBe(status);
  expect(res.body).toEqual({ error: expect.any(String), code });
};

describe("users", () => {
  it("finds users by case-insensitive prefix, never the caller, at most 20", async () => {
    const prefix = ann.user.username.slice(0, 3).toUpperCase();
    const res = await api("GET", `/api/users?q=${prefix}`, { token: bob.token });
    expect(res.status).toBe(200);
    expect(res.body.users).toContainEqual(ann.user);
    expect(res.body.users.every((u: { username: string }) => u.username.toLowerCase().startsWith(prefix.toLowerCase()))).toBe(true);
    const self = await api("GET", `/api/users?q=${ann.user.username}`, { token: ann.token });
    expect(self.body.users).toEqual([]);
    const all = await api("GET", "/api/users?q=", { token: ann.token });
    expect(all.body.users.length).toBeLessThanOrEqual(20);
  });

  it("treats LIKE wildcards literally and refuses overlong queries", async () => {
    const res = await api("GET", "/api/users?q=%25", { token: ann.token });
    expect(res.body.users).toEqual([]);
    const under = await api("GET", "/api/users?q=_", { token: ann.token });
    expect(under.body.users.every((u: { username: string }) => u.username.startsWith("_"))).toBe(true);
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
      { ...ann.user, role: "admin" },
      ...[bob, cid].map((u) => ({ ...u.user, role: "member" })).sort((x, y) => x.id - y.id),
    ]);
    const alone = await api("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "Solo" } });
    expect(alone.status).toBe(201);
    expect(alone.body.members).toEqual([{ ...ann.user, role: "admin" }]);
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
    // Ann (the only admin) leaves: cid joined before eve, so cid becomes admin.
    expect((await api("DELETE", `/api/chats/${group.id}/members/${ann.user.id}`, { token: ann.token })).status).toBe(204);
    const after = await api("GET", `/api/chats/${group.id}`, { token: cid.token });
    expect(after.body.members).toEqual([
      { ...cid.user, role: "admin" },
      { ...eve.user, role: "member" },
    ]);
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
