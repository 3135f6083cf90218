/**
 * Retention (issue 29): messages older than a group's `retentionSeconds` are deleted everywhere by
 * the room's alarm — its log (history, `since`), their reports, their files in R2, D1's copy and
 * the search index — and open sockets hear `messages_expired`. Time is moved by moving the stored
 * messages' times back (the room's alarm is then run), not by waiting.
 */
import { env, runDurableObjectAlarm, runInDurableObject, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ErrorCode } from "../../src/protocol/errors";
import { ServerEvent } from "../../src/protocol/events";
import { limits } from "../../src/protocol/limits";
import type { Chat, Message } from "../../src/protocol/models";
import { messagesExpiredPayload } from "../../src/protocol/schemas";
import type { ChatRoom } from "../../src/room/chat-room";
import { MessageLog } from "../../src/room/log/messages";
import { api, BASE, connect, copyToD1Now, createGroup, expectError, register, roomStub, seedMessages, type TestUser } from "./helpers";

interface Internals {
  store: ConstructorParameters<typeof MessageLog>[0];
  retention: { settingChanged(): void; at: number | null };
}

/** The messages up to `throughId` were stored `ms` earlier than they were; the room's next round follows. */
async function age(chatId: number, throughId: number, ms: number) {
  await runInDurableObject(roomStub(chatId), (room: ChatRoom, state) => {
    state.storage.sql.exec("UPDATE messages SET created_at = created_at - ? WHERE id <= ?", ms, throughId);
    (room as unknown as Internals).retention.settingChanged();
  });
}

/** Runs the room's alarm until retention has nothing due now. */
async function expireNow(chatId: number) {
  for (let i = 0; i < 10; i++) {
    await runDurableObjectAlarm(roomStub(chatId));
    const at = await runInDurableObject(roomStub(chatId), (room: ChatRoom) => (room as unknown as Internals).retention.at);
    if (at === null || at > Date.now()) return;
  }
}

const history = async (viewer: TestUser, chatId: number) => ((await api("GET", `/api/chats/${chatId}/messages?limit=100`, { token: viewer.token })).body.messages as Message[]);
const search = async (viewer: TestUser, q: string, chatId: number) =>
  ((await api("GET", `/api/search?q=${encodeURIComponent(q)}&chatId=${chatId}`, { token: viewer.token })).body.results as { message: Message }[]).map((r) => r.message.id);
const inD1 = async (chatId: number) =>
  (await env.DB.prepare("SELECT id FROM messages WHERE chat_id = ? ORDER BY id").bind(chatId).all<{ id: number }>()).results.map((r) => r.id);
const documents = async (chatId: number) =>
  (await env.DB.prepare("SELECT count(*) AS n FROM message_search WHERE rowid BETWEEN ? * 4294967296 AND ? * 4294967296 + 4294967295").bind(chatId, chatId).first<{ n: number }>())!.n;

describe("the setting", () => {
  it("admins set retentionSeconds: null or 60 s to ten years; under 60, over, or not an integer 400; members 403; the chat carries it", async () => {
    const [ann, bob] = await Promise.all([register("tann"), register("tbob")]);
    const group = await createGroup(ann, [bob]);
    const patch = (who: TestUser, retentionSeconds: unknown) => api("PATCH", `/api/chats/${group.id}`, { token: who.token, body: { retentionSeconds } });
    for (const bad of [59, 0, -1, limits.retentionMaxSeconds + 1, 60.5, "60"]) {
      const res = await patch(ann, bad);
      expect(res.status, String(bad)).toBe(400);
      expect(res.body.code).toBe(ErrorCode.BadRequest);
    }
    expect((await patch(bob, 60)).status).toBe(403);
    expect(((await patch(ann, 60)).body as Chat).retentionSeconds).toBe(60);
    expect(((await patch(ann, limits.retentionMaxSeconds)).body as Chat).retentionSeconds).toBe(limits.retentionMaxSeconds);
    expect(((await patch(ann, null)).body as Chat).retentionSeconds).toBeNull();
    const both = await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { name: "Renamed", slowModeSeconds: 5, retentionSeconds: 3600 } });
    expect(both.body).toMatchObject({ name: "Renamed", slowModeSeconds: 5, retentionSeconds: 3600 });
    // D1's copy has the settings too (the room copied them before answering).
    expect(await env.DB.prepare("SELECT name, slow_mode_seconds AS s, retention_seconds AS r FROM chats WHERE id = ?").bind(group.id).first()).toEqual({ name: "Renamed", s: 5, r: 3600 });
  });
});

