/**
 * Slow mode (issue 29): a member (admins exempt) who sends again within `slowModeSeconds` of their
 * last message is refused with `slow_mode` and `retryAfter` (HTTP 429 with Retry-After); nothing is
 * stored. Decided when the message is stored.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { Chat } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, connect, createGroup, register, roomStub, type TestUser } from "./helpers";

const post = (from: TestUser, chatId: number, content: string) => api("POST", `/api/chats/${chatId}/messages`, { token: from.token, body: { content } });
const contents = async (viewer: TestUser, chatId: number) =>
  ((await api("GET", `/api/chats/${chatId}/messages`, { token: viewer.token })).body.messages as { content: string }[]).map((m) => m.content);
/** Moves every remembered send of the room back by `ms`, as if that long had passed. */
const timePasses = (chatId: number, ms: number) =>
  runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    const last = (room as unknown as { slowMode: { lastSent: Map<number, number> } }).slowMode.lastSent;
    for (const [id, at] of last) last.set(id, at - ms);
  });

describe("the setting", () => {
  it("admins set slowModeSeconds (0–3600) with PATCH and the chat carries it; members 403, direct chats 400, out of range 400; sockets hear chat_updated", async () => {
    const [ann, bob] = await Promise.all([register("sann"), register("sbob")]);
    const group = await createGroup(ann, [bob]);
    expect(group.slowModeSeconds).toBe(0);
    expect(group.retentionSeconds).toBeNull();
    const b = await connect(group.id, bob.token);
    const set = await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { slowModeSeconds: 30 } });
    expect(set.status).toBe(200);
    expect((set.body as Chat).slowModeSeconds).toBe(30);
    expect((set.body as Chat).name).toBe(group.name);
    expect(await b.next(ServerEvent.ChatUpdated)).toEqual({ chatId: group.id, name: group.name, slowModeSeconds: 30, retentionSeconds: null });
    expect(((await api("GET", `/api/chats/${group.id}`, { token: bob.token })).body as Chat).slowModeSeconds).toBe(30);
    expect((await api("GET", "/api/chats", { token: bob.token })).body.chats[0].slowModeSeconds).toBe(30);

    const member = await api("PATCH", `/api/chats/${group.id}`, { token: bob.token, body: { slowModeSeconds: 0 } });
    expect(member.status).toBe(403);
    for (const slowModeSeconds of [-1, 3601, 1.5, "10", null]) {
      expect((await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { slowModeSeconds } })).status).toBe(400);
    }
    expect((await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: {} })).status).toBe(400);
    expect((await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { slowModeSeconds: 3600 } })).status).toBe(200);
    const dm = (await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: bob.user.id } })).body as Chat;
    expect(dm.slowModeSeconds).toBe(0);
    expect((await api("PATCH", `/api/chats/${dm.id}`, { token: ann.token, body: { slowModeSeconds: 10 } })).status).toBe(400);
    b.close();
  });
});

describe("sending under slow mode", () => {
  it("refuses a member's second message within the period: HTTP 429 slow_mode with Retry-After, the socket's error with retryAfter; nothing stored; after the period it goes", async () => {
    const [ann, bob] = await Promise.all([register("mann"), register("mbob")]);
    const group = await createGroup(ann, [bob]);
    await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { slowModeSeconds: 60 } });
    expect((await post(bob, group.id, "first")).status).toBe(201);

    const http = await post(bob, group.id, "too soon");
    expect(http.status).toBe(429);
    expect(http.body.code).toBe(ErrorCode.SlowMode);
    const retryAfter = Number(http.headers.get("Retry-After"));
    expect(retryAfter).toBeGreaterThan(50);
    expect(retryAfter).toBeLessThanOrEqual(60);

    const b = await connect(group.id, bob.token);
    b.sendJson(ClientEvent.SendMessage, { content: "socket too soon", clientId: "slow-1" });
    const error = await b.next(ServerEvent.Error);
    expect(error).toMatchObject({ code: ErrorCode.SlowMode, event: ClientEvent.SendMessage, clientId: "slow-1" });
    expect(error.retryAfter).toBeGreaterThan(50);
    expect(error.retryAfter).toBeLessThanOrEqual(60);
    expect(await contents(ann, group.id)).toEqual(["first"]);

    await timePasses(group.id, 60_000);
    b.sendJson(ClientEvent.SendMessage, { content: "later", clientId: "slow-2" });
    expect((await b.next(ServerEvent.MessageSent)).clientId).toBe("slow-2");
    expect(await contents(ann, group.id)).toEqual(["first", "later"]);
    b.close();
  });

  it("admins are exempt; frames that arrive together store one; a resent clientId is answered with its first message, not refused", async () => {
    const [ann, bob] = await Promise.all([register("xann"), register("xbob")]);
    const group = await createGroup(ann, [bob]);
    await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { slowModeSeconds: 600 } });
    for (const n of [1, 2, 3]) expect((await post(ann, group.id, `admin ${n}`)).status).toBe(201);

    const b = await connect(group.id, bob.token);
    for (const n of [1, 2, 3]) b.sendJson(ClientEvent.SendMessage, { content: `burst ${n}`, clientId: `burst-${n}` });
    await b.next(ServerEvent.MessageSent);
    await b.next(ServerEvent.Error, 2);
    expect(b.of(ServerEvent.MessageSent).map((m) => m.clientId)).toEqual(["burst-1"]);
    expect(b.of(ServerEvent.Error).map((e) => [e.code, e.clientId])).toEqual([
      [ErrorCode.SlowMode, "burst-2"],
      [ErrorCode.SlowMode, "burst-3"],
    ]);
    // The resend of the stored one is acknowledged with it (idempotency comes first).
    b.sendJson(ClientEvent.SendMessage, { content: "burst 1", clientId: "burst-1" });
    await b.next(ServerEvent.MessageSent, 2);
    expect(await contents(ann, group.id)).toEqual(["admin 1", "admin 2", "admin 3", "burst 1"]);
    b.close();
  });

  it("remembers the last send across a restart of the room (read back from the log) and follows a longer period set later", async () => {
    const [ann, bob] = await Promise.all([register("wann"), register("wbob")]);
    const group = await createGroup(ann, [bob]);
    expect((await post(bob, group.id, "before slow mode")).status).toBe(201);
    // A fresh memory, as after the room was evicted: only the log knows bob's last send.
    await runInDurableObject(roomStub(group.id), (room: ChatRoom) => {
      const internals = room as unknown as { slowMode: { lastSent: Map<number, number>; coveredMs: number } };
      internals.slowMode.lastSent.clear();
      internals.slowMode.coveredMs = 0;
    });
    await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { slowModeSeconds: 120 } });
    expect((await post(bob, group.id, "too soon")).body.code).toBe(ErrorCode.SlowMode);
    await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { slowModeSeconds: 0 } });
    expect((await post(bob, group.id, "off again")).status).toBe(201);
  });
});
