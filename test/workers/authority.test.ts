/**
 * One authority per chat: the room decides membership, sessions and sends in one order. Each race
 * holds one side at a gate (a room method's next call waits for it) and releases it after the other
 * side finished, so the outcome is the one the order dictates, not whichever side the scheduler let
 * win.
 */
import { env, listDurableObjectIds, runInDurableObject, SELF } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { CloseCode, ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { Message } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import type { Uploads } from "../../src/room/log/uploads";
import { api, BASE, connect, copyToD1Now, holdNext, pendingSends, register, roomStub, threeInAGroup, until, type TestUser } from "./helpers";

afterEach(() => vi.restoreAllMocks());

const memberIds = async (chatId: number, viewer: TestUser) =>
  ((await api("GET", `/api/chats/${chatId}`, { token: viewer.token })).body.members as { id: number }[]).map((m) => m.id);

const inD1 = async (chatId: number, userId: number) =>
  (await env.DB.prepare("SELECT role FROM chat_members WHERE chat_id = ? AND user_id = ?").bind(chatId, userId).first<{ role: string }>())?.role ?? null;


describe("sends are checked when they are stored", () => {
  it("frames sent before a removal but stored after it are refused; nothing from the removed member follows member_removed", async () => {
    const { ann, bob, cid, chat } = await threeInAGroup();
    const b = await connect(chat.id, bob.token);
    const c = await connect(chat.id, cid.token);
    const held = await holdNext(chat.id, "storePending");
    for (let i = 0; i < 20; i++) b.sendJson(ClientEvent.SendMessage, { content: `late ${i}`, clientId: `late${i}` });
    await held.reached();
    await until(async () => (await pendingSends(chat.id)) === 20, "20 sends waiting to be stored");

    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    await c.next(ServerEvent.MemberRemoved);
    await held.release();
    // A probe after the store step ran: anything it let through would reach Cid before it.
    await until(async () => (await pendingSends(chat.id)) === 0, "the store step");
    expect((await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "probe" } })).status).toBe(201);
    await c.until((s) => s.of(ServerEvent.ReceiveMessage).some((m) => m.content === "probe"), "the probe");

    expect(c.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["probe"]);
    expect(b.of(ServerEvent.MessageSent)).toEqual([]);
    expect(b.closed?.code ?? CloseCode.Removed).toBe(CloseCode.Removed);
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(history.body.messages.map((m: Message) => m.content)).toEqual(["probe"]);
    expect(await copyToD1Now(chat.id)).toBe(true);
    expect(await env.DB.prepare("SELECT count(*) AS n FROM messages WHERE chat_id = ? AND sender_id = ?").bind(chat.id, bob.user.id).first()).toEqual({ n: 0 });
    c.close();
  });

  it("frames held at the store step from a socket the removal closed stay refused when the member is added back before the store", async () => {
    const { ann, bob, cid, chat } = await threeInAGroup();
    const b = await connect(chat.id, bob.token);
    const c = await connect(chat.id, cid.token);
    const held = await holdNext(chat.id, "storePending");
    for (let i = 0; i < 5; i++) b.sendJson(ClientEvent.SendMessage, { content: `before re-add ${i}`, clientId: `ra${i}` });
    await held.reached();
    await until(async () => (await pendingSends(chat.id)) === 5, "5 sends waiting to be stored");
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    expect((await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: bob.user.id } })).status).toBe(201);
    await held.release();
    await until(async () => (await pendingSends(chat.id)) === 0, "the store step");
    const probe = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "probe" } });
    await c.until((s) => s.of(ServerEvent.ReceiveMessage).some((m) => m.id === probe.body.id), "the probe");
    expect(c.of(ServerEvent.ReceiveMessage).map((m) => m.content)).toEqual(["probe"]);
    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token })).body.messages.map((m: Message) => m.content)).toEqual(["probe"]);
    c.close();
  });

  it("an HTTP send whose session ends (logout) before it is stored is refused with 401", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    const held = await holdNext(chat.id, "ready");
    const sending = api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "from a dead session", clientId: "dead" } });
    await held.reached();
    expect((await api("POST", "/api/auth/logout", { token: bob.token })).status).toBe(204);
    await held.release();
    const sent = await sending;
    expect(sent.status).toBe(401);
    expect(sent.body).toEqual({ error: expect.any(String), code: ErrorCode.Unauthorized });
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token });
    expect(history.body.messages).toEqual([]);
  });
});

