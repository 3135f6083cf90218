// ChatConnection after a long absence: the replay stops at 1000 messages, the rest is paged over HTTP.
import { beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors";
import { ServerEvent } from "../protocol/events";
import { ChatConnection } from "./chat-connection";
import { FakeSocket, fakeEnvironment, fakeFetch, message, page, range, settle } from "./test-support";

let ids = 0;
function setup(since?: number) {
  const { env, advance, pendingTimers } = fakeEnvironment();
  const http = fakeFetch();
  const conn = new ChatConnection({ baseUrl: "https://chat.test/", token: "tok", chatId: 7, env, since, fetch: http.fetch, newClientId: () => `c${++ids}`, pingIntervalMs: 1e9 });
  // One log of everything the app sees, in order.
  const log: string[] = [];
  conn.on(ServerEvent.ReceiveMessage, (m) => log.push(`m${m.id}`));
  conn.on("synced", ({ lastId }) => log.push(`synced@${lastId}`));
  const received = () => log.filter((e) => e.startsWith("m")).map((e) => Number(e.slice(1)));
  // The keep-alive ping is far away: only the timers under test count.
  return { conn, env, advance, pendingTimers: () => pendingTimers().filter((ms) => ms < 3_600_000), requests: http.requests, log, received };
}

beforeEach(() => {
  FakeSocket.all = [];
  ids = 0;
});

describe("ChatConnection catching up", () => {
  it("pages what the replay left out, holds live frames meanwhile, and emits every message once, in order, then synced", async () => {
    const { conn, requests, log, received } = setup(10);
    conn.connect();
    const socket = FakeSocket.all[0]!;
    expect(socket.url).toContain("since=10");
    socket.accept();
    // The replay (kept short here), then replay_done: more exists after 13.
    for (const id of [11, 12, 13]) socket.push(ServerEvent.ReceiveMessage, message(id));
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 13, hasMore: true });
    expect(conn.isSynced).toBe(false);
    expect(requests).toHaveLength(1);
    expect(requests[0]!.url).toBe("https://chat.test/api/chats/7/messages?after=13&limit=100");
    expect(requests[0]!.method).toBe("GET");
    expect(requests[0]!.headers["Authorization"]).toBe("Bearer tok");

    // Live frames follow replay_done at once, while the pages are still loading.
    socket.push(ServerEvent.ReceiveMessage, message(17));
    socket.push(ServerEvent.ReceiveMessage, message(18));
    requests[0]!.respond(200, page([14, 15], true));
    await settle();
    expect(requests).toHaveLength(2);
    expect(requests[1]!.url).toBe("https://chat.test/api/chats/7/messages?after=15&limit=100");
    expect(received()).toEqual([11, 12, 13, 14, 15]);
    // The last page overlaps the live frames (17 was stored before it was read).
    requests[1]!.respond(200, page([16, 17], false));
    await settle();

    expect(log).toEqual(["m11", "m12", "m13", "m14", "m15", "m16", "m17", "m18", "synced@18"]);
    expect(conn.isSynced).toBe(true);
    expect(conn.lastMessageId).toBe(18);
    // Live again: straight through.
    socket.push(ServerEvent.ReceiveMessage, message(19));
    expect(received().at(-1)).toBe(19);
  });

  it("pages a long absence to the end: 1,000 replayed, 1,500 paged in pages of 100", async () => {
    const { conn, requests, received } = setup(0);
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    for (const id of range(1, 1000)) socket.push(ServerEvent.ReceiveMessage, message(id));
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 1000, hasMore: true });
    for (let from = 1001; from <= 2500; from += 100) {
      const request = requests.at(-1)!;
      expect(request.url).toContain(`after=${from - 1}&`);
      request.respond(200, page(range(from, from + 99), from + 99 < 2500));
      await settle();
    }
    expect(requests).toHaveLength(15);
    expect(received()).toEqual(range(1, 2500));
    expect(conn.isSynced).toBe(true);
  });

  it("retries a page that failed (network down, an HTML 503) with backoff", async () => {
    const { conn, requests, pendingTimers, advance, received } = setup(5);
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 5, hasMore: true });
    requests[0]!.fail();
    await settle();
    // backoffDelay(0) with random 0.5: 375 ms.
    expect(pendingTimers()).toEqual([375]);
    advance(375);
    expect(requests).toHaveLength(2);
    expect(requests[1]!.url).toContain("after=5&");
    requests[1]!.respond(503, "<html><body>Service Unavailable</body></html>");
    await settle();
    expect(pendingTimers()).toEqual([750]);
    advance(750);
    requests[2]!.respond(200, page([6, 7], false));
    await settle();
    expect(received()).toEqual([6, 7]);
    expect(conn.isSynced).toBe(true);
    expect(conn.state).toBe("open");
  });

  it("a drop while paging drops the held frames and the late page: the next socket resumes after the last message delivered", async () => {
    const { conn, requests, advance, received } = setup(0);
    conn.connect();
    const first = FakeSocket.all[0]!;
    first.accept();
    for (const id of range(1, 10)) first.push(ServerEvent.ReceiveMessage, message(id));
    first.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 10, hasMore: true });
    requests[0]!.respond(200, page(range(11, 20), true));
    await settle();
    first.push(ServerEvent.ReceiveMessage, message(40)); // live, held
    first.drop();
    // The page asked for by the dropped socket comes back late.
    requests[1]!.respond(200, page(range(21, 30), true));
    await settle();
    advance(375);
    const second = FakeSocket.all[1]!;
    // Neither the held 40 nor the late page moved the resume point.
    expect(second.url).toContain("since=20");
    second.accept();
    for (const id of range(21, 40)) second.push(ServerEvent.ReceiveMessage, message(id));
    second.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 40, hasMore: false });
    expect(received()).toEqual(range(1, 40));
    expect(conn.isSynced).toBe(true);
  });

  it("an own message acknowledged while paging does not make the connection skip the paged ones before it", async () => {
    const { conn, requests, received } = setup(3);
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 3, hasMore: true });
    const sent = conn.sendMessage("mine");
    socket.push(ServerEvent.MessageSent, { messageId: 9, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(sent).resolves.toMatchObject({ messageId: 9 });
    requests[0]!.respond(200, page([4, 5, 6, 7, 8, 9], false));
    await settle();
    // 9 is the own message: the page carries it like any other; each id once.
    expect(received()).toEqual([4, 5, 6, 7, 8, 9]);
    expect(conn.lastMessageId).toBe(9);
  });

  it("an own message acknowledged after the last page read still moves the resume point once synced", async () => {
    const { conn, requests, advance } = setup(3);
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 3, hasMore: true });
    conn.sendMessage("mine");
    socket.push(ServerEvent.MessageSent, { messageId: 6, chatId: 7, timestamp: "t", clientId: "c1" });
    requests[0]!.respond(200, page([4, 5], false));
    await settle();
    expect(conn.lastMessageId).toBe(6);
    socket.drop();
    advance(375);
    expect(FakeSocket.all[1]!.url).toContain("since=6");
  });

  it("is synced right after replay_done when nothing is left out, and right after joined_chat without since", () => {
    const a = setup(4);
    a.conn.connect();
    FakeSocket.all[0]!.accept();
    FakeSocket.all[0]!.push(ServerEvent.ReceiveMessage, message(5));
    expect(a.conn.isSynced).toBe(false);
    FakeSocket.all[0]!.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 5, hasMore: false });
    expect(a.log).toEqual(["m5", "synced@5"]);
    expect(a.requests).toEqual([]);

    const b = setup();
    b.conn.connect();
    FakeSocket.all[1]!.accept();
    expect(b.log).toEqual(["synced@undefined"]);
    expect(b.conn.isSynced).toBe(true);
  });

  it("stops for good when a page answers 403 (removed meanwhile)", async () => {
    const { conn, requests } = setup(3);
    const states: unknown[] = [];
    conn.on("state", (s) => states.push(s));
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 3, hasMore: true });
    requests[0]!.respond(403, { error: "not a member of this chat", code: "forbidden" });
    await settle();
    expect(states.at(-1)).toMatchObject({ state: "closed", error: { code: ErrorCode.Forbidden, status: 403 } });
    expect(conn.isSynced).toBe(false);
  });
  it("messages_expired drops the held live messages it covers and is passed on", async () => {
    const { conn, requests, log, received } = setup(10);
    const expired: number[] = [];
    conn.on(ServerEvent.MessagesExpired, ({ throughId }) => expired.push(throughId));
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    socket.push(ServerEvent.ReplayDone, { chatId: 7, lastId: 10, hasMore: true });
    socket.push(ServerEvent.ReceiveMessage, message(20));
    socket.push(ServerEvent.ReceiveMessage, message(21));
    // Retention deletes up to 20 while the pages load: 20 is never emitted.
    socket.push(ServerEvent.MessagesExpired, { chatId: 7, throughId: 20 });
    expect(expired).toEqual([20]);
    requests[0]!.respond(200, page([], false));
    await settle();
    expect(received()).toEqual([21]);
    expect(log.at(-1)).toBe("synced@21");
  });
});
