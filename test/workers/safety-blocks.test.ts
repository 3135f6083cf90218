/**
 * Blocks (issue 29): per direction; D1 is the record, the chat rooms the pair shares keep it to
 * decide sends (a direct chat refuses the blocked sender with `blocked`) and unread counts without
 * a D1 query per message. Each rule and each error of the contract, and the race between a block
 * and an add held at a gate.
 */
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { Chat } from "../../src/protocol/models";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, connect, createGroup, register, roomStub, type TestUser } from "./helpers";

const blockUser = (by: TestUser, whom: TestUser) => api("PUT", `/api/users/${whom.user.id}/block`, { token: by.token });
const unblockUser = (by: TestUser, whom: TestUser) => api("DELETE", `/api/users/${whom.user.id}/block`, { token: by.token });
const direct = (from: TestUser, to: TestUser) => api("POST", "/api/chats", { token: from.token, body: { type: "direct", userId: to.user.id } });
const post = (from: TestUser, chatId: number, content: string) => api("POST", `/api/chats/${chatId}/messages`, { token: from.token, body: { content } });
const contents = async (viewer: TestUser, chatId: number) =>
  ((await api("GET", `/api/chats/${chatId}/messages`, { token: viewer.token })).body.messages as { content: string }[]).map((m) => m.content);
const unread = async (viewer: TestUser, chatId: number) => ((await api("GET", `/api/chats/${chatId}`, { token: viewer.token })).body as Chat).unreadCount;

describe("the block routes", () => {
  it("PUT blocks (again: 204), GET lists, DELETE unblocks; yourself 400, no such user 404, a bad id 400", async () => {
    const [ann, bob, cid] = await Promise.all([register("bann"), register("bbob"), register("bcid")]);
    expect((await blockUser(ann, bob)).status).toBe(204);
    expect((await blockUser(ann, bob)).status).toBe(204);
    expect((await blockUser(ann, cid)).status).toBe(204);
    const listed = await api("GET", "/api/users/me/blocked", { token: ann.token });
    expect(listed.status).toBe(200);
    expect(listed.body.users.map((u: { id: number }) => u.id).sort()).toEqual([bob.user.id, cid.user.id].sort());
    expect(listed.body.users[0]).toEqual({ id: expect.any(Number), username: expect.any(String) });
    expect((await api("GET", "/api/users/me/blocked", { token: bob.token })).body).toEqual({ users: [] });

    expect((await unblockUser(ann, bob)).status).toBe(204);
    expect((await unblockUser(ann, bob)).status).toBe(204);
    expect((await api("GET", "/api/users/me/blocked", { token: ann.token })).body.users.map((u: { id: number }) => u.id)).toEqual([cid.user.id]);

    const self = await blockUser(ann, ann);
    expect(self.status).toBe(400);
    expect(self.body.code).toBe(ErrorCode.BadRequest);
    const nobody = await api("PUT", "/api/users/999999999/block", { token: ann.token });
    expect(nobody.status).toBe(404);
    expect(nobody.body.code).toBe(ErrorCode.NotFound);
    expect((await api("PUT", "/api/users/abc/block", { token: ann.token })).status).toBe(400);
    expect((await api("PUT", `/api/users/${bob.user.id}/block`)).status).toBe(401);
  });
});

describe("direct chats", () => {
  it("a blocked user cannot open a direct chat with the blocker (403 blocked); the blocker still can (per direction)", async () => {
    const [ann, bob] = await Promise.all([register("dann"), register("dbob")]);
    await blockUser(ann, bob);
    const refused = await direct(bob, ann);
    expect(refused.status).toBe(403);
    expect(refused.body.code).toBe(ErrorCode.Blocked);
    const opened = await direct(ann, bob);
    expect(opened.status).toBe(201);
    // Now that it exists, bob opening it is still refused.
    expect((await direct(bob, ann)).body.code).toBe(ErrorCode.Blocked);
    await unblockUser(ann, bob);
    expect((await direct(bob, ann)).status).toBe(200);
  });

  it("refuses the blocked sender's sends in an existing direct chat, over HTTP and the socket, storing nothing; the blocker still sends; unblocking lets them in again", async () => {
    const [ann, bob] = await Promise.all([register("sann"), register("sbob")]);
    const chat = (await direct(ann, bob)).body as Chat;
    expect((await post(bob, chat.id, "before")).status).toBe(201);
    const a = await connect(chat.id, ann.token);
    const b = await connect(chat.id, bob.token);

    expect((await blockUser(ann, bob)).status).toBe(204);
    const http = await post(bob, chat.id, "over http");
    expect(http.status).toBe(403);
    expect(http.body.code).toBe(ErrorCode.Blocked);
    b.sendJson(ClientEvent.SendMessage, { content: "over the socket", clientId: "blocked-1" });
    const error = await b.next(ServerEvent.Error);
    expect(error).toMatchObject({ code: ErrorCode.Blocked, event: ClientEvent.SendMessage, clientId: "blocked-1" });
    expect(await contents(ann, chat.id)).toEqual(["before"]);

    // Per direction: ann (the blocker) writes to bob as before.
    expect((await post(ann, chat.id, "from the blocker")).status).toBe(201);
    await b.next(ServerEvent.ReceiveMessage);

    expect((await unblockUser(ann, bob)).status).toBe(204);
    expect((await post(bob, chat.id, "after")).status).toBe(201);
    await a.next(ServerEvent.ReceiveMessage, 2);
    expect(await contents(ann, chat.id)).toEqual(["before", "from the blocker", "after"]);
    a.close();
    b.close();
  });
});

