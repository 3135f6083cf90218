/**
 * Read receipts are coalesced per chat (docs/PROTOCOL.md, Read markers): a burst of reads reaches
 * each socket as one frame per window carrying every marker that moved. The window is held open by
 * taking its timer from the room; the test closes it once every read has been answered.
 */
import { runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import type { ChatRoom } from "../../src/room/chat-room";
import type { ReadReceipts } from "../../src/room/read-receipts";
import { LEARNING_INBOX_WINDOW_MS, type ActivityAnnouncer } from "../../src/room/activity";
import type { RoomMembers } from "../../src/room/log/members";
import { MARKER_WRITE_WINDOW_MS, type UnwrittenMarkers } from "../../src/room/unwritten-markers";
import { env } from "cloudflare:test";
import { InboxEvent } from "../../src/protocol/events";
import { api, BASE, connect, connectInbox, copyToD1Now, createGroup, register, roomStub, TestSocket } from "./helpers";
import { deliveriesTo } from "./inbox-hooks";

/** Takes over the room's receipt timer: returns a function that ends the window now. */
async function holdReceiptWindow(chatId: number) {
  const windows: (() => void)[] = [];
  await runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    (room as unknown as { receipts: ReadReceipts }).receipts.schedule = (fn) => windows.push(fn);
  });
  return {
    opened: () => windows.length,
    close: () => runInDurableObject(roomStub(chatId), () => windows.shift()!()),
  };
}

async function connectOneByOne(chatId: number, token: string): Promise<TestSocket> {
  const res = await SELF.fetch(`${BASE}/api/chats/${chatId}/ws`, { headers: { Upgrade: "websocket", Authorization: `Bearer ${token}` } });
  res.webSocket!.accept();
  const socket = new TestSocket(res.webSocket!);
  await socket.next(ServerEvent.JoinedChat);
  return socket;
}