describe("expiry", () => {
  it("deletes expired messages from history, their reports, their files in R2, D1's copy and search; the rest of a search block stays findable; sockets hear messages_expired, new ones on connect", async () => {
    const [ann, bob] = await Promise.all([register("xann"), register("xbob")]);
    const group = await createGroup(ann, [bob]);
    const upload = await SELF.fetch(`${BASE}/api/chats/${group.id}/attachments`, {
      method: "POST",
      headers: { Authorization: `Bearer ${ann.token}`, "Content-Type": "image/png", "X-File-Name": "photo.png" },
      body: new TextEncoder().encode("not really a png"),
    });
    const file = (await upload.json()) as { id: string };
    const photo = (await api("POST", `/api/chats/${group.id}/messages`, { token: ann.token, body: { content: "photograph", attachmentIds: [file.id] } })).body as Message;
    // Ten messages copied together: one search block (ids 2–11).
    const ids = await seedMessages(group.id, [ann, bob], 10);
    expect(await copyToD1Now(group.id)).toBe(true);
    expect(await search(bob, "m7", group.id)).toEqual([ids[7]]);
    expect(await search(bob, "m3", group.id)).toEqual([ids[3]]);
    await api("POST", `/api/chats/${group.id}/messages/${photo.id}/report`, { token: bob.token, body: { reason: "spam" } });
    await api("POST", `/api/chats/${group.id}/messages/${ids[8]}/report`, { token: bob.token, body: { reason: "later" } });
    expect(await env.FILES.get(file.id)).not.toBeNull();

    const a = await connect(group.id, ann.token);
    await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { retentionSeconds: 60 } });
    const through = ids[4]!; // the photo and m0–m4 expire; m5–m9 (the same search block) stay
    await age(group.id, through, 10 * 60_000);
    await expireNow(group.id);

    const expired = await a.next(ServerEvent.MessagesExpired);
    expect(messagesExpiredPayload.parse(expired)).toEqual({ chatId: group.id, throughId: through });
    expect((await history(bob, group.id)).map((m) => m.id)).toEqual(ids.slice(5));
    expect((await api("GET", `/api/chats/${group.id}/reports`, { token: ann.token })).body.reports.map((r: { reason: string }) => r.reason)).toEqual(["later"]);
    expect(await env.FILES.get(file.id)).toBeNull();
    expect((await api("GET", `/api/attachments/${file.id}`, { token: bob.token })).status).toBe(404);
    // `since` replays only what is left, after telling the socket what went.
    const late = await connect(group.id, bob.token, "?since=0");
    expect(await late.next(ServerEvent.MessagesExpired)).toEqual({ chatId: group.id, throughId: through });
    await late.next(ServerEvent.ReplayDone);
    expect(late.frames.findIndex((f) => f !== "pong" && f.event === ServerEvent.MessagesExpired)).toBe(1);
    expect(late.of(ServerEvent.ReceiveMessage).map((m) => m.id)).toEqual(ids.slice(5));

    expect(await copyToD1Now(group.id)).toBe(true);
    expect(await inD1(group.id)).toEqual(ids.slice(5));
    expect(await search(bob, "m3", group.id)).toEqual([]);
    expect(await search(bob, "photograph", group.id)).toEqual([]);
    expect(await search(bob, "m7", group.id)).toEqual([ids[7]]);
    expect(await search(bob, "m5", group.id)).toEqual([ids[5]]);
    // One document left: the survivors' own block.
    expect(await documents(group.id)).toBe(1);
    // An edit of a survivor rebuilds its (new) block from the rows that are left.
    expect((await api("PATCH", `/api/chats/${group.id}/messages/${ids[6]}`, { token: ann.token, body: { content: "renamed survivor" } })).status).toBe(200);
    expect(await copyToD1Now(group.id)).toBe(true);
    expect(await search(bob, "renamed", group.id)).toEqual([ids[6]]);
    expect(await search(bob, "m5", group.id)).toEqual([ids[5]]);
    expect(await search(bob, "m3", group.id)).toEqual([]);
    a.close();
    late.close();
  });

  it("ids never go back: when every message expired, the next one takes the id after the last; a marker cannot stand on an expired id", async () => {
    const [ann, bob] = await Promise.all([register("iann"), register("ibob")]);
    const group = await createGroup(ann, [bob]);
    const ids: number[] = [];
    for (const content of ["one", "two", "three"]) ids.push((await api("POST", `/api/chats/${group.id}/messages`, { token: ann.token, body: { content } })).body.id);
    await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { retentionSeconds: 60 } });
    await age(group.id, ids[2]!, 5 * 60_000);
    await expireNow(group.id);
    expect(await history(ann, group.id)).toEqual([]);
    expect(((await api("GET", `/api/chats/${group.id}`, { token: ann.token })).body as Chat).lastMessage).toBeNull();
    const next = (await api("POST", `/api/chats/${group.id}/messages`, { token: bob.token, body: { content: "four" } })).body as Message;
    expect(next.id).toBe(ids[2]! + 1);
    const markRead = (messageId: number) => api("POST", `/api/chats/${group.id}/read`, { token: ann.token, body: { messageId } });
    expectError(await markRead(ids[2]!), 400, ErrorCode.BadRequest);
    expectError(await markRead(next.id + 1), 400, ErrorCode.BadRequest);
    expect((await markRead(next.id)).status).toBe(204);
    // A room started afresh (a new MessageLog over the same storage) knows it too.
    await age(group.id, next.id, 5 * 60_000);
    await expireNow(group.id);
    const fresh = await runInDurableObject(roomStub(group.id), (room: ChatRoom) => {
      const log = new MessageLog((room as unknown as Internals).store, group.id);
      return { id: log.newestId(), changes: log.lastChangeId(), holds: [next.id, next.id + 1].map((id) => log.has(id)) };
    });
    expect(fresh.id).toBe(0);
    expect(fresh.holds).toEqual([false, false]);
    const after = (await api("POST", `/api/chats/${group.id}/messages`, { token: bob.token, body: { content: "five" } })).body as Message;
    expect(after.id).toBe(next.id + 1);
    expect(await copyToD1Now(group.id)).toBe(true);
    expect(await inD1(group.id)).toEqual([after.id]);
  });

  it("deletes a long history from D1 in bounded rounds by key range, search documents included", async () => {
    const [ann, bob] = await Promise.all([register("lann"), register("lbob")]);
    const group = await createGroup(ann, [bob]);
    const ids = await seedMessages(group.id, [ann, bob], 6000);
    expect(await copyToD1Now(group.id)).toBe(true);
    expect((await inD1(group.id)).length).toBe(6000);
    expect(await documents(group.id)).toBeGreaterThan(20);
    await api("PATCH", `/api/chats/${group.id}`, { token: ann.token, body: { retentionSeconds: 60 } });
    await age(group.id, ids.at(-1)!, 60 * 60_000);
    await expireNow(group.id);
    expect(await history(ann, group.id)).toEqual([]);
    expect(await copyToD1Now(group.id)).toBe(true);
    expect(await inD1(group.id)).toEqual([]);
    expect(await documents(group.id)).toBe(0);
  });

  it("chats without retention are never touched, and a message stored after the setting schedules its own round", async () => {
    const [ann, bob] = await Promise.all([register("nann"), register("nbob")]);
    const group = await createGroup(ann, [bob]);
    const m = (await api("POST", `/api/chats/${group.id}/messages`, { token: ann.token, body: { content: "kept" } })).body as Message;
    await age(group.id, m.id, 365 * 24 * 3600_000);
    expect(await runInDurableObject(roomStub(group.id), (room: ChatRoom) => (room as unknown as Internals).retention.at)).toBeNull();
    await runDurableObjectAlarm(roomStub(group.id));
    expect((await history(ann, group.id)).map((x) => x.id)).toEqual([m.id]);
    const empty = await createGroup(ann, [bob]);
    await api("PATCH", `/api/chats/${empty.id}`, { token: ann.token, body: { retentionSeconds: 600 } });
    expect(await runInDurableObject(roomStub(empty.id), (room: ChatRoom) => (room as unknown as Internals).retention.at)).toBeNull();
    const before = Date.now();
    await api("POST", `/api/chats/${empty.id}/messages`, { token: ann.token, body: { content: "first" } });
    const at = await runInDurableObject(roomStub(empty.id), (room: ChatRoom) => (room as unknown as Internals).retention.at);
    // Its expiry plus the round's slack (at most 20 s).
    expect(at).toBeGreaterThanOrEqual(before + 600_000);
    expect(at).toBeLessThanOrEqual(Date.now() + 620_000);
  });
});