describe("groups", () => {
  it("a blocked user cannot add the blocker to a group, nor create a group with them (403 blocked); nothing is created", async () => {
    const [ann, bob, cid] = await Promise.all([register("gann"), register("gbob"), register("gcid")]);
    await blockUser(bob, ann);
    const group = await createGroup(ann, [cid]);
    const add = await api("POST", `/api/chats/${group.id}/members`, { token: ann.token, body: { userId: bob.user.id } });
    expect(add.status).toBe(403);
    expect(add.body.code).toBe(ErrorCode.Blocked);
    expect((await api("GET", `/api/chats/${group.id}`, { token: ann.token })).body.members.map((m: { id: number }) => m.id)).not.toContain(bob.user.id);
    const create = await api("POST", "/api/chats", { token: ann.token, body: { type: "group", name: "With bob", memberIds: [cid.user.id, bob.user.id] } });
    expect(create.status).toBe(403);
    expect(create.body.code).toBe(ErrorCode.Blocked);
    expect((await api("GET", "/api/chats", { token: bob.token })).body.chats).toEqual([]);
    // Another admin whom bob does not block adds him: allowed (bob blocks ann, not cid).
    await api("PATCH", `/api/chats/${group.id}/members/${cid.user.id}`, { token: ann.token, body: { role: "admin" } });
    expect((await api("POST", `/api/chats/${group.id}/members`, { token: cid.token, body: { userId: bob.user.id } })).status).toBe(201);
  });

  it("in a group both stay members and messages flow; the blocker gets no unread count from the blocked user; the room answers isBlockedBy for push", async () => {
    const [ann, bob, cid] = await Promise.all([register("uann"), register("ubob"), register("ucid")]);
    const group = await createGroup(ann, [bob, cid]);
    await blockUser(bob, ann);
    const b = await connect(group.id, bob.token);
    expect((await post(ann, group.id, "from ann")).status).toBe(201);
    expect((await b.next(ServerEvent.ReceiveMessage)).content).toBe("from ann");
    expect((await post(cid, group.id, "from cid")).status).toBe(201);
    expect((await post(ann, group.id, "ann again")).status).toBe(201);
    // bob: cid's message only; cid: ann's after cid's own.
    expect([await unread(bob, group.id), await unread(cid, group.id)]).toEqual([1, 1]);
    expect(
      await runInDurableObject(roomStub(group.id), (room: ChatRoom) => [room.isBlockedBy(bob.user.id, ann.user.id), room.isBlockedBy(ann.user.id, bob.user.id), room.isBlockedBy(cid.user.id, ann.user.id)]),
    ).toEqual([true, false, false]);
    await unblockUser(bob, ann);
    expect(await unread(bob, group.id)).toBe(3);
    b.close();
  });

  it("a room learns a new member's blocks when they join, and a room that starts (first load from D1) the blocks among its members", async () => {
    const [ann, bob, cid] = await Promise.all([register("jann"), register("jbob"), register("jcid")]);
    await blockUser(bob, ann);
    // The room loads its members (and their blocks) from D1 on its first use.
    const first = await createGroup(cid, [ann, bob]);
    expect((await post(ann, first.id, "one")).status).toBe(201);
    expect(await unread(bob, first.id)).toBe(0);
    // Joining later: the room reads bob's blocks with its members after the add.
    const later = await createGroup(cid, [ann]);
    expect((await post(ann, later.id, "two")).status).toBe(201);
    expect((await api("POST", `/api/chats/${later.id}/members`, { token: cid.token, body: { userId: bob.user.id } })).status).toBe(201);
    expect((await post(ann, later.id, "three")).status).toBe(201);
    expect((await post(cid, later.id, "four")).status).toBe(201);
    expect(await unread(bob, later.id)).toBe(1);
    expect(await runInDurableObject(roomStub(later.id), (room: ChatRoom) => room.isBlockedBy(bob.user.id, ann.user.id))).toBe(true);
  });

  it("a block made while an add is held after its copy (before the room reads the newcomer's blocks) is in the room either way", async () => {
    const [ann, bob, cid] = await Promise.all([register("rann"), register("rbob"), register("rcid")]);
    const group = await createGroup(cid, [ann]);
    await api("GET", `/api/chats/${group.id}`, { token: cid.token }); // the room is loaded
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let reached = false;
    await runInDurableObject(roomStub(group.id), (room: ChatRoom) => {
      const sync = (room as unknown as { blockSync: { joined(id: number): Promise<void> } }).blockSync;
      const real = sync.joined.bind(sync);
      sync.joined = async (id: number) => {
        reached = true;
        await gate;
        return real(id);
      };
    });
    const adding = api("POST", `/api/chats/${group.id}/members`, { token: cid.token, body: { userId: bob.user.id } });
    while (!reached) await new Promise((r) => setTimeout(r, 5));
    // The add's copy is in D1: the block finds the shared chat and tells the room (whose read runs first).
    expect((await blockUser(bob, ann)).status).toBe(204);
    await runInDurableObject(roomStub(group.id), () => release());
    expect((await adding).status).toBe(201);
    expect((await post(ann, group.id, "hi")).status).toBe(201);
    expect(await unread(bob, group.id)).toBe(0);
    expect(await runInDurableObject(roomStub(group.id), (room: ChatRoom) => room.isBlockedBy(bob.user.id, ann.user.id))).toBe(true);
  });
});
