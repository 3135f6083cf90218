// SendQueue, through ChatConnection: a message the server did not store is sent again on the open socket, a bounded number of times.
import { beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent } from "../protocol/events";
import { ChatConnection } from "./chat-connection";
import { SendError } from "./send-queue";
import { FakeSocket, fakeEnvironment, fakeFetch } from "./test-support";

let ids = 0;
function setup(maxSendAttempts?: number) {
  const { env, advance, pendingTimers } = fakeEnvironment();
  const conn = new ChatConnection({
    baseUrl: "https://chat.test",
    token: "tok",
    chatId: 7,
    env,
    fetch: fakeFetch().fetch,
    newClientId: () => `c${++ids}`,
    // Far away (and the give-up timer at 23 h filtered out below), so the only timers are the ones under test.
    pingIntervalMs: 1e9,
    ...(maxSendAttempts ? { maxSendAttempts } : {}),
  });
  conn.connect();
  const socket = FakeSocket.all[0]!;
  socket.accept();
  const retryTimers = () => pendingTimers().filter((ms) => ms < 3_600_000);
  const sends = () => socket.frames().filter((f) => f.event === ClientEvent.SendMessage).map((f) => `${f.data["clientId"]}:${f.data["content"]}`);
  const fail = (clientId: string, code: string) => socket.push(ServerEvent.Error, { error: `not stored (${code})`, code, event: ClientEvent.SendMessage, clientId });
  return { conn, socket, advance, retryTimers, sends, fail };
}

beforeEach(() => {
  FakeSocket.all = [];
  ids = 0;
});