describe("read receipts", () => {
  it("a burst of reads from many members reaches each socket as one frame per window, with every moved marker", async () => {
    const users = await Promise.all(Array.from({ length: 8 }, (_, i) => register(`rr${i}`)));
    const [ann, ...readers] = users as [(typeof users)[0], ...typeof users];
    const chat = await createGroup(ann, readers);
    const batched = await Promise.all(users.map((u) => connect(chat.id, u.token, "?receipts=batched")));
    const legacy = await connectOneByOne(chat.id, ann.token);
    const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "read me" } });
    expect(posted.status).toBe(201);
    const window = await holdReceiptWindow(chat.id);

    // Half read over HTTP, half on their sockets; each marker moves once more within the window.
    for (const [i, reader] of readers.entries()) {
      if (i % 2 === 0) expect((await api("POST", `/api/chats/${chat.id}/read`, { token: reader.token, body: { messageId: posted.body.id } })).status).toBe(204);
      else batched[i + 1]!.sendJson(ClientEvent.MarkRead, { chatId: chat.id, messageId: posted.body.id });
    }
    // A probe after the socket reads: once Ann has it, the room has handled every frame before it.
    const probe = await api("POST", `/api/chats/${chat.id}/messages`, { token: readers[0]!.token, body: { content: "probe" } });
    for (const s of batched) await s.until((x) => x.of(ServerEvent.ReceiveMessage).some((m) => m.id === probe.body.id), "the probe");
    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: ann.token, body: { messageId: probe.body.id } })).status).toBe(204);
    expect(window.opened()).toBe(1);
    for (const s of [...batched, legacy]) {
      expect(s.of(ServerEvent.ReadsUpdated)).toEqual([]);
      expect(s.of(ServerEvent.ReadUpdated)).toEqual([]);
    }

    await window.close();
    const expected = [
      // The probe's sender read only what they marked: their own message is not a receipt (it arrived as itself).
      ...readers.map((r) => ({ user: r.user, lastReadMessageId: posted.body.id })),
      { user: ann.user, lastReadMessageId: probe.body.id },
    ];
    const byUser = (a: { user: { id: number } }, b: { user: { id: number } }) => a.user.id - b.user.id;
    for (const s of batched) {
      await s.next(ServerEvent.ReadsUpdated);
      const [frame] = s.of(ServerEvent.ReadsUpdated);
      expect(frame!.chatId).toBe(chat.id);
      expect([...frame!.reads].sort(byUser)).toEqual([...expected].sort(byUser));
      expect(s.of(ServerEvent.ReadUpdated)).toEqual([]);
    }
    // A socket that did not ask for batches gets one read_updated per marker that moved.
    await legacy.next(ServerEvent.ReadUpdated, expected.length);
    expect(legacy.of(ServerEvent.ReadUpdated).map(({ chatId, ...read }) => (expect(chatId).toBe(chat.id), read)).sort(byUser)).toEqual([...expected].sort(byUser));
    expect(legacy.of(ServerEvent.ReadsUpdated)).toEqual([]);

    // The next window is one frame again, and a window in which nothing moved sends nothing.
    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: readers[1]!.token, body: { messageId: probe.body.id } })).status).toBe(204);
    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: readers[1]!.token, body: { messageId: posted.body.id } })).status).toBe(204);
    await window.close();
    for (const s of batched) await s.next(ServerEvent.ReadsUpdated, 2);
    expect(batched[0]!.of(ServerEvent.ReadsUpdated)[1]!.reads).toEqual([{ user: readers[1]!.user, lastReadMessageId: probe.body.id }]);
    expect(window.opened()).toBe(0);
    for (const s of [...batched, legacy]) s.close();
  });

  it("reads before the room learnt who has an inbox open wait for the learning window, then go only to inboxes found open", async () => {
    const [ann, bob, cid] = await Promise.all([register("il"), register("il"), register("il")]);
    const chat = await createGroup(ann, [bob, cid]);
    const cidInbox = await connectInbox(cid.token);
    const windows: { fn: () => void; ms: number }[] = [];
    const learnt = await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const { activity, d1Copy } = room as unknown as { activity: ActivityAnnouncer; d1Copy: { learn: () => void } };
      (activity as unknown as { coalescer: { schedule: (fn: () => void, ms: number) => void } }).coalescer.schedule = (fn, ms) => windows.push({ fn, ms });
      // Its own read of who listens is slow today: only the copy will tell.
      d1Copy.learn = () => {};
      return activity.knowsInboxes;
    });
    expect(learnt).toBe(false);
    const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "as it wakes" } });
    const [bobBefore, cidBefore] = [await deliveriesTo(bob.user.id), await deliveriesTo(cid.user.id)];
    for (const reader of [bob, cid]) expect((await api("POST", `/api/chats/${chat.id}/read`, { token: reader.token, body: { messageId: posted.body.id } })).status).toBe(204);
    // No call per read: one window, as long as the first copy needs to teach the room.
    expect(windows.map((w) => w.ms)).toEqual([LEARNING_INBOX_WINDOW_MS]);
    expect([await deliveriesTo(bob.user.id), await deliveriesTo(cid.user.id)]).toEqual([bobBefore, cidBefore]);

    // The copy finds Cid's inbox open: Cid's devices hear the read then; Bob's (none open) never.
    expect(await copyToD1Now(chat.id)).toBe(true);
    expect(await cidInbox.next(InboxEvent.ChatRead)).toEqual({ chatId: chat.id, lastReadMessageId: posted.body.id, unreadCount: 0 });
    await runInDurableObject(roomStub(chat.id), () => windows.shift()!.fn());
    expect(await deliveriesTo(bob.user.id)).toBe(bobBefore);
    expect(await deliveriesTo(cid.user.id)).toBe(cidBefore + 1);
    cidInbox.close();
  });

  it("a read tells the reader's other devices through their inbox only when an inbox of theirs is open", async () => {
    const [ann, bob, cid] = await Promise.all([register("ib"), register("ib"), register("ib")]);
    const chat = await createGroup(ann, [bob, cid]);
    const cidInbox = await connectInbox(cid.token);
    const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "hi" } });
    // The room learns who has an inbox open with its copy to D1.
    expect(await copyToD1Now(chat.id)).toBe(true);
    const [bobBefore, cidBefore] = [await deliveriesTo(bob.user.id), await deliveriesTo(cid.user.id)];
    for (const reader of [bob, cid]) expect((await api("POST", `/api/chats/${chat.id}/read`, { token: reader.token, body: { messageId: posted.body.id } })).status).toBe(204);
    expect(await cidInbox.next(InboxEvent.ChatRead)).toEqual({ chatId: chat.id, lastReadMessageId: posted.body.id, unreadCount: 0 });
    expect(await deliveriesTo(cid.user.id)).toBeGreaterThan(cidBefore);
    expect(await deliveriesTo(bob.user.id)).toBe(bobBefore);
    cidInbox.close();
  });
});

