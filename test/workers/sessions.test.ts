// Live sockets follow the session: revocation (logout, password change) and token expiry close them
// with 4001, and `auth` moves an open socket to a fresh token without reconnecting.
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { secretKey, signToken } from "../../src/auth/token";
import { tokenVersions } from "../../src/auth/token-versions";
import { CloseCode, ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, InboxEvent, ServerEvent } from "../../src/protocol/events";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, BASE, connect, connectInbox, createGroup, register, roomStub, type TestSocket, type TestUser } from "./helpers";
import { SELF } from "cloudflare:test";

/** A token for `user` that expires `seconds` from now. */
function tokenExpiringIn(user: TestUser, seconds: number, version = 0): Promise<string> {
  return signToken(user.user, version, secretKey(env.JWT_SECRET), seconds);
}

const closedWith = (socket: TestSocket<unknown>, code: number, timeoutMs: number) =>
  socket.until((s) => s.closed !== null, `close ${code}`, timeoutMs).then(() => expect(socket.closed!.code).toBe(code));

describe("revocation closes live sockets", () => {
  it("logout closes the user's chat and inbox sockets on every device within 1 s, and no one else's", async () => {
    const [ann, bob] = await Promise.all([register("sa"), register("sb")]);
    const chats = await Promise.all([createGroup(ann, [bob], "one"), createGroup(ann, [bob], "two")]);
    const phone = await connect(chats[0].id, ann.token);
    const laptop = await connect(chats[1].id, ann.token);
    const inbox = await connectInbox(ann.token);
    const bobs = await connect(chats[0].id, bob.token);

    expect((await api("POST", "/api/auth/logout", { token: ann.token })).status).toBe(204);
    await Promise.all([phone, laptop, inbox].map((s) => closedWith(s, CloseCode.SessionEnded, 1000)));
    expect(bobs.closed).toBeNull();
    // Bob's socket still works and hears that Ann went offline.
    await bobs.until((s) => s.of(ServerEvent.UserOffline).some((e) => e.user.id === ann.user.id), "ann offline");
  });

  it("a revoked token cannot open a socket even where the Worker's cache still thinks it current", async () => {
    const [ann, bob] = await Promise.all([register("sc"), register("sd")]);
    const chat = await createGroup(ann, [bob]);
    (await connect(chat.id, ann.token)).close();
    expect((await api("POST", "/api/auth/logout", { token: ann.token })).status).toBe(204);
    // Another isolate could hold version 0 for up to 10 s; this one is told so.
    tokenVersions.remember(ann.user.id, 0);
    const res = await SELF.fetch(`${BASE}/api/chats/${chat.id}/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${ann.token}` } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: ErrorCode.Unauthorized });
    const inbox = await SELF.fetch(`${BASE}/api/inbox/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${ann.token}` } });
    expect(inbox.status).toBe(401);
    tokenVersions.remember(ann.user.id, 1);
  });

  it("a password change closes sockets of older tokens; the new token connects", async () => {
    const [ann, bob] = await Promise.all([register("se"), register("sf")]);
    const chat = await createGroup(ann, [bob]);
    const old = await connect(chat.id, ann.token);
    const changed = await api("POST", "/api/auth/password", { token: ann.token, body: { currentPassword: ann.password, newPassword: "a new password 1" } });
    expect(changed.status).toBe(200);
    await closedWith(old, CloseCode.SessionEnded, 1000);
    const fresh = await connect(chat.id, changed.body.token);
    fresh.sendJson(ClientEvent.SendMessage, { content: "still here", clientId: "p1" });
    expect((await fresh.next(ServerEvent.MessageSent)).clientId).toBe("p1");
    fresh.close();
  });
});

