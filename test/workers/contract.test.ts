/**
 * The order of checks and the statuses docs/PROTOCOL.md writes down for auth, users, chats and the
 * socket upgrades: which answer wins when a request is wrong in several ways.
 */
import { env, SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/http/app";
import { ErrorCode } from "../../src/protocol/errors";
import { limits } from "../../src/protocol/limits";
import { api, BASE, createGroup, expectError, register, type TestUser } from "./helpers";

let ann: TestUser, bob: TestUser, eve: TestUser;
beforeAll(async () => {
  [ann, bob, eve] = await Promise.all([register("ca"), register("cb"), register("ce")]);
});
const codeOf = async (res: Response) => [res.status, ((await res.json()) as { code: string }).code];

describe("Conventions: what answers first", () => {
  it("the token comes before the route: an unknown /api path is 401 without one, 404 with one", async () => {
    expectError(await api("GET", "/api/no-such-route"), 401, ErrorCode.Unauthorized);
    expectError(await api("GET", "/api/no-such-route", { token: ann.token }), 404, ErrorCode.NotFound);
    // An unknown method on a known path is a route that does not exist.
    expectError(await api("PUT", "/api/me", { token: ann.token }), 404, ErrorCode.NotFound);
  });

  it("a body over 64 KiB is 413 before the token is looked at", async () => {
    const huge = JSON.stringify({ type: "group", name: "x".repeat(limits.maxBodyBytes) });
    expectError(await api("POST", "/api/chats", { raw: huge }), 413, ErrorCode.PayloadTooLarge);
    expectError(await api("POST", "/api/chats", { raw: huge, token: "forged" }), 413, ErrorCode.PayloadTooLarge);
  });

  it("the token comes before a malformed path: 401, then 400", async () => {
    expectError(await api("GET", "/api/chats/abc"), 401, ErrorCode.Unauthorized);
    expectError(await api("GET", "/api/chats/abc", { token: ann.token }), 400, ErrorCode.BadRequest);
  });
});

describe("Authentication", () => {
  it("login with a body that breaks the register rules is 400, not the 401 of a wrong password", async () => {
    const login = (username: string, password: string) => api("POST", "/api/auth/login", { body: { username, password }, headers: { "CF-Connecting-IP": "198.18.0.1" } });
    expectError(await login("ab", ann.password), 400, ErrorCode.BadRequest);
    expectError(await login(ann.user.username, "short"), 400, ErrorCode.BadRequest);
    expectError(await login(ann.user.username, "x".repeat(limits.passwordMax + 1)), 400, ErrorCode.BadRequest);
    expectError(await login(ann.user.username, "wrong but well formed"), 401, ErrorCode.Unauthorized);
    expect((await login(ann.user.username.toUpperCase(), ann.password)).status).toBe(200);
  });

  it("a password change: 400 for a password out of the rules, 403 for a wrong current one, and nothing changes", async () => {
    const user = await register("cpw");
    const change = (currentPassword: string, newPassword: string) => api("POST", "/api/auth/password", { token: user.token, body: { currentPassword, newPassword } });
    expectError(await change("short", "a fine new password"), 400, ErrorCode.BadRequest);
    expectError(await change(user.password, "x".repeat(limits.passwordMax + 1)), 400, ErrorCode.BadRequest);
    expectError(await change("not the password", "a fine new password"), 403, ErrorCode.Forbidden);
    // Nothing changed: the token still works and the old password still signs in.
    expect((await api("GET", "/api/me", { token: user.token })).status).toBe(200);
    expect((await api("POST", "/api/auth/login", { body: { username: user.user.username, password: user.password } })).status).toBe(200);
  });

  it("logout answers 204 with no body", async () => {
    const user = await register("cout");
    const res = await api("POST", "/api/auth/logout", { token: user.token });
    expect(res).toMatchObject({ status: 204, body: null });
  });
});

describe("Users", () => {
  it("q may be left out: every user but the caller, at most 20, by lower-cased username", async () => {
    const res = await api("GET", "/api/users", { token: ann.token });
    expect(res.status).toBe(200);
    const users = res.body.users as { id: number; username: string }[];
    expect(users.length).toBeGreaterThan(0);
    expect(users.length).toBeLessThanOrEqual(limits.userSearchMax);
    expect(users.map((u) => u.id)).not.toContain(ann.user.id);
    const keys = users.map((u) => u.username.toLowerCase());
    expect(keys).toEqual([...keys].sort());
  });
});

describe("Chats", () => {
  it("a group: memberIds optional, the creator's own id and repeats ignored", async () => {
    const alone = await api("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "Alone" } });
    expect(alone.status).toBe(201);
    expect(alone.body.members).toEqual([{ ...ann.user, role: "admin", lastReadMessageId: null }]);
    const twice = await api("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "Twice", memberIds: [bob.user.id, ann.user.id, bob.user.id] } });
    expect(twice.status).toBe(201);
    expect(twice.body.members.map((m: { id: number; role: string }) => [m.id, m.role])).toEqual([
      [ann.user.id, "admin"],
      [bob.user.id, "member"],
    ]);
    expectError(await api("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "Crowd", memberIds: Array.from({ length: 1001 }, (_, i) => i + 1) } }), 400, ErrorCode.BadRequest);
  });

  it("a direct chat has no name and two members with the role member", async () => {
    const direct = await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: eve.user.id } });
    expect([200, 201]).toContain(direct.status);
    expect(direct.body.name).toBeNull();
    expect(direct.body.members.map((m: { role: string }) => m.role)).toEqual(["member", "member"]);
  });

  it("names: 1–100 UTF-16 code units, surrounding white space counted, not only white space", async () => {
    const create = (name: string) => api("POST", "/api/chats", { token: ann.token, body: { type: "group", name } });
    expect((await create("😀".repeat(limits.chatNameMax / 2))).status).toBe(201);
    expectError(await create("😀".repeat(limits.chatNameMax / 2) + "a"), 400, ErrorCode.BadRequest);
    expectError(await create(" " + "x".repeat(limits.chatNameMax)), 400, ErrorCode.BadRequest);
    expectError(await create("   "), 400, ErrorCode.BadRequest);
    expect((await create("  padded  ")).body.name).toBe("  padded  ");
  });

  it("administration checks no such chat, non-member, direct chat, then admin; the same role again is 200", async () => {
    const group = await createGroup(ann, [bob], "Admin order");
    const direct = (await api("POST", "/api/chats", { token: bob.token, body: { type: "direct", userId: ann.user.id } })).body;
    const rename = (chatId: number, user: TestUser) => api("PATCH", `/api/chats/${chatId}`, { token: user.token, body: { name: "New" } });
    expectError(await rename(99_999_998, bob), 404, ErrorCode.NotFound);
    expectError(await rename(direct.id, eve), 403, ErrorCode.Forbidden);
    expectError(await rename(direct.id, bob), 400, ErrorCode.BadRequest);
    expectError(await rename(group.id, bob), 403, ErrorCode.Forbidden);
    const same = await api("PATCH", `/api/chats/${group.id}/members/${bob.user.id}`, { token: ann.token, body: { role: "member" } });
    expect(same).toMatchObject({ status: 200, body: { ...bob.user, role: "member" } });
    // Leaving a direct chat is administration of a direct chat.
    expectError(await api("DELETE", `/api/chats/${direct.id}/members/${bob.user.id}`, { token: bob.token }), 400, ErrorCode.BadRequest);
  });
});

describe("WebSocket upgrades: the order of the checks", () => {
  const upgrade = (path: string, headers: Record<string, string> = {}) => SELF.fetch(BASE + path, { headers: { Upgrade: "websocket", ...headers } });

  it("401 first, then 400 for a malformed chatId, since or changesSince", async () => {
    const chat = await createGroup(ann, [bob], "Sockets");
    expect(await codeOf(await upgrade(`/api/chats/${chat.id}/ws?since=-1`))).toEqual([401, ErrorCode.Unauthorized]);
    for (const query of ["since=-1", "since=abc", "changesSince=1.5", "since=01"]) {
      expect(await codeOf(await upgrade(`/api/chats/${chat.id}/ws?token=${ann.token}&${query}`)), query).toEqual([400, ErrorCode.BadRequest]);
    }
    expect(await codeOf(await upgrade(`/api/chats/0/ws?token=${ann.token}`))).toEqual([400, ErrorCode.BadRequest]);
    // 400 before the chat is looked at: a malformed since on a chat that does not exist.
    expect(await codeOf(await upgrade(`/api/chats/99999997/ws?token=${ann.token}&since=x`))).toEqual([400, ErrorCode.BadRequest]);
  });

  it("membership before the upgrade: a non-member's plain GET is 403, a member's 426; the inbox's is 426", async () => {
    const chat = await createGroup(ann, [], "Plain");
    const plain = (path: string, user: TestUser) => SELF.fetch(BASE + path, { headers: { Authorization: `Bearer ${user.token}` } });
    expect(await codeOf(await plain(`/api/chats/${chat.id}/ws`, eve))).toEqual([403, ErrorCode.Forbidden]);
    expect(await codeOf(await plain(`/api/chats/99999996/ws`, eve))).toEqual([404, ErrorCode.NotFound]);
    expect(await codeOf(await plain(`/api/chats/${chat.id}/ws`, ann))).toEqual([426, ErrorCode.UpgradeRequired]);
    expect(await codeOf(await plain("/api/inbox/ws", ann))).toEqual([426, ErrorCode.UpgradeRequired]);
    expect(await codeOf(await SELF.fetch(`${BASE}/api/inbox/ws`, { headers: { Upgrade: "websocket" } }))).toEqual([401, ErrorCode.Unauthorized]);
  });

  it("with ALLOWED_ORIGINS set: 400 before the origin's 403, and the origin's 403 before the chat is looked at", async () => {
    const app = createApp();
    const withOrigins = { ...env, ALLOWED_ORIGINS: "https://chat.example.com" };
    const ctx = { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext;
    const evil = (path: string) => app.request(path, { headers: { Upgrade: "websocket", Origin: "https://evil.example" } }, withOrigins, ctx);
    expect(await codeOf(await evil(`/api/chats/1/ws?token=${ann.token}&since=x`))).toEqual([400, ErrorCode.BadRequest]);
    expect(await codeOf(await evil(`/api/chats/99999995/ws?token=${ann.token}`))).toEqual([403, ErrorCode.Forbidden]);
    expect(await codeOf(await evil(`/api/inbox/ws?token=${ann.token}`))).toEqual([403, ErrorCode.Forbidden]);
    expect(await codeOf(await evil(`/api/chats/1/ws`))).toEqual([401, ErrorCode.Unauthorized]);
  });
});