describe("administration is decided by the room, in order", () => {
  it("a role change that reaches the room after the removal is refused and lets no one back in", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    const held = await holdNext(chat.id, "ready");
    const promoting = api("PATCH", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token, body: { role: "admin" } });
    await held.reached();
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    await held.release();
    const promoted = await promoting;
    expect(promoted.status).toBe(404);
    expect(promoted.body.code).toBe(ErrorCode.NotFound);

    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token })).status).toBe(403);
    expect((await api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: "back?" } })).status).toBe(403);
    expect(await memberIds(chat.id, ann)).not.toContain(bob.user.id);
    expect(await inD1(chat.id, bob.user.id)).toBeNull();
    // The admin's retried removal agrees: he is gone.
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(404);
  });

  it("a re-add that reaches the room after the removal is judged against what the removal left, and D1 agrees with the room", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    const held = await holdNext(chat.id, "ready");
    const adding = api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: bob.user.id } });
    await held.reached();
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    await held.release();
    // The add came after the removal: it adds him back, and every view says so.
    expect((await adding).status).toBe(201);
    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token })).status).toBe(200);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: bob.token })).status).toBe(200);
    expect(await inD1(chat.id, bob.user.id)).toBe("member");
  });

  it("a removal held behind a re-add of a member still removes them: the add was a conflict, the removal the last word", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    const held = await holdNext(chat.id, "ready");
    const removing = api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token });
    await held.reached();
    const add = await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: bob.user.id } });
    expect(add.status).toBe(409);
    await held.release();
    expect((await removing).status).toBe(204);
    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token })).status).toBe(403);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: bob.token })).status).toBe(403);
    expect(await inD1(chat.id, bob.user.id)).toBeNull();
  });

  it("sends, role changes and re-adds racing removals leave the room and D1 agreeing, and no removed member heard after removal", async () => {
    for (let round = 0; round < 8; round++) {
      const { ann, bob, cid, chat } = await threeInAGroup();
      const b = await connect(chat.id, bob.token);
      const c = await connect(chat.id, cid.token);
      for (let i = 0; i < 5; i++) b.sendJson(ClientEvent.SendMessage, { content: `r${round}m${i}`, clientId: `r${round}m${i}` });
      const path = `/api/chats/${chat.id}/members`;
      const answers = await Promise.all([
        api("DELETE", `${path}/${bob.user.id}`, { token: ann.token }),
        api("PATCH", `${path}/${bob.user.id}`, { token: ann.token, body: { role: round % 2 ? "admin" : "member" } }),
        round % 3 === 0 ? api("POST", path, { token: ann.token, body: { userId: bob.user.id } }) : Promise.resolve(null),
        api("POST", `/api/chats/${chat.id}/messages`, { token: bob.token, body: { content: `http ${round}` } }),
      ]);
      expect(answers[0]!.status).toBe(204);
      expect(answers.every((a) => a === null || a.status < 500)).toBe(true);
      expect(await copyToD1Now(chat.id)).toBe(true);
      const inRoom = (await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token })).status === 200;
      expect(await inD1(chat.id, bob.user.id) !== null).toBe(inRoom);
      expect((await memberIds(chat.id, ann)).includes(bob.user.id)).toBe(inRoom);
      if (!inRoom) {
        // Nothing from Bob after Cid heard of the removal.
        await c.until((s) => s.of(ServerEvent.MemberRemoved).length > 0, "member_removed");
        const probe = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: `probe ${round}` } });
        expect(probe.status).toBe(201);
        await c.until((s) => s.of(ServerEvent.ReceiveMessage).some((m) => m.id === probe.body.id), "the probe");
        const frames = c.frames.filter((f) => f !== "pong");
        const removedAt = frames.findIndex((f) => f.event === ServerEvent.MemberRemoved);
        const fromBobAfter = frames.slice(removedAt).filter((f) => f.event === ServerEvent.ReceiveMessage && (f.data as Message).sender.id === bob.user.id);
        expect(fromBobAfter).toEqual([]);
      }
      b.close();
      c.close();
    }
  });

  it("a role change or rename reaches D1's copy before the answer, so the caller's next chat read shows it", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    expect((await api("PATCH", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token, body: { role: "admin" } })).status).toBe(200);
    expect(await inD1(chat.id, bob.user.id)).toBe("admin");
    const renamed = await api("PATCH", `/api/chats/${chat.id}`, { token: bob.token, body: { name: "Renamed" } });
    expect(renamed.status).toBe(200);
    expect(renamed.body.name).toBe("Renamed");
    // The first admin leaves; Bob is admin already, so no one is promoted.
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${ann.user.id}`, { token: ann.token })).status).toBe(204);
    expect((await api("PATCH", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: bob.token, body: { role: "member" } })).status).toBe(400);
  });

  it("a room loaded before it was the authority reconciles with D1 once: a member only D1 knew gets in, the chat's type is known", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: ann.token })).status).toBe(200);
    const dan = await register("dan");
    // As an old room was: no chat row, no join times, no authority mark; and an add that reached D1 only.
    await runInDurableObject(roomStub(chat.id), (_room: ChatRoom, state) => {
      state.storage.sql.exec("DELETE FROM meta WHERE key = 'authority'");
      state.storage.sql.exec("DELETE FROM chat");
      state.storage.sql.exec("UPDATE members SET joined_at = 0");
    });
    await env.DB.prepare("INSERT INTO chat_members (chat_id, user_id, role, joined_at) VALUES (?, ?, 'member', ?)").bind(chat.id, dan.user.id, Date.now()).run();
    const evicted = roomStub(chat.id);
    await runInDurableObject(evicted, (room: ChatRoom) => void ((room as unknown as { loader: { loaded: boolean } }).loader.loaded = false));

    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: dan.token })).status).toBe(200);
    // Administration works (it needs the chat's type), and the longest-standing member inherits admin.
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${ann.user.id}`, { token: ann.token })).status).toBe(204);
    expect(await inD1(chat.id, bob.user.id)).toBe("admin");
  });
});

