// ReconnectingSocket: when it stops for good (final close codes, refused connects) and when it keeps trying.
import { beforeEach, describe, expect, it } from "vitest";
import { CloseCode, ErrorCode, FINAL_CLOSE_CODES } from "../protocol/errors";
import { InboxEvent } from "../protocol/events";
import { ChatConnection } from "./chat-connection";
import { InboxConnection } from "./inbox-connection";
import { ConnectionError, socketUrl, type SocketEvents } from "./socket";
import { FakeSocket, fakeEnvironment, fakeFetch, settle } from "./test-support";

function chatSetup() {
  const { env, advance, pendingTimers } = fakeEnvironment();
  const http = fakeFetch();
  const conn = new ChatConnection({ baseUrl: "https://chat.test", token: "tok", chatId: 7, env, fetch: http.fetch, newClientId: () => "c1" });
  const states: SocketEvents["state"][] = [];
  conn.on("state", (s) => states.push(s));
  return { conn, advance, pendingTimers, requests: http.requests, states };
}

beforeEach(() => {
  FakeSocket.all = [];
});

describe("final closes", () => {
  const expected: Record<number, string> = {
    [CloseCode.MessageTooBig]: ErrorCode.PayloadTooLarge,
    [CloseCode.SessionEnded]: ErrorCode.Unauthorized,
    [CloseCode.Removed]: ErrorCode.Forbidden,
  };

  it("covers every final close code", () => {
    expect([...FINAL_CLOSE_CODES].sort()).toEqual(Object.keys(expected).map(Number).sort());
  });

  it.each([...FINAL_CLOSE_CODES])("close %i: no reconnect, state closed with the code and an error, pending sends rejected", async (code) => {
    const { conn, advance, pendingTimers, states } = chatSetup();
    conn.connect();
    FakeSocket.all[0]!.accept();
    const pending = conn.sendMessage("x");
    FakeSocket.all[0]!.drop(code);
    const last = states.at(-1)!;
    expect(last).toMatchObject({ state: "closed", closeCode: code });
    expect(last.error).toBeInstanceOf(ConnectionError);
    expect(last.error).toMatchObject({ code: expected[code], closeCode: code });
    expect(last.error!.message).toContain(String(code));
    expect(conn.error).toBe(last.error);
    await expect(pending).rejects.toMatchObject({ payload: { code: expected[code], clientId: "c1" } });
    expect(pendingTimers()).toEqual([]);
    advance(120_000);
    expect(FakeSocket.all).toHaveLength(1);
  });
});

