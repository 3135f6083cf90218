/** Register, login, me, and every way a token can be wrong. */
import { env } from "cloudflare:test";
import { SignJWT, base64url } from "jose";
import { beforeAll, describe, expect, it } from "vitest";
import { hashPassword, verifyPassword } from "../../src/auth/password";
import { ConfigError, secretKey, signToken, TOKEN_TTL_SECONDS, tokenTtlSeconds, verifyKeyFor, verifyToken } from "../../src/auth/token";
import { createApp } from "../../src/http/app";
import { ErrorCode } from "../../src/protocol/errors";
import { api, register, uniqueName, type TestUser } from "./helpers";

const key = new TextEncoder().encode(env.JWT_SECRET);

describe("register", () => {
  it("creates a user and returns a token for it", async () => {
    const username = uniqueName("Reg");
    const res = await api("POST", "/api/auth/register", { body: { username, password: "long enough" } });
    expect(res.status).toBe(201);
    expect(res.body.user).toEqual({ id: expect.any(Number), username });
    const me = await api("GET", "/api/me", { token: res.body.token });
    expect(me.body).toEqual(res.body.user);
  });

  it("treats usernames as unique without regard to case", async () => {
    const username = uniqueName("Case");
    expect((await api("POST", "/api/auth/register", { body: { username, password: "password1" } })).status).toBe(201);
    const again = await api("POST", "/api/auth/register", { body: { username: username.toUpperCase(), password: "password1" } });
    expect(again.status).toBe(409);
    expect(again.body).toEqual({ error: expect.any(String), code: ErrorCode.Conflict });
  });

  it.each([
    ["short username", { username: "ab", password: "password1" }],
    ["long username", { username: "a".repeat(33), password: "password1" }],
    ["bad characters", { username: "ann smith", password: "password1" }],
    ["non-ASCII letters", { username: "ännchen", password: "password1" }],
    ["short password", { username: "validname", password: "1234567" }],
    ["long password", { username: "validname", password: "x".repeat(129) }],
    ["wrong types", { username: 12345, password: true }],
    ["missing fields", {}],
  ])("refuses %s with 400", async (_, body) => {
    const res = await api("POST", "/api/auth/register", { body });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: expect.any(String), code: ErrorCode.BadRequest });
  });

  it("stores only a salted slow hash", async () => {
    const user = await register("hash");
    const row = await env.DB.prepare("SELECT * FROM users WHERE id = ?").bind(user.user.id).first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain(user.password);
    expect(row!.password_salt).toMatch(/^[A-Za-z0-9+/]{22}==$/);
  });
});

describe("login", () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await register("login");
  });

  it("returns a token for the right password, any letter case of the name", async () => {
    const res = await api("POST", "/api/auth/login", { body: { username: user.user.username.toUpperCase(), password: user.password } });
    expect(res.status).toBe(200);
    expect(res.body.user).toEqual(user.user);
    expect((await api("GET", "/api/me", { token: res.body.token })).status).toBe(200);
  });

  it("gives the same 401 for a wrong password and an unknown user", async () => {
    const wrong = await api("POST", "/api/auth/login", { body: { username: user.user.username, password: "wrong password" } });
    const unknown = await api("POST", "/api/auth/login", { body: { username: uniqueName("nobody"), password: "wrong password" } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(unknown.body).toEqual(wrong.body);
    expect(wrong.body.code).toBe(ErrorCode.Unauthorized);
  });
});