describe("what the room promises", () => {
  it("a typing_start right after a send stays in force", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);
    a.sendJson(ClientEvent.TypingStart, {});
    await b.next(ServerEvent.UserTyping);
    a.sendJson(ClientEvent.SendMessage, { content: "sent", clientId: "t1" });
    a.sendJson(ClientEvent.TypingStart, {});
    await a.next(ServerEvent.MessageSent);
    await b.next(ServerEvent.ReceiveMessage);
    // A later frame from Ann: everything the room did with the two before it has reached Bob.
    a.sendJson(ClientEvent.SendMessage, { content: "probe", clientId: "t2" });
    await b.next(ServerEvent.ReceiveMessage, 2);
    const typing = b.frames.filter((f) => f !== "pong" && (f.event === ServerEvent.UserTyping || f.event === ServerEvent.UserStoppedTyping));
    // Typing, stopped by the send, the message, typing again (announced after the message it came
    // after), stopped by the probe's send: never stopped by a store after it.
    expect(typing.map((f) => f !== "pong" && f.event)).toEqual([ServerEvent.UserTyping, ServerEvent.UserStoppedTyping, ServerEvent.UserTyping, ServerEvent.UserStoppedTyping]);
    const frames = b.frames.filter((f) => f !== "pong").map((f) => (f.event === ServerEvent.ReceiveMessage ? `m:${(f.data as Message).content}` : f.event));
    expect(frames).toEqual([
      ServerEvent.JoinedChat,
      ServerEvent.UserTyping,
      ServerEvent.UserStoppedTyping,
      "m:sent",
      ServerEvent.UserTyping,
      ServerEvent.UserStoppedTyping,
      "m:probe",
    ]);
    a.close();
    b.close();
  });

  it("a message and its attachments are stored together or not at all", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    const { ann, bob, chat } = await threeInAGroup();
    const uploaded = await SELF.fetch(`${BASE}/api/chats/${chat.id}/attachments`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ann.token}`, "Content-Type": "image/png", "X-File-Name": "a.png" },
      body: new Uint8Array([1, 2, 3]),
    });
    expect(uploaded.status).toBe(201);
    const { id } = (await uploaded.json()) as { id: string };
    await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const uploads = (room as unknown as { uploads: Uploads & { attach: Uploads["attach"] } }).uploads;
      uploads.attach = () => {
        delete (uploads as Partial<Pick<Uploads, "attach">>).attach;
        throw new Error("SQLITE_FULL: simulated");
      };
    });
    const failed = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "with a file", clientId: "f1", attachmentIds: [id] } });
    expect(failed.status).toBe(500);
    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token })).body.messages).toEqual([]);
    // The resend is the first store: once, with its file.
    const resent = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "with a file", clientId: "f1", attachmentIds: [id] } });
    expect(resent.status).toBe(201);
    const history = await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token });
    expect(history.body.messages.map((m: Message) => [m.content, m.attachments?.map((x) => x.id)])).toEqual([["with a file", [id]]]);
  });
});

describe("a chat that was never created costs nothing", () => {
  it("answers 404 to history, sends, sockets, uploads and downloads without creating any room", async () => {
    const user = await register("probe");
    const before = (await listDurableObjectIds(env.CHAT_ROOM)).length;
    const ids = Array.from({ length: 20 }, (_, i) => 900_000_000 + i * 7919);
    for (const [i, chatId] of ids.entries()) {
      const res =
        i % 5 === 0
          ? await api("GET", `/api/chats/${chatId}/messages`, { token: user.token })
          : i % 5 === 1
            ? await api("POST", `/api/chats/${chatId}/messages`, { token: user.token, body: { content: "hello?" } })
            : i % 5 === 2
              ? await SELF.fetch(`${BASE}/api/chats/${chatId}/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${user.token}` } })
              : i % 5 === 3
                ? await SELF.fetch(`${BASE}/api/chats/${chatId}/attachments`, {
                    method: "POST",
                    headers: { Authorization: `Bearer ${user.token}`, "Content-Type": "image/png", "X-File-Name": "x.png" },
                    body: new Uint8Array([1]),
                  })
                : await SELF.fetch(`${BASE}/api/attachments/${chatId}-AAAAAAAAAAAAAAAAAAAAAA`, { headers: { Authorization: `Bearer ${user.token}` } });
      expect(res.status, `request ${i}`).toBe(404);
      if (res instanceof Response) await res.body?.cancel();
    }
    expect((await listDurableObjectIds(env.CHAT_ROOM)).length).toBe(before);
  });
});