describe("expiry", () => {
  it("closes a chat socket with 4001 when its token expires", async () => {
    const [ann, bob] = await Promise.all([register("sg"), register("sh")]);
    const chat = await createGroup(ann, [bob]);
    const socket = await connect(chat.id, await tokenExpiringIn(ann, 2));
    const opened = Date.now();
    await closedWith(socket, CloseCode.SessionEnded, 5000);
    expect(Date.now() - opened).toBeGreaterThan(900);
  });

  it("sets no alarm in the past after the socket with the earliest expiry closed by itself", async () => {
    const [ann, bob] = await Promise.all([register("sx"), register("sy")]);
    const chat = await createGroup(ann, [bob]);
    const staying = await connect(chat.id, bob.token);
    const leaving = await connect(chat.id, await tokenExpiringIn(ann, 1));
    leaving.close();
    await new Promise((r) => setTimeout(r, 1600));
    // The alarm set for the closed socket's expiry has fired and found nothing to close.
    const state = await runInDurableObject(roomStub(chat.id), async (room: ChatRoom, roomState) => {
      const inner = room as unknown as { nextSessionExpiry(): number | null };
      return { next: inner.nextSessionExpiry(), alarm: await roomState.storage.getAlarm(), now: Date.now() };
    });
    expect(state.next).toBeGreaterThan(state.now);
    expect(state.alarm === null || state.alarm > state.now).toBe(true);
    expect(staying.closed).toBeNull();
    staying.close();
  });

  it("closes an inbox socket with 4001 when its token expires", async () => {
    const ann = await register("si");
    const socket = await connectInbox(await tokenExpiringIn(ann, 2));
    await closedWith(socket, CloseCode.SessionEnded, 5000);
  });

  it("`auth` with a fresh token keeps the socket open past the old expiry, without reconnecting", async () => {
    const [ann, bob] = await Promise.all([register("sj"), register("sk")]);
    const chat = await createGroup(ann, [bob]);
    const socket = await connect(chat.id, await tokenExpiringIn(ann, 2));
    socket.sendJson(ClientEvent.Auth, { token: ann.token });
    const answer = await socket.next(ServerEvent.Authenticated);
    expect(answer.userId).toBe(ann.user.id);
    expect(Date.parse(answer.expiresAt)).toBeGreaterThan(Date.now() + 3600_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(socket.closed).toBeNull();
    socket.sendJson(ClientEvent.SendMessage, { content: "after the old expiry", clientId: "e1" });
    expect((await socket.next(ServerEvent.MessageSent)).clientId).toBe("e1");
    socket.close();
  });

  it("the inbox socket takes `auth` too", async () => {
    const ann = await register("sl");
    const socket = await connectInbox(await tokenExpiringIn(ann, 2));
    socket.sendJson(ClientEvent.Auth, { token: ann.token });
    expect((await socket.next(InboxEvent.Authenticated)).userId).toBe(ann.user.id);
    await new Promise((r) => setTimeout(r, 3000));
    expect(socket.closed).toBeNull();
    socket.close();
  });
});

describe("`auth` refusals keep the socket and its session", () => {
  it("refuses another user's token, a forged one and a revoked one", async () => {
    const [ann, bob] = await Promise.all([register("sm"), register("sn")]);
    const chat = await createGroup(ann, [bob]);
    const revoked = await tokenExpiringIn(ann, 600, 0);
    const changed = await api("POST", "/api/auth/password", { token: ann.token, body: { currentPassword: ann.password, newPassword: "a new password 2" } });
    const socket = await connect(chat.id, changed.body.token);
    for (const token of [bob.token, `${changed.body.token}x`, revoked]) socket.sendJson(ClientEvent.Auth, { token });
    await socket.next(ServerEvent.Error, 3);
    expect(socket.of(ServerEvent.Error).map((e) => [e.code, e.event])).toEqual(Array(3).fill([ErrorCode.Unauthorized, ClientEvent.Auth]));
    expect(socket.of(ServerEvent.Authenticated)).toEqual([]);
    socket.sendJson(ClientEvent.SendMessage, { content: "still open", clientId: "r1" });
    expect((await socket.next(ServerEvent.MessageSent)).clientId).toBe("r1");
    socket.close();
  });

  it("answers a malformed `auth` frame with bad_request", async () => {
    const ann = await register("so");
    const inbox = await connectInbox(ann.token);
    inbox.sendJson(ClientEvent.Auth, { token: "" });
    inbox.sendJson("nonsense", {});
    await inbox.next(InboxEvent.Error, 2);
    expect(inbox.of(InboxEvent.Error).map((e) => e.code)).toEqual([ErrorCode.BadRequest, ErrorCode.BadRequest]);
    inbox.close();
  });
});