describe("a connect refused before the socket opened", () => {
  it.each([
    [401, ErrorCode.Unauthorized, "invalid or expired token"],
    [403, ErrorCode.Forbidden, "not a member of this chat"],
    [404, ErrorCode.NotFound, "chat not found"],
  ])("probe answers %i: stops for good with that reason", async (status, code, error) => {
    const { conn, advance, pendingTimers, requests, states } = chatSetup();
    conn.connect();
    const pending = conn.sendMessage("x").catch((e: unknown) => e);
    FakeSocket.all[0]!.drop(1006);
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ url: "https://chat.test/api/chats/7", method: "GET", headers: { Authorization: "Bearer tok" } });
    requests[0]!.respond(status, { error, code });
    await settle();
    expect(states.at(-1)).toMatchObject({ state: "closed", closeCode: 1006, error: { code, status } });
    expect(states.at(-1)!.error!.message).toContain(error);
    expect(await pending).toMatchObject({ payload: { code } });
    expect(pendingTimers()).toEqual([]);
    advance(120_000);
    expect(FakeSocket.all).toHaveLength(1);
  });

  it.each([
    ["the chat is there (200)", (r: ReturnType<typeof fakeFetch>["requests"][number]) => r.respond(200, { id: 7 })],
    ["the server is down (network error)", (r: ReturnType<typeof fakeFetch>["requests"][number]) => r.fail()],
    ["the server fails (HTML 502)", (r: ReturnType<typeof fakeFetch>["requests"][number]) => r.respond(502, "<html>Bad gateway</html>")],
    ["a 404 page that is not the API's (a proxy, a server starting)", (r: ReturnType<typeof fakeFetch>["requests"][number]) => r.respond(404, "<html>Not Found</html>")],
  ])("probe finds %s: reconnects", async (_, answer) => {
    const { conn, advance, requests, states } = chatSetup();
    conn.connect();
    FakeSocket.all[0]!.drop(1006);
    answer(requests[0]!);
    await settle();
    expect(states.at(-1)).toEqual({ state: "reconnecting", closeCode: 1006 });
    advance(375);
    expect(FakeSocket.all).toHaveLength(2);
    FakeSocket.all[1]!.accept();
    expect(conn.state).toBe("open");
  });

  it("a probe answer that arrives after a later socket opened is ignored", async () => {
    const { conn, advance, requests } = chatSetup();
    conn.connect();
    FakeSocket.all[0]!.drop(1006);
    advance(375);
    FakeSocket.all[1]!.accept();
    requests[0]!.respond(403, { error: "not a member of this chat", code: "forbidden" });
    await settle();
    expect(conn.state).toBe("open");
    expect(conn.error).toBeUndefined();
  });

  it("a drop after the socket had opened reconnects without probing", () => {
    const { conn, advance, requests, states } = chatSetup();
    conn.connect();
    FakeSocket.all[0]!.accept();
    FakeSocket.all[0]!.drop(1006);
    expect(requests).toEqual([]);
    expect(states.at(-1)).toEqual({ state: "reconnecting", closeCode: 1006 });
    advance(375);
    expect(FakeSocket.all).toHaveLength(2);
  });

  it("the inbox probes GET /api/me and stops on 401", async () => {
    const { env, pendingTimers } = fakeEnvironment();
    const http = fakeFetch();
    const inbox = new InboxConnection({ baseUrl: "https://chat.test/", token: "t k", env, fetch: http.fetch });
    const states: SocketEvents["state"][] = [];
    inbox.on("state", (s) => states.push(s));
    inbox.connect();
    expect(FakeSocket.all[0]!.url).toBe("wss://chat.test/api/inbox/ws?token=t+k");
    FakeSocket.all[0]!.drop(1006);
    expect(http.requests[0]).toMatchObject({ url: "https://chat.test/api/me", headers: { Authorization: "Bearer t k" } });
    http.requests[0]!.respond(401, { error: "invalid or expired token", code: "unauthorized" });
    await settle();
    expect(states.at(-1)).toMatchObject({ state: "closed", closeCode: 1006, error: { code: ErrorCode.Unauthorized, status: 401 } });
    expect(pendingTimers()).toEqual([]);
  });

  it("the inbox reconnects after a refused connect the probe does not explain", async () => {
    const { env, advance } = fakeEnvironment();
    const http = fakeFetch();
    const inbox = new InboxConnection({ baseUrl: "https://chat.test", token: "tok", env, fetch: http.fetch });
    inbox.connect();
    FakeSocket.all[0]!.drop(1006);
    http.requests[0]!.respond(200, { id: 1, username: "ann" });
    await settle();
    advance(375);
    const socket = FakeSocket.all[1]!;
    socket.readyState = 1;
    socket.onopen?.({});
    socket.push(InboxEvent.InboxReady, { userId: 1 });
    expect(inbox.state).toBe("open");
  });
});

describe("socketUrl", () => {
  it("turns http(s) into ws(s), drops a trailing slash and leaves out undefined parameters", () => {
    expect(socketUrl("http://localhost:8787/", "/api/chats/3/ws", { token: "a b", since: undefined })).toBe("ws://localhost:8787/api/chats/3/ws?token=a+b");
    expect(socketUrl("https://chat.test", "/api/chats/3/ws", { token: "t", since: 0 })).toBe("wss://chat.test/api/chats/3/ws?token=t&since=0");
  });

  it("is what ChatConnection connects to", () => {
    const { env } = fakeEnvironment();
    new ChatConnection({ baseUrl: "http://localhost:8787/", token: "t", chatId: 3, since: 0, env, fetch: fakeFetch().fetch }).connect();
    expect(FakeSocket.all[0]!.url).toBe("ws://localhost:8787/api/chats/3/ws?token=t&since=0&receipts=batched&frames=batched");
  });
});