describe("tokens", () => {
  let user: TestUser;
  beforeAll(async () => {
    user = await register("tok");
  });
  const now = () => Math.floor(Date.now() / 1000);
  const claims = () => ({ username: user.user.username });
  const me = (token: string) => api("GET", "/api/me", { token });

  it("issues HS256 tokens with sub, username, iat and a 24 h exp", async () => {
    const [header, payload] = user.token.split(".").slice(0, 2).map((p) => JSON.parse(new TextDecoder().decode(base64url.decode(p!))));
    expect(header.alg).toBe("HS256");
    expect(payload).toMatchObject({ sub: String(user.user.id), username: user.user.username });
    expect(payload.exp - payload.iat).toBe(24 * 60 * 60);
  });

  it("refuses alg none", async () => {
    const encode = (o: object) => base64url.encode(JSON.stringify(o));
    const token = `${encode({ alg: "none", typ: "JWT" })}.${encode({ sub: String(user.user.id), ...claims(), exp: now() + 60 })}.`;
    const res = await me(token);
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ error: expect.any(String), code: ErrorCode.Unauthorized });
  });

  it("refuses other algorithms, even with the right secret", async () => {
    const token = await new SignJWT(claims()).setProtectedHeader({ alg: "HS512" }).setSubject(String(user.user.id)).setExpirationTime("1h").sign(key);
    expect((await me(token)).status).toBe(401);
  });

  it("refuses a forged signature and a token signed with another secret", async () => {
    const [h, p] = user.token.split(".");
    const payload = JSON.parse(new TextDecoder().decode(base64url.decode(p!)));
    const forgedPayload = base64url.encode(JSON.stringify({ ...payload, sub: "1" }));
    expect((await me(`${h}.${forgedPayload}.${user.token.split(".")[2]}`)).status).toBe(401);
    const other = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).setSubject(String(user.user.id)).setExpirationTime("1h").sign(new TextEncoder().encode("another-secret-another-secret-another-secret"));
    expect((await me(other)).status).toBe(401);
  });

  it("refuses expired tokens and tokens without exp", async () => {
    const expired = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).setSubject(String(user.user.id)).setIssuedAt(now() - 7200).setExpirationTime(now() - 3600).sign(key);
    expect((await me(expired)).status).toBe(401);
    const forever = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).setSubject(String(user.user.id)).sign(key);
    expect((await me(forever)).status).toBe(401);
  });

  it("refuses malformed tokens and malformed headers", async () => {
    for (const token of ["abc", "a.b.c", "....", user.token + "x"]) expect((await me(token)).status).toBe(401);
    for (const header of [`Basic ${user.token}`, `Bearer`, `bearer  ${user.token}`, user.token]) {
      const res = await api("GET", "/api/me", { headers: { Authorization: header } });
      expect(res.status).toBe(401);
    }
    expect((await api("GET", "/api/me")).status).toBe(401);
  });

  it("refuses a token whose user no longer exists", async () => {
    const ghost = await signToken({ id: 987654321, username: "ghost" }, 0, key);
    expect((await me(ghost)).status).toBe(401);
  });

  it("verifyToken rejects claims of the wrong shape", async () => {
    const noName = await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("5").setExpirationTime("1h").sign(key);
    expect(await verifyToken(noName, key)).toBeNull();
    const badSub = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).setSubject("x5").setExpirationTime("1h").sign(key);
    expect(await verifyToken(badSub, key)).toBeNull();
    expect(await verifyToken(user.token, key)).toEqual({ user: user.user, version: 0, expiresAt: expect.any(Number) });
  });

  it("imports a verification key once per secret, and never verifies with another secret's key", async () => {
    const otherKey = secretKey("another-secret-another-secret-another-secret");
    expect(verifyKeyFor(key)).toBe(verifyKeyFor(key));
    expect(verifyKeyFor(otherKey)).not.toBe(verifyKeyFor(key));
    // Each cached key still verifies only its own secret's tokens, in either order of first use.
    const otherToken = await new SignJWT(claims()).setProtectedHeader({ alg: "HS256" }).setSubject(String(user.user.id)).setExpirationTime("1h").sign(otherKey);
    expect(await verifyToken(user.token, key)).not.toBeNull();
    expect(await verifyToken(user.token, otherKey)).toBeNull();
    expect(await verifyToken(otherToken, key)).toBeNull();
    expect(await verifyToken(otherToken, otherKey)).not.toBeNull();
  });
});

/** A token's claims, read without verifying (the server verifies; the test only compares). */
function claimsOf(token: string): { sub: string; username: string; ver?: number; iat: number; exp: number } {
  return JSON.parse(new TextDecoder().decode(base64url.decode(token.split(".")[1]!)));
}

