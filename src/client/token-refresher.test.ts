// TokenRefresher: when it refreshes, what it hands to connections, and when it gives up.
import { beforeEach, describe, expect, it } from "vitest";
import { ClientEvent, ServerEvent } from "../protocol/events";
import { ApiClient } from "./api";
import { ChatConnection } from "./chat-connection";
import { FakeSocket, fakeEnvironment, fakeFetch, settle } from "./test-support";
import { refreshAt, tokenTimes, TokenRefresher } from "./token-refresher";

/** An unsigned JWT-shaped token: the client only reads its times, the server checks the rest. */
const jwt = (iat: number, exp: number, tag = "") =>
  `h.${btoa(JSON.stringify({ sub: "1", iat, exp, tag })).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_")}.s`;

function setup(token: string) {
  const { env, advance, now } = fakeEnvironment();
  const http = fakeFetch();
  const api = new ApiClient("https://chat.test", token, http.fetch);
  const refresher = new TokenRefresher(api, env, now);
  const tokens: string[] = [];
  const ended: number[] = [];
  refresher.on("token", ({ token }) => tokens.push(token));
  refresher.on("ended", ({ error }) => ended.push(error.status));
  return { env, advance, api, refresher, requests: http.requests, tokens, ended, fetch: http.fetch };
}

beforeEach(() => {
  FakeSocket.all = [];
});

describe("tokenTimes and refreshAt", () => {
  it("reads iat and exp of a JWT in ms, and null for anything else", () => {
    expect(tokenTimes(jwt(100, 200))).toEqual({ issuedAt: 100_000, expiresAt: 200_000 });
    expect(tokenTimes("not a token")).toBeNull();
  });

  it("refreshes 5 minutes early for day-long tokens, a fifth of the life for short ones", () => {
    expect(refreshAt(0, 86_400_000)).toBe(86_400_000 - 300_000);
    expect(refreshAt(0, 10_000)).toBe(8_000);
  });
});

describe("TokenRefresher", () => {
  it("asks for a fresh token before expiry and re-authenticates an open socket without reconnecting", async () => {
    const t = setup(jwt(0, 10));
    const conn = new ChatConnection({ baseUrl: "https://chat.test", token: t.api.token!, chatId: 7, env: t.env, fetch: t.fetch });
    t.refresher.attach(conn);
    conn.connect();
    FakeSocket.all[0]!.accept();
    t.refresher.start();
    t.advance(7_999);
    expect(t.requests).toHaveLength(0);
    t.advance(1);
    expect(t.requests[0]).toMatchObject({ url: "https://chat.test/api/auth/refresh", method: "POST" });
    const fresh = jwt(8, 18, "fresh");
    t.requests[0]!.respond(200, { token: fresh, user: { id: 1, username: "ann" } });
    await settle();
    expect(t.tokens).toEqual([fresh]);
    expect(t.api.token).toBe(fresh);
    expect(FakeSocket.all[0]!.frames().filter((f) => f.event === ClientEvent.Auth)).toEqual([{ event: ClientEvent.Auth, data: { token: fresh } }]);
    expect(FakeSocket.all).toHaveLength(1);
    // The next refresh follows the new token's own expiry.
    t.advance(7_999);
    expect(t.requests).toHaveLength(1);
    t.advance(1);
    expect(t.requests).toHaveLength(2);
  });

  it("a reconnect after a refresh uses the fresh token", async () => {
    const t = setup(jwt(0, 10));
    const conn = new ChatConnection({ baseUrl: "https://chat.test", token: t.api.token!, chatId: 7, env: t.env, fetch: t.fetch });
    t.refresher.attach(conn);
    conn.connect();
    FakeSocket.all[0]!.accept();
    conn.useToken("fresh-token");
    FakeSocket.all[0]!.drop(1006);
    t.advance(60_000);
    expect(new URL(FakeSocket.all[1]!.url).searchParams.get("token")).toBe("fresh-token");
  });

  it("a 4001 close of a socket whose token was replaced since reconnects; otherwise it is final", () => {
    const t = setup(jwt(0, 10));
    const conn = new ChatConnection({ baseUrl: "https://chat.test", token: t.api.token!, chatId: 7, env: t.env, fetch: t.fetch });
    const states: string[] = [];
    conn.on("state", ({ state }) => states.push(state));
    conn.connect();
    FakeSocket.all[0]!.accept();
    conn.useToken("fresh-token");
    FakeSocket.all[0]!.drop(4001);
    expect(states.at(-1)).toBe("reconnecting");
    t.advance(60_000);
    FakeSocket.all[1]!.accept();
    FakeSocket.all[1]!.drop(4001);
    expect(states.at(-1)).toBe("closed");
    expect(conn.error).toMatchObject({ code: "unauthorized", closeCode: 4001 });
  });

  it("retries a failed refresh with backoff, and stops with `ended` on 401", async () => {
    const t = setup(jwt(0, 100));
    t.refresher.start();
    t.advance(80_000);
    t.requests[0]!.fail();
    await settle();
    t.advance(375); // backoff of the first failure with random() = 0.5
    expect(t.requests).toHaveLength(2);
    t.requests[1]!.respond(401, { error: "token revoked", code: "unauthorized" });
    await settle();
    expect(t.ended).toEqual([401]);
    t.advance(1_000_000);
    expect(t.requests).toHaveLength(2);
  });

  it("an auth answer reaches the connection's listeners", () => {
    const t = setup(jwt(0, 10));
    const conn = new ChatConnection({ baseUrl: "https://chat.test", token: t.api.token!, chatId: 7, env: t.env, fetch: t.fetch });
    const answers: unknown[] = [];
    conn.on(ServerEvent.Authenticated, (data) => answers.push(data));
    conn.connect();
    FakeSocket.all[0]!.accept();
    FakeSocket.all[0]!.push(ServerEvent.Authenticated, { userId: 1, expiresAt: "2026-11-28T00:00:00.000Z" });
    expect(answers).toEqual([{ userId: 1, expiresAt: "2026-11-28T00:00:00.000Z" }]);
  });
});
