/**
 * D1 read replication (issue 25, item 4): the `X-D1-Bookmark` round trip, what a malformed one does,
 * and which reads go to a replica session and which to the primary. Locally D1 has no replicas (every
 * session reads the one database), so these test the plumbing; docs/ARCHITECTURE.md says what
 * production adds.
 */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { laterBookmark, parseBookmark } from "../../src/db/bookmarks";
import { createApp } from "../../src/http/app";
import { api, BASE, register, uniqueName } from "./helpers";

const FORMAT = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;
const bookmarkOf = (res: { headers: Headers }) => res.headers.get("X-D1-Bookmark");

describe("X-D1-Bookmark", () => {
  it("register answers a bookmark; a later request carrying it answers one that is not older", async () => {
    const username = uniqueName("Bm");
    const reg = await api("POST", "/api/auth/register", { body: { username, password: "long enough" } });
    expect(reg.status).toBe(201);
    const first = bookmarkOf(reg);
    expect(first).toMatch(FORMAT);
    // Sign-in reads from a session started at that bookmark: it finds the account just written.
    const login = await api("POST", "/api/auth/login", { body: { username, password: "long enough" }, headers: { "X-D1-Bookmark": first! } });
    expect(login.status).toBe(200);
    const second = bookmarkOf(login);
    expect(second).toMatch(FORMAT);
    expect(second! >= first!).toBe(true);
    const search = await api("GET", `/api/users?q=${username.slice(0, 3)}`, { token: login.body.token, headers: { "X-D1-Bookmark": second! } });
    expect(search.status).toBe(200);
    expect(bookmarkOf(search)! >= second!).toBe(true);
  });

  it("a write answers a bookmark newer than the one it was sent with", async () => {
    const alice = await register("BmA");
    const bob = await register("BmB");
    const before = bookmarkOf(await api("GET", "/api/users?q=zz", { token: alice.token }))!;
    const created = await api("POST", "/api/chats", { token: alice.token, body: { type: "direct", userId: bob.user.id }, headers: { "X-D1-Bookmark": before } });
    expect(created.status).toBe(201);
    expect(bookmarkOf(created)! > before).toBe(true);
  });

  it.each([
    ["junk", "garbage"],
    ["upper-case hex", "00000000-0000000A-00000000-00000000000000000000000000000000"],
    ["a field too short", "0000000-00000001-00000000-00000000000000000000000000000000"],
    ["too long", "f".repeat(5000)],
    ["a constraint, not a bookmark", "first-primary"],
  ])("a malformed one (%s) is ignored: the request is served and answers a good bookmark", async (_, header) => {
    const user = await register("BmBad");
    const res = await api("GET", "/api/users?q=bm", { token: user.token, headers: { "X-D1-Bookmark": header } });
    expect(res.status).toBe(200);
    // Not the junk echoed back (locally D1 keeps whatever string a session was started from).
    expect(bookmarkOf(res)).toMatch(FORMAT);
    const login = await api("POST", "/api/auth/login", { body: { username: user.user.username, password: user.password }, headers: { "X-D1-Bookmark": header } });
    expect(login.status).toBe(200);
    expect(bookmarkOf(login)).toMatch(FORMAT);
  });

  it("is allowed and exposed by CORS", async () => {
    const res = await api("OPTIONS", "/api/users", { headers: { Origin: "https://elsewhere.test", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization,x-d1-bookmark" } });
    expect(res.headers.get("Access-Control-Allow-Headers")?.toLowerCase()).toContain("x-d1-bookmark");
    const user = await register("BmCors");
    const get = await api("GET", "/api/users?q=x", { token: user.token, headers: { Origin: "https://elsewhere.test" } });
    expect(get.headers.get("Access-Control-Expose-Headers")?.toLowerCase()).toContain("x-d1-bookmark");
  });

  it("bookmarks parse and compare as D1's do", () => {
    const b = "00000000-0000000e-00000000-00000000000000000000000000000000";
    expect(parseBookmark(b)).toBe(b);
    expect(parseBookmark(undefined)).toBeNull();
    expect(parseBookmark("garbage")).toBeNull();
    expect(laterBookmark(b, null)).toBe(b);
    expect(laterBookmark("00000000-0000000f-00000000-00000000000000000000000000000000", b)).toBe("00000000-0000000f-00000000-00000000000000000000000000000000");
  });
});

/**
 * The binding, recording which session (by the constraint or bookmark it was started from) each
 * statement went through; statements on the binding itself are "binding".
 */
function recordingD1() {
  const seen: { via: string; sql: string }[] = [];
  const session = (via: string, inner: D1DatabaseSession) =>
    new Proxy(inner, {
      get(target, prop) {
        if (prop === "prepare") return (sql: string) => (seen.push({ via, sql }), target.prepare(sql));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const binding = new Proxy(env.DB, {
    get(target, prop) {
      if (prop === "withSession") return (c?: string) => session(c === "first-primary" ? "primary" : "replica", target.withSession(c));
      if (prop === "prepare") return (sql: string) => (seen.push({ via: "binding", sql }), target.prepare(sql));
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { binding, seen };
}

describe("which reads a replica may serve", () => {
  const call = async (DB: D1Database, method: string, path: string, token?: string, body?: unknown) => {
    const headers: Record<string, string> = {};
    if (token) headers["Authorization"] = `Bearer ${token}`;
    if (body) headers["Content-Type"] = "application/json";
    const ctx = createExecutionContext();
    const res = await createApp().request(BASE + path, { method, headers, body: body ? JSON.stringify(body) : undefined }, { ...env, DB }, ctx);
    await waitOnExecutionContext(ctx);
    return res;
  };

  const reads = (seen: { via: string; sql: string }[], pattern: RegExp) => seen.filter((s) => pattern.test(s.sql)).map((s) => s.via);

  it("the token version comes from the primary (a revocation is never read from a replica); user search from the replica", async () => {
    // Registered through SELF, never yet authenticated: this isolate has not cached its token version.
    const user = await register("BmTv");
    const { binding, seen } = recordingD1();
    const res = await call(binding, "GET", "/api/users?q=bm", user.token);
    expect(res.status).toBe(200);
    expect(reads(seen, /^select "token_version" from "users"/i)).toEqual(["primary"]);
    expect(reads(seen, /^select "id", "username" from "users"/i)).toEqual(["replica"]);
    expect(res.headers.get("X-D1-Bookmark")).toMatch(FORMAT);
  });

  it("sign-in reads from the replica; a wrong password is confirmed on the primary before 401", async () => {
    const user = await register("BmLogin");
    const good = recordingD1();
    expect((await call(good.binding, "POST", "/api/auth/login", undefined, { username: user.user.username, password: user.password })).status).toBe(200);
    expect(reads(good.seen, /from "users"/i)).toEqual(["replica"]);
    const bad = recordingD1();
    expect((await call(bad.binding, "POST", "/api/auth/login", undefined, { username: user.user.username, password: "not the password" })).status).toBe(401);
    expect(reads(bad.seen, /from "users"/i)).toEqual(["replica", "primary"]);
  });

  it("writes and what must not miss another's write go to the primary: logout, chat creation, message search", async () => {
    const alice = await register("BmW");
    const bob = await register("BmW");
    const { binding, seen } = recordingD1();
    expect((await call(binding, "POST", "/api/chats", alice.token, { type: "group", name: "g", memberIds: [bob.user.id] })).status).toBe(201);
    expect((await call(binding, "GET", "/api/search?q=hello", alice.token)).status).toBe(200);
    expect((await call(binding, "POST", "/api/auth/logout", alice.token)).status).toBe(204);
    const statements = seen.filter((s) => !/^select "id", "username" from "users"/i.test(s.sql) || s.via !== "replica");
    expect(statements.length).toBeGreaterThan(3);
    expect(statements.filter((s) => s.via !== "primary")).toEqual([]);
  });
});