describe("refresh", () => {
  const refresh = (token: string) => api("POST", "/api/auth/refresh", { token });

  it("answers a fresh token for the same user and token version, with a later exp", async () => {
    const user = await register("fresh");
    // Issued a minute ago, so that a refresh within the same second still has a later exp.
    const old = await signToken(user.user, 0, key, TOKEN_TTL_SECONDS, Date.now() - 60_000);
    const res = await refresh(old);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ token: expect.any(String), user: user.user });
    const before = claimsOf(old);
    const after = claimsOf(res.body.token);
    expect(after.exp).toBeGreaterThan(before.exp);
    expect(after.exp - after.iat).toBe(TOKEN_TTL_SECONDS);
    expect({ sub: after.sub, username: after.username, ver: after.ver }).toEqual({ sub: before.sub, username: before.username, ver: 0 });
    expect(await verifyToken(res.body.token, key)).toEqual({ user: user.user, version: 0, expiresAt: expect.any(Number) });
    expect((await api("GET", "/api/me", { token: res.body.token })).body).toEqual(user.user);
  });

  it("refuses a token revoked by logout, and logout revokes the refreshed token too", async () => {
    const user = await register("revoked");
    const refreshed = (await refresh(user.token)).body.token as string;
    expect((await api("POST", "/api/auth/logout", { token: user.token })).status).toBe(204);
    for (const token of [user.token, refreshed]) {
      const res = await refresh(token);
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String), code: ErrorCode.Unauthorized });
    }
  });

  it("refuses an expired token, a garbage token and no token", async () => {
    const user = await register("stale");
    const expired = await signToken(user.user, 0, key, 1, Date.now() - 10_000);
    for (const res of [await refresh(expired), await refresh("garbage"), await refresh(user.token + "x"), await api("POST", "/api/auth/refresh")]) {
      expect(res.status).toBe(401);
      expect(res.body).toEqual({ error: expect.any(String), code: ErrorCode.Unauthorized });
    }
  });

  it("carries the version of a token issued after a password change", async () => {
    const user = await register("versioned");
    const changed = await api("POST", "/api/auth/password", { token: user.token, body: { currentPassword: user.password, newPassword: "another password" } });
    const res = await refresh(changed.body.token);
    expect(res.status).toBe(200);
    expect(claimsOf(res.body.token).ver).toBe(claimsOf(changed.body.token).ver);
    expect(claimsOf(res.body.token).ver).toBeGreaterThan(0);
    expect((await api("GET", "/api/me", { token: res.body.token })).status).toBe(200);
  });
});

describe("token lifetime", () => {
  it("follows the TOKEN_TTL_SECONDS var for every token the routes sign", async () => {
    const app = createApp();
    const short = { ...env, TOKEN_TTL_SECONDS: "5" };
    const post = (path: string, body?: unknown, token?: string) =>
      app.request(path, { method: "POST", headers: { "Content-Type": "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) }, short);
    const username = uniqueName("ttl");
    const registered = (await (await post("/api/auth/register", { username, password: "long enough" })).json()) as { token: string };
    const loggedIn = (await (await post("/api/auth/login", { username, password: "long enough" })).json()) as { token: string };
    const changed = (await (await post("/api/auth/password", { currentPassword: "long enough", newPassword: "longer still" }, loggedIn.token)).json()) as { token: string };
    const refreshed = (await (await post("/api/auth/refresh", undefined, changed.token)).json()) as { token: string };
    for (const { token } of [registered, loggedIn, changed, refreshed]) {
      const { iat, exp } = claimsOf(token);
      expect(exp - iat).toBe(5);
    }
  });

  it.each([
    ["86400", 86400],
    ["5", 5],
    [undefined, TOKEN_TTL_SECONDS],
    ["", TOKEN_TTL_SECONDS],
    ["0", TOKEN_TTL_SECONDS],
    ["-5", TOKEN_TTL_SECONDS],
    ["1.5", TOKEN_TTL_SECONDS],
    ["5s", TOKEN_TTL_SECONDS],
    [" 5", TOKEN_TTL_SECONDS],
    ["1e3", TOKEN_TTL_SECONDS],
    ["9".repeat(20), TOKEN_TTL_SECONDS],
  ])("reads %j as %i seconds", (configured, seconds) => {
    expect(tokenTtlSeconds(configured)).toBe(seconds);
  });
});

describe("configuration and hashing", () => {
  it("refuses a missing or short JWT_SECRET with a clear error", () => {
    expect(() => secretKey(undefined)).toThrow(ConfigError);
    expect(() => secretKey("too-short")).toThrow(/at least 32 bytes/);
    expect(secretKey("x".repeat(32))).toHaveLength(32);
  });

  it("salts every hash and verifies only the right password", async () => {
    const a = await hashPassword("same password");
    const b = await hashPassword("same password");
    expect(a.salt).not.toBe(b.salt);
    expect(a.hash).not.toBe(b.hash);
    expect(await verifyPassword("same password", a)).toBe(true);
    expect(await verifyPassword("same passworD", a)).toBe(false);
  });
});