/** Takes over the room's marker-write timer; `stored` reads a member's marker from the room's storage. */
async function holdMarkerWrites(chatId: number) {
  const windows: { fn: () => void; ms: number }[] = [];
  type Parts = { markers: UnwrittenMarkers; members: RoomMembers };
  await runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    (room as unknown as Parts).markers.schedule = (fn, ms) => windows.push({ fn, ms });
  });
  return {
    windows,
    write: () => runInDurableObject(roomStub(chatId), () => windows.shift()!.fn()),
    stored: (userId: number) => runInDurableObject(roomStub(chatId), (room: ChatRoom) => (room as unknown as Parts).members.row(userId)!.lastRead),
  };
}

describe("read markers written once per window", () => {
  it("a reader's marker is current for them at once and reaches storage once, at the window's end", async () => {
    const [ann, bob] = await Promise.all([register("mw"), register("mw")]);
    const chat = await createGroup(ann, [bob]);
    const ids: number[] = [];
    for (const content of ["one", "two", "three"]) ids.push((await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content } })).body.id);
    const held = await holdMarkerWrites(chat.id);

    for (const id of ids) expect((await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: id } })).status).toBe(204);
    // A backward read inside the window moves nothing.
    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: ids[0] } })).status).toBe(204);
    expect(held.windows.map((w) => w.ms)).toEqual([MARKER_WRITE_WINDOW_MS]);
    expect(await held.stored(bob.user.id)).toBeNull();
    // Bob's own view does not wait for the write.
    const seen = await api("GET", `/api/chats/${chat.id}`, { token: bob.token });
    expect(seen.body).toMatchObject({ lastReadMessageId: ids[2], unreadCount: 0 });
    expect(seen.body.members.find((m: { id: number }) => m.id === bob.user.id).lastReadMessageId).toBe(ids[2]);

    await held.write();
    expect(await held.stored(bob.user.id)).toBe(ids[2]);
    expect(held.windows).toEqual([]);
  });

  it("D1 gets every marker moved since the last copy, by version: one that moves while a copy runs goes with the next", async () => {
    const [ann, bob, cid] = await Promise.all([register("mv"), register("mv"), register("mv")]);
    const chat = await createGroup(ann, [bob, cid]);
    // The room loads its members with its first request.
    expect((await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).status).toBe(200);
    expect(await copyToD1Now(chat.id)).toBe(true);
    const seen = await runInDurableObject(roomStub(chat.id), (room: ChatRoom) => {
      const { members } = room as unknown as { members: RoomMembers };
      const first = members.nextMarkerVersion();
      members.markRead(bob.user.id, 5, first);
      members.markRead(cid.user.id, 3, first);
      const copying = members.markersToCopy();
      // While that copy is in D1's hands, Bob reads on.
      members.markRead(bob.user.id, 6, members.nextMarkerVersion());
      members.markersCopied(copying.through);
      return { copying: copying.markers, next: members.markersToCopy().markers, after: (members.markersCopied(members.markersToCopy().through), members.markersToCopy().markers) };
    });
    const byUser = (ms: { userId: number; lastRead: number }[]) => ms.slice().sort((a, b) => a.userId - b.userId);
    expect(byUser(seen.copying)).toEqual(byUser([{ userId: bob.user.id, lastRead: 5 }, { userId: cid.user.id, lastRead: 3 }]));
    expect(seen.next).toEqual([{ userId: bob.user.id, lastRead: 6 }]);
    expect(seen.after).toEqual([]);
  });

  it("the copy to D1 writes unwritten markers first, so D1 gets them without waiting for the window", async () => {
    const [ann, bob] = await Promise.all([register("mc"), register("mc")]);
    const chat = await createGroup(ann, [bob]);
    const posted = await api("POST", `/api/chats/${chat.id}/messages`, { token: ann.token, body: { content: "copy me" } });
    const held = await holdMarkerWrites(chat.id);
    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: posted.body.id } })).status).toBe(204);
    expect(await held.stored(bob.user.id)).toBeNull();

    expect(await copyToD1Now(chat.id)).toBe(true);
    expect(await held.stored(bob.user.id)).toBe(posted.body.id);
    const inD1 = await env.DB.prepare("SELECT last_read_message_id AS lastRead FROM chat_members WHERE chat_id = ? AND user_id = ?").bind(chat.id, bob.user.id).first<{ lastRead: number }>();
    expect(inD1?.lastRead).toBe(posted.body.id);
  });
});
