/** Brute-force protection, token revocation, origin checks, and secrets kept out of logs. */
import { env, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { THROTTLE } from "../../src/auth/login-throttle";
import { createApp } from "../../src/http/app";
import { ErrorCode } from "../../src/protocol/errors";
import { api, BASE, createGroup, register, uniqueName } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const login = (username: string, password: string, ip = "203.0.113.1") =>
  api("POST", "/api/auth/login", { body: { username, password }, headers: { "CF-Connecting-IP": ip } });

describe("login throttling", () => {
  it("locks an account after repeated failures, with Retry-After, even for the right password", async () => {
    const user = await register("victim");
    for (let i = 0; i < THROTTLE.perUser; i++) expect((await login(user.user.username, "wrong password", `198.51.100.${i}`)).status).toBe(401);
    const blocked = await login(user.user.username, user.password, "198.51.100.200");
    expect(blocked.status).toBe(429);
    expect(blocked.body).toEqual({ error: expect.any(String), code: ErrorCode.RateLimited });
    const retryAfter = Number(blocked.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(THROTTLE.windowMs / 1000);
    // Other accounts are unaffected.
    const other = await register("bystander");
    expect((await login(other.user.username, other.password, "198.51.100.200")).status).toBe(200);
  });

  it("forgets an account's failures after a successful login", async () => {
    const user = await register("forgetful");
    for (let i = 0; i < THROTTLE.perUser - 1; i++) await login(user.user.username, "wrong password", "192.0.2.50");
    expect((await login(user.user.username, user.password, "192.0.2.50")).status).toBe(200);
    for (let i = 0; i < THROTTLE.perUser - 1; i++) await login(user.user.username, "wrong password", "192.0.2.50");
    expect((await login(user.user.username, user.password, "192.0.2.50")).status).toBe(200);
  });

  it("expires login_failures rows: each failure deletes a bounded batch of rows whose window ended; a success its address's ended row", async () => {
    const prefix = `ip:stale-${uniqueName()}-`;
    const old = Date.now() - THROTTLE.windowMs - 1000;
    const count = (where: string, ...binds: unknown[]) => env.DB.prepare(`SELECT count(*) AS n FROM login_failures WHERE ${where}`).bind(...binds).first<number>("n");
    // Rows whose window ended long ago, as a day of failed logins leaves them, and some still current.
    // More than one batch (THROTTLE.pruneBatch, 100) of them.
    const stale = 150;
    for (let i = 0; i < stale; i += 50) {
      await env.DB.batch(Array.from({ length: Math.min(50, stale - i) }, (_, j) => env.DB.prepare("INSERT INTO login_failures (key, count, window_start) VALUES (?, 3, ?)").bind(`${prefix}${i + j}`, old - (i + j))));
    }
    await env.DB.prepare("INSERT INTO login_failures (key, count, window_start) VALUES (?, 3, ?)").bind(`${prefix}current`, Date.now()).run();
    expect(await count("key LIKE ?", `${prefix}%`)).toBe(stale + 1);
    // One failed login deletes at most one batch, the oldest first…
    expect((await login(uniqueName("nobody"), "wrong password", "192.0.2.99")).status).toBe(401);
    expect(await count("key LIKE ?", `${prefix}%`)).toBe(stale + 1 - 100);
    // …and the next the rest; a window still open is kept.
    expect((await login(uniqueName("nobody"), "wrong password", "192.0.2.99")).status).toBe(401);
    expect(await count("key LIKE ?", `${prefix}%`)).toBe(1);
    expect(await count("key = ?", `${prefix}current`)).toBe(1);
    expect(await count("window_start <= ?", Date.now() - THROTTLE.windowMs)).toBe(0);

    // A successful login clears its username's row, and its address's once that window ended.
    const user = await register("pruned");
    const ip = `192.0.2.${100 + Math.floor(Math.random() * 100)}`;
    expect((await login(user.user.username, "wrong password", ip)).status).toBe(401);
    await env.DB.prepare("UPDATE login_failures SET window_start = ? WHERE key = ?").bind(old, `ip:${ip}`).run();
    expect((await login(user.user.username, user.password, ip)).status).toBe(200);
    expect(await count("key IN (?, ?)", `user:${user.user.username.toLowerCase()}`, `ip:${ip}`)).toBe(0);
  });

  it("blocks one address spraying many accounts, not other addresses", async () => {
    const ip = "203.0.113.77";
    for (let i = 0; i < THROTTLE.perIp; i++) await login(`nobody${i}x`, "wrong password", ip);
    const user = await register("sprayed");
    expect((await login(user.user.username, user.password, ip)).status).toBe(429);
    expect((await login(user.user.username, user.password, "203.0.113.78")).status).toBe(200);
  });
});

describe("token revocation", () => {
  it("logout revokes every token of the user, for HTTP and WebSocket alike", async () => {
    const user = await register("leaver");
    const chat = await createGroup(user, [], "Mine");
    const second = (await login(user.user.username, user.password)).body.token as string;
    expect((await api("GET", "/api/me", { token: user.token })).status).toBe(200);
    expect((await api("POST", "/api/auth/logout", { token: second })).status).toBe(204);
    for (const token of [user.token, second]) {
      const me = await api("GET", "/api/me", { token });
      expect(me.status).toBe(401);
      expect(me.body.code).toBe(ErrorCode.Unauthorized);
      const ws = await SELF.fetch(`${BASE}/api/chats/${chat.id}/ws?token=${token}`, { headers: { Upgrade: "websocket" } });
      expect(ws.status).toBe(401);
    }
    const fresh = (await login(user.user.username, user.password)).body.token;
    expect((await api("GET", "/api/me", { token: fresh })).status).toBe(200);
  });

  it("a password change needs the current password and revokes older tokens", async () => {
    const user = await register("changer");
    const wrong = await api("POST", "/api/auth/password", { token: user.token, body: { currentPassword: "not it at all", newPassword: "a new password" } });
    expect(wrong.status).toBe(403);
    const changed = await api("POST", "/api/auth/password", { token: user.token, body: { currentPassword: user.password, newPassword: "a new password" } });
    expect(changed.status).toBe(200);
    expect(changed.body.user).toEqual(user.user);
    expect((await api("GET", "/api/me", { token: user.token })).status).toBe(401);
    expect((await api("GET", "/api/me", { token: changed.body.token })).status).toBe(200);
    expect((await login(user.user.username, user.password)).status).toBe(401);
    expect((await login(user.user.username, "a new password")).status).toBe(200);
    const tooShort = await api("POST", "/api/auth/password", { token: changed.body.token, body: { currentPassword: "a new password", newPassword: "short" } });
    expect(tooShort.status).toBe(400);
  });

  it("a deleted user's token gets nothing", async () => {
    const user = await register("ghost");
    await env.DB.prepare("DELETE FROM users WHERE id = ?").bind(user.user.id).run();
    for (const path of ["/api/me", "/api/chats", "/api/users?q=a"]) expect((await api("GET", path, { token: user.token })).status).toBe(401);
  });
});

describe("origins", () => {
  const withOrigins = { ...env, ALLOWED_ORIGINS: "https://chat.example.com, https://app.example.com" };
  const app = createApp();

  it("answers CORS for allowed origins only", async () => {
    const preflight = (origin: string) =>
      app.request("/api/chats", { method: "OPTIONS", headers: { Origin: origin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type" } }, withOrigins);
    const good = await preflight("https://app.example.com");
    expect(good.headers.get("Access-Control-Allow-Origin")).toBe("https://app.example.com");
    expect(good.headers.get("Access-Control-Allow-Headers")?.toLowerCase()).toContain("authorization");
    const bad = await preflight("https://evil.example");
    expect(bad.headers.get("Access-Control-Allow-Origin")).toBeNull();
    const open = await app.request("/api/chats", { method: "OPTIONS", headers: { Origin: "https://anywhere.example", "Access-Control-Request-Method": "GET" } }, env);
    expect(open.headers.get("Access-Control-Allow-Origin")).toBe("*");
  });

  it("refuses WebSocket upgrades from pages of other origins, and lets non-browser clients through", async () => {
    const user = await register("origin");
    const chat = await createGroup(user, [], "Origins");
    const upgrade = (headers: Record<string, string>) =>
      app.request(`/api/chats/${chat.id}/ws?token=${user.token}`, { headers: { Upgrade: "websocket", ...headers } }, withOrigins, { waitUntil() {}, passThroughOnException() {}, props: {} } as unknown as ExecutionContext);
    const evil = await upgrade({ Origin: "https://evil.example" });
    expect(evil.status).toBe(403);
    expect(await evil.json()).toEqual({ error: "origin not allowed", code: ErrorCode.Forbidden });
    expect((await upgrade({ Origin: "https://chat.example.com" })).status).toBe(101);
    expect((await upgrade({})).status).toBe(101);
  });
});

describe("logs", () => {
  it("never contain tokens, passwords or the signing secret, even when requests fail", async () => {
    const lines: string[] = [];
    for (const level of ["log", "info", "warn", "error", "debug"] as const) {
      vi.spyOn(console, level).mockImplementation((...args: unknown[]) => void lines.push(args.map(String).join(" ")));
    }
    const user = await register("quiet");
    const password = `pw-${uniqueName()}`;
    await api("POST", "/api/auth/login", { body: { username: user.user.username, password } });
    await api("GET", `/api/chats/999999/ws?token=${user.token}`, { headers: { Upgrade: "websocket" } });
    await api("GET", "/api/chats/abc", { token: user.token });
    await api("POST", "/api/chats", { token: user.token, raw: "{broken" });
    await createApp().request("/boom", {}, { ...env, JWT_SECRET: "short" });
    const all = lines.join("\n");
    for (const secret of [user.token, user.password, password, env.JWT_SECRET, "short"]) expect(all).not.toContain(secret);
  });
});