describe("ChatConnection send retries", () => {
  it("resends after internal and unavailable on the open socket, with backoff and the same clientId, and resolves on the ack", async () => {
    const { conn, socket, advance, retryTimers, sends, fail } = setup();
    const sent = conn.sendMessage("hello");
    fail("c1", ErrorCode.Internal);
    expect(conn.unacknowledged).toEqual([{ clientId: "c1", content: "hello" }]);
    expect(retryTimers()).toEqual([375]); // backoffDelay(0): 250–500 ms, random 0.5
    advance(375);
    expect(sends()).toEqual(["c1:hello", "c1:hello"]);
    fail("c1", ErrorCode.Unavailable);
    expect(retryTimers()).toEqual([750]); // backoffDelay(1): 500–1000 ms
    advance(750);
    expect(sends()).toEqual(["c1:hello", "c1:hello", "c1:hello"]);
    socket.push(ServerEvent.MessageSent, { messageId: 4, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(sent).resolves.toMatchObject({ messageId: 4, clientId: "c1" });
    expect(conn.unacknowledged).toEqual([]);
    expect(conn.state).toBe("open");
  });

  it("rejects with SendError after the last allowed attempt fails", async () => {
    const { conn, advance, retryTimers, sends, fail } = setup();
    const sent = conn.sendMessage("doomed");
    for (let attempt = 1; attempt < 5; attempt++) {
      fail("c1", ErrorCode.Internal);
      advance(retryTimers()[0]!);
    }
    expect(sends()).toHaveLength(5);
    fail("c1", ErrorCode.Internal);
    const error = await sent.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SendError);
    expect((error as SendError).payload).toMatchObject({ code: ErrorCode.Internal, clientId: "c1" });
    expect(retryTimers()).toEqual([]);
    expect(conn.unacknowledged).toEqual([]);
  });

  it("retries rate_limited after a longer delay, a bounded number of times", async () => {
    const { conn, socket, advance, retryTimers, sends, fail } = setup(2);
    const first = conn.sendMessage("one");
    fail("c1", ErrorCode.RateLimited);
    expect(retryTimers()).toEqual([750]); // backoffDelay(0, base 1000 ms): 500–1000 ms
    advance(750);
    expect(sends()).toEqual(["c1:one", "c1:one"]);
    socket.push(ServerEvent.MessageSent, { messageId: 1, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(first).resolves.toMatchObject({ messageId: 1 });

    const second = conn.sendMessage("two");
    fail("c2", ErrorCode.RateLimited);
    advance(750);
    fail("c2", ErrorCode.RateLimited);
    await expect(second).rejects.toMatchObject({ payload: { code: ErrorCode.RateLimited, clientId: "c2" } });
  });

  it("waits out slow_mode's retryAfter and resends once it is over", async () => {
    const { conn, socket, advance, retryTimers, sends } = setup();
    const sent = conn.sendMessage("patient");
    socket.push(ServerEvent.Error, { error: "slow mode", code: ErrorCode.SlowMode, retryAfter: 12, event: ClientEvent.SendMessage, clientId: "c1" });
    expect(retryTimers()).toEqual([12_125]); // 12 s, and a quarter second of jitter at random 0.5
    advance(12_000);
    expect(sends()).toEqual(["c1:patient"]);
    advance(125);
    expect(sends()).toEqual(["c1:patient", "c1:patient"]);
    socket.push(ServerEvent.MessageSent, { messageId: 9, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(sent).resolves.toMatchObject({ messageId: 9 });
  });

  it("rejects at once on any other code (blocked included)", async () => {
    const blocked = setup();
    const refused = blocked.conn.sendMessage("no");
    blocked.fail("c1", ErrorCode.Blocked);
    await expect(refused).rejects.toMatchObject({ payload: { code: ErrorCode.Blocked } });
    FakeSocket.all = [];
    ids = 0;
    const { conn, retryTimers, fail } = setup();
    const sent = conn.sendMessage("x");
    fail("c1", ErrorCode.Forbidden);
    await expect(sent).rejects.toMatchObject({ payload: { code: ErrorCode.Forbidden } });
    expect(retryTimers()).toEqual([]);
  });

  it("keeps the send order: a message sent while another waits for its retry goes out after it", async () => {
    const { conn, socket, advance, sends, fail } = setup();
    const a = conn.sendMessage("a");
    fail("c1", ErrorCode.Internal);
    const b = conn.sendMessage("b");
    expect(sends()).toEqual(["c1:a"]);
    advance(375);
    expect(sends()).toEqual(["c1:a", "c1:a", "c2:b"]);
    socket.push(ServerEvent.MessageSent, { messageId: 1, chatId: 7, timestamp: "t", clientId: "c1" });
    socket.push(ServerEvent.MessageSent, { messageId: 2, chatId: 7, timestamp: "t", clientId: "c2" });
    await expect(Promise.all([a, b])).resolves.toMatchObject([{ messageId: 1 }, { messageId: 2 }]);
  });

  it("a retry due while disconnected waits for the next connection, which resends once", async () => {
    const { conn, socket, advance, fail } = setup();
    const sent = conn.sendMessage("later");
    fail("c1", ErrorCode.Unavailable);
    socket.drop();
    advance(375);
    const second = FakeSocket.all[1]!;
    second.accept();
    expect(second.frames().filter((f) => f.event === ClientEvent.SendMessage)).toHaveLength(1);
    second.push(ServerEvent.MessageSent, { messageId: 8, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(sent).resolves.toMatchObject({ messageId: 8 });
  });
});

describe("ChatConnection give-up", () => {
  it("rejects a message still unacknowledged after 23 hours instead of resending it past the server's clientId window", async () => {
    const { conn, socket, advance, sends } = setup();
    const acked = conn.sendMessage("delivered");
    const stuck = conn.sendMessage("no answer");
    socket.push(ServerEvent.MessageSent, { messageId: 1, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(acked).resolves.toMatchObject({ messageId: 1 });
    advance(23 * 60 * 60 * 1000 - 1);
    expect(conn.unacknowledged).toEqual([{ clientId: "c2", content: "no answer" }]);
    advance(1);
    const error = await stuck.then(() => null, (e: unknown) => e);
    expect(error).toBeInstanceOf(SendError);
    expect((error as SendError).payload).toMatchObject({ code: ErrorCode.Unavailable, clientId: "c2" });
    expect(conn.unacknowledged).toEqual([]);
    // Not sent again by anything after that.
    expect(sends()).toEqual(["c1:delivered", "c2:no answer"]);
  });
});
