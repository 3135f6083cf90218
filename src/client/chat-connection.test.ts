import { beforeEach, describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent } from "../protocol/events";
import { ChatConnection } from "./chat-connection";
import { SendError } from "./send-queue";
import type { SocketEnvironment } from "./socket";
import { FakeSocket, fakeEnvironment, fakeFetch, message } from "./test-support";

let ids = 0;
// HTTP (the probe after a refused connect) goes to a fetch nobody answers: these tests are about the socket.
const connection = (env: SocketEnvironment, since?: number) =>
  new ChatConnection({ baseUrl: "https://chat.test", token: "tok", chatId: 7, env, since, fetch: fakeFetch().fetch, newClientId: () => `c${++ids}`, pingIntervalMs: 25_000 });

beforeEach(() => {
  FakeSocket.all = [];
  ids = 0;
});

describe("ChatConnection", () => {
  it("connects with the token, reports states and sends typed frames", () => {
    const { env } = fakeEnvironment();
    const conn = connection(env);
    const states: string[] = [];
    conn.on("state", (s) => states.push(s.state));
    conn.connect();
    const socket = FakeSocket.all[0]!;
    expect(socket.url).toBe("wss://chat.test/api/chats/7/ws?token=tok&receipts=batched&frames=batched");
    socket.accept();
    expect(states).toEqual(["connecting", "open"]);
    conn.startTyping();
    conn.stopTyping();
    expect(socket.frames()).toEqual([
      { event: ClientEvent.TypingStart, data: { chatId: 7 } },
      { event: ClientEvent.TypingStop, data: { chatId: 7 } },
    ]);
  });

  it("takes an array frame (frames=batched) as its events in order", async () => {
    const { env } = fakeEnvironment();
    const conn = connection(env);
    const seen: string[] = [];
    conn.on(ServerEvent.ReceiveMessage, (m) => seen.push(`message ${m.id}`));
    conn.on(ServerEvent.UserTyping, ({ user }) => seen.push(`typing ${user.username}`));
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    const sent = conn.sendMessage("hello");
    socket.onmessage?.({
      data: JSON.stringify([
        { event: ServerEvent.ReceiveMessage, data: message(1) },
        { event: ServerEvent.MessageSent, data: { messageId: 2, chatId: 7, timestamp: "t", clientId: "c1" } },
        { event: ServerEvent.ReceiveMessage, data: message(3) },
        { event: ServerEvent.UserTyping, data: { chatId: 7, user: { id: 9, username: "zed" } } },
      ]),
    });
    await expect(sent).resolves.toMatchObject({ messageId: 2 });
    expect(seen).toEqual(["message 1", "message 3", "typing zed"]);
    expect(conn.lastMessageId).toBe(3);
  });

  it("resolves sendMessage with its ack and rejects it at once with an error that is not worth retrying", async () => {
    const { env } = fakeEnvironment();
    const conn = connection(env);
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    const sent = conn.sendMessage("hello");
    const refused = conn.sendMessage("too long");
    expect(socket.frames().map((f) => f.data)).toEqual([
      { chatId: 7, content: "hello", clientId: "c1" },
      { chatId: 7, content: "too long", clientId: "c2" },
    ]);
    socket.push(ServerEvent.MessageSent, { messageId: 10, chatId: 7, timestamp: "t", clientId: "c1" });
    socket.push(ServerEvent.Error, { error: "content too long", code: ErrorCode.BadRequest, event: ClientEvent.SendMessage, clientId: "c2" });
    await expect(sent).resolves.toMatchObject({ messageId: 10 });
    await expect(refused).rejects.toBeInstanceOf(SendError);
    expect(conn.unacknowledged).toEqual([]);
  });

  it("reconnects with backoff and jitter, asks for what it missed, and resends unacknowledged messages with their clientIds", async () => {
    const { env, advance, pendingTimers: allTimers } = fakeEnvironment();
    // The unacknowledged message's give-up timer (23 h) is not the reconnect's.
    const pendingTimers = () => allTimers().filter((ms) => ms < 3_600_000);
    const conn = connection(env);
    const received: number[] = [];
    conn.on(ServerEvent.ReceiveMessage, (m) => received.push(m.id));
    const states: string[] = [];
    conn.on("state", (s) => states.push(s.state));
    conn.connect();
    const first = FakeSocket.all[0]!;
    first.accept();
    first.push(ServerEvent.ReceiveMessage, message(5));
    const lost = conn.sendMessage("in flight");
    first.drop();
    expect(states.at(-1)).toBe("reconnecting");
    // First retry: half of 500 ms plus jitter (random = 0.5) = 375 ms.
    expect(pendingTimers()).toEqual([375]);
    advance(375);
    const second = FakeSocket.all[1]!;
    expect(second.url).toContain("since=5");
    second.drop();
    expect(pendingTimers()).toEqual([750]);
    advance(750);
    const third = FakeSocket.all[2]!;
    expect(third.frames()).toEqual([]);
    third.accept();
    expect(third.frames()).toEqual([{ event: ClientEvent.SendMessage, data: { chatId: 7, content: "in flight", clientId: "c1" } }]);
    // The replay repeats message 5: delivered once only.
    third.push(ServerEvent.ReceiveMessage, message(5));
    third.push(ServerEvent.ReceiveMessage, message(6));
    third.push(ServerEvent.MessageSent, { messageId: 7, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(lost).resolves.toMatchObject({ messageId: 7 });
    expect(received).toEqual([5, 6]);
    expect(conn.lastMessageId).toBe(7);
    // Each failed attempt is reported (with its close code), then the recovery.
    expect(states).toEqual(["connecting", "open", "reconnecting", "reconnecting", "open"]);
  });

  it("keeps a message the server failed to store and sends it again after reconnecting", async () => {
    const { env, advance } = fakeEnvironment();
    const conn = connection(env);
    conn.connect();
    FakeSocket.all[0]!.accept();
    const pending = conn.sendMessage("retry me");
    FakeSocket.all[0]!.push(ServerEvent.Error, { error: "not stored", code: ErrorCode.Internal, clientId: "c1" });
    expect(conn.unacknowledged).toEqual([{ clientId: "c1", content: "retry me" }]);
    FakeSocket.all[0]!.drop();
    advance(1000);
    FakeSocket.all[1]!.accept();
    FakeSocket.all[1]!.push(ServerEvent.MessageSent, { messageId: 3, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(pending).resolves.toMatchObject({ messageId: 3 });
  });

  it("a message stored before a drop arrives once in the since replay and its resend is acked with the same id", async () => {
    const { env, advance } = fakeEnvironment();
    const conn = connection(env, 10);
    const received: number[] = [];
    conn.on(ServerEvent.ReceiveMessage, (m) => received.push(m.id));
    conn.connect();
    FakeSocket.all[0]!.accept();
    const sent = conn.sendMessage("stored, ack lost");
    FakeSocket.all[0]!.drop();
    advance(60_000);
    const second = FakeSocket.all[1]!;
    expect(second.url).toContain("since=10");
    second.accept();
    // The server replays the stored message, then answers the resend with the first id.
    second.push(ServerEvent.ReceiveMessage, message(11, "stored, ack lost"));
    second.push(ServerEvent.MessageSent, { messageId: 11, chatId: 7, timestamp: new Date(0).toISOString(), clientId: "c1" });
    second.push(ServerEvent.ReceiveMessage, message(11, "stored, ack lost"));
    await expect(sent).resolves.toMatchObject({ messageId: 11, clientId: "c1" });
    expect(received).toEqual([11]);
    expect(conn.unacknowledged).toEqual([]);
    expect(conn.lastMessageId).toBe(11);
  });

  it("queues messages sent while disconnected", async () => {
    const { env } = fakeEnvironment();
    const conn = connection(env, 40);
    const early = conn.sendMessage("before open");
    conn.connect();
    const socket = FakeSocket.all[0]!;
    expect(socket.url).toContain("since=40");
    socket.accept();
    expect(socket.frames()).toHaveLength(1);
    socket.push(ServerEvent.MessageSent, { messageId: 41, chatId: 7, timestamp: "t", clientId: "c1" });
    await expect(early).resolves.toMatchObject({ messageId: 41 });
  });

  it("stops for good when removed from the chat (4003) and fails what was pending", async () => {
    const { env, pendingTimers } = fakeEnvironment();
    const conn = connection(env);
    const states: { state: string; closeCode?: number }[] = [];
    conn.on("state", (s) => states.push(s));
    conn.connect();
    FakeSocket.all[0]!.accept();
    const pending = conn.sendMessage("too late");
    FakeSocket.all[0]!.drop(4003);
    await expect(pending).rejects.toMatchObject({ payload: { code: ErrorCode.Forbidden } });
    expect(states.at(-1)).toMatchObject({ state: "closed", closeCode: 4003, error: { code: ErrorCode.Forbidden, closeCode: 4003 } });
    expect(pendingTimers()).toEqual([]);
  });

  it("pings at once on open (so a close the server starts is seen promptly), then keeps alive while open", () => {
    const { env, advance } = fakeEnvironment();
    const conn = connection(env);
    conn.connect();
    const socket = FakeSocket.all[0]!;
    socket.accept();
    expect(socket.sent).toEqual(["ping"]);
    advance(25_000);
    advance(25_000);
    expect(socket.sent.filter((s) => s === "ping")).toHaveLength(3);
    conn.close();
    advance(100_000);
    expect(socket.sent.filter((s) => s === "ping")).toHaveLength(3);
  });

  it("types its frames by the contract: a wrong payload does not compile", () => {
    // Checked by `tsc -p .`: each @ts-expect-error fails the build if the line compiles.
    class Typed extends ChatConnection {
      wrong() {
        // @ts-expect-error content must be a string
        this.sendFrame(ClientEvent.SendMessage, { chatId: 7, content: 42 });
        // @ts-expect-error attachment ids are strings
        this.sendFrame(ClientEvent.SendMessage, { chatId: 7, attachmentIds: [1] });
        // @ts-expect-error not a client event
        this.sendFrame("receive_message", { chatId: 7 });
        return this.sendFrame(ClientEvent.TypingStart, { chatId: 7 });
      }
    }
    const { env } = fakeEnvironment();
    const conn = new Typed({ baseUrl: "https://chat.test", token: "tok", chatId: 7, env, fetch: fakeFetch().fetch });
    expect(conn.wrong()).toBe(false);
  });
});
