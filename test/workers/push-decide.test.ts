/**
 * Who a room pushes for a message, and how often (src/room/push-notices.ts): members not in the app
 * only, never the sender, a removed member or one who muted the chat; at most a push per member per
 * 5 s; decided from the room's own state, after the ack.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { ServerEvent } from "../../src/protocol/events";
import { pushPayload } from "../../src/protocol/push";
import type { PushJob } from "../../src/push/job";
import type { ChatRoom } from "../../src/room/chat-room";
import { api, connect, connectInbox, createGroup, register, roomStub, type TestUser, until } from "./helpers";
import { newSubscriber } from "../support/push-receiver";
import { knowsInboxes, learnInboxes, pushesWaiting, watchPushes } from "./push-hooks";

/** Long enough for a paced push (5 s a chat a user) and the room's copy. */
const PACED_MS = 15_000;

const send = async (chatId: number, from: TestUser, content: string) => {
  const res = await api("POST", `/api/chats/${chatId}/messages`, { token: from.token, body: { content } });
  expect(res.status).toBe(201);
  return res.body as { id: number; timestamp: string };
};

const pushedTo = (jobs: PushJob[]) => jobs.map((j) => j.userId);

let seq = 0;
/** A browser of `user` subscribes (the room's jobs are watched: nothing is sent to it). */
async function subscribe(user: TestUser) {
  const { keys } = await newSubscriber();
  const res = await api("POST", "/api/push/subscriptions", { token: user.token, body: { endpoint: `https://push.test/decide/${seq++}`, expirationTime: null, keys } });
  expect(res.status).toBe(201);
}

/**
 * Three members, each with a push subscription; the room has loaded and copied once (so it knows who
 * has an inbox open and who is subscribed) and hands its jobs to `jobs`.
 */
async function threeInAGroup(name = "Team") {
  const [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
  await Promise.all([ann, bob, cid].map(subscribe));
  const chat = await createGroup(ann, [bob, cid], name);
  const jobs = await watchPushes(chat.id);
  // The room's one load from D1 in its life, then a copy.
  expect((await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).status).toBe(200);
  await learnInboxes(chat.id);
  return { ann, bob, cid, chat, jobs };
}

/** Until the room's inbox record of `user` reads `open` in D1 (an inbox writes it as sockets open and close). */
async function inboxRecorded(user: TestUser, open: boolean) {
  await until(async () => (await env.DB.prepare("SELECT inbox_open AS o FROM users WHERE id = ?").bind(user.user.id).first<{ o: number }>())?.o === (open ? 1 : 0), `inbox_open = ${open}`, PACED_MS);
}

describe("who is pushed", () => {
  it("an offline member is pushed the message; one with the chat open is not, nor the sender", async () => {
    const { ann, bob, cid, chat, jobs } = await threeInAGroup("Launch");
    const b = await connect(chat.id, bob.token);
    const sent = await send(chat.id, ann, "hello\nthere");
    expect(pushedTo(jobs)).toEqual([cid.user.id]);
    expect(jobs[0]!.payload).toEqual({
      type: "message",
      chatId: chat.id,
      chatName: "Launch",
      isGroup: true,
      sender: ann.user,
      count: 1,
      messageId: sent.id,
      sentAt: sent.timestamp,
      preview: "hello there",
    });
    expect(pushPayload.safeParse(jobs[0]!.payload).success).toBe(true);
    b.close();
  });

  it("a member without a push subscription is not pushed; once subscribed, from the room's next copy on", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const chat = await createGroup(ann, [bob]);
    const jobs = await watchPushes(chat.id);
    expect((await api("GET", `/api/chats/${chat.id}`, { token: ann.token })).status).toBe(200);
    await learnInboxes(chat.id);
    await send(chat.id, ann, "bob has no browser subscribed");
    // The room waits for its next copy, which may have seen a subscription made since: it has not.
    await learnInboxes(chat.id);
    expect(await pushesWaiting(chat.id)).toBe(false);
    expect(jobs).toEqual([]);

    await subscribe(bob);
    const later = await send(chat.id, ann, "bob subscribed since the last copy");
    expect(jobs).toEqual([]);
    await learnInboxes(chat.id);
    expect(jobs.map((j) => [j.userId, j.payload.messageId, j.payload.count])).toEqual([[bob.user.id, later.id, 1]]);
  });

  it("a direct chat's push names no chat", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    await subscribe(bob);
    const chat = (await api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: bob.user.id } })).body;
    const jobs = await watchPushes(chat.id);
    await learnInboxes(chat.id);
    await send(chat.id, ann, "psst");
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ userId: bob.user.id, payload: { chatName: null, isGroup: false, sender: ann.user } });
  });

  it("a member with an inbox open is in the app: not pushed, until the inbox closes", async () => {
    const { ann, bob, cid, chat, jobs } = await threeInAGroup();
    const inbox = await connectInbox(cid.token);
    await learnInboxes(chat.id);
    await send(chat.id, ann, "while cid looks at the list");
    expect(pushedTo(jobs)).toEqual([bob.user.id]);

    inbox.close();
    await inboxRecorded(cid, false);
    await learnInboxes(chat.id);
    await send(chat.id, ann, "after cid left the app");
    // Bob was pushed a moment ago: his next push waits for his pace; cid's goes at once.
    expect(pushedTo(jobs)).toEqual([bob.user.id, cid.user.id]);
    expect(jobs[1]!.payload.count).toBe(1);
  });

  it("a muted chat pushes nothing, and pushes again once unmuted", async () => {
    const { ann, bob, cid, chat, jobs } = await threeInAGroup();
    expect((await api("PUT", `/api/chats/${chat.id}/mute`, { token: cid.token })).status).toBe(204);
    await send(chat.id, ann, "cid muted");
    expect(pushedTo(jobs)).toEqual([bob.user.id]);
    expect((await api("DELETE", `/api/chats/${chat.id}/mute`, { token: cid.token })).status).toBe(204);
    await send(chat.id, ann, "cid unmuted");
    expect(pushedTo(jobs)).toEqual([bob.user.id, cid.user.id]);
    // Messages while muted are not counted later.
    expect(jobs[1]!.payload.count).toBe(1);
  });

  it("a member who blocks the sender is neither pushed nor counted their messages; others' still are", async () => {
    const { ann, bob, cid, chat, jobs } = await threeInAGroup();
    expect((await api("PUT", `/api/users/${ann.user.id}/block`, { token: cid.token })).status).toBe(204);
    await send(chat.id, ann, "cid blocks ann");
    expect(pushedTo(jobs)).toEqual([bob.user.id]);
    const fromBob = await send(chat.id, bob, "bob writes");
    expect(jobs.filter((j) => j.userId === cid.user.id).map((j) => [j.payload.messageId, j.payload.count, j.payload.sender.id])).toEqual([[fromBob.id, 1, bob.user.id]]);
  });

  it("a removed member is never pushed, not even a push that was waiting for its time", async () => {
    const { ann, bob, cid, chat, jobs } = await threeInAGroup();
    await send(chat.id, ann, "one");
    await send(chat.id, ann, "two: waits for the pace");
    expect(await pushesWaiting(chat.id)).toBe(true);
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${cid.user.id}`, { token: ann.token })).status).toBe(204);
    await send(chat.id, ann, "three: cid is gone");
    await until(async () => !(await pushesWaiting(chat.id)), "the paced pushes", PACED_MS);
    expect(pushedTo(jobs).filter((id) => id === cid.user.id)).toHaveLength(1);
    expect(jobs.filter((j) => j.userId === bob.user.id).map((j) => j.payload.count)).toEqual([1, 2]);
  });

  it("a member who comes back to the chat, or reads it elsewhere, before a waiting push is due is not pushed", async () => {
    const { ann, bob, cid, chat, jobs } = await threeInAGroup();
    await send(chat.id, ann, "first");
    const second = await send(chat.id, ann, "second, waiting");
    const c = await connect(chat.id, cid.token);
    expect((await api("POST", `/api/chats/${chat.id}/read`, { token: bob.token, body: { messageId: second.id } })).status).toBe(204);
    await until(async () => !(await pushesWaiting(chat.id)), "the paced pushes", PACED_MS);
    expect(pushedTo(jobs).sort()).toEqual([bob.user.id, cid.user.id].sort());
    c.close();
  });

  it("the sender's own message drops what waited for them in that chat", async () => {
    const { ann, bob, chat, jobs } = await threeInAGroup();
    await send(chat.id, ann, "one");
    await send(chat.id, ann, "two, waiting for bob's pace");
    await send(chat.id, bob, "bob answers from somewhere");
    await until(async () => !(await pushesWaiting(chat.id)), "the paced pushes", PACED_MS);
    expect(jobs.filter((j) => j.userId === bob.user.id)).toHaveLength(1);
  });
});

describe("pacing", () => {
  it("a burst of 10 messages is at most 3 pushes per member, which count all 10", async () => {
    const { ann, bob, chat, jobs } = await threeInAGroup();
    for (let i = 0; i < 10; i++) await send(chat.id, ann, `burst ${i}`);
    await until(() => jobs.filter((j) => j.userId === bob.user.id).reduce((n, j) => n + j.payload.count, 0) === 10, "pushes counting all 10 messages", PACED_MS);
    const bobs = jobs.filter((j) => j.userId === bob.user.id);
    expect(bobs.length).toBeLessThanOrEqual(3);
    expect(bobs.at(-1)!.payload.preview).toBe("burst 9");
    expect(await pushesWaiting(chat.id)).toBe(false);
  });
});

describe("deciding costs no D1 and never holds the ack", () => {
  it("a room that just woke waits for its first copy to learn who has an inbox open", async () => {
    const [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
    await Promise.all([bob, cid].map(subscribe));
    const chat = await createGroup(ann, [bob, cid]);
    const inbox = await connectInbox(cid.token);
    const jobs = await watchPushes(chat.id);
    expect(await knowsInboxes(chat.id)).toBe(false);
    await send(chat.id, ann, "before the room knows");
    expect(jobs).toEqual([]);
    // The room's first copy (its alarm, about a second after the message) tells it cid is in the app.
    await until(async () => (await knowsInboxes(chat.id)) && !(await pushesWaiting(chat.id)), "the first copy and the waiting pushes", PACED_MS);
    expect(pushedTo(jobs)).toEqual([bob.user.id]);
    inbox.close();
  });

  it("makes no D1 query for a message", async () => {
    const { ann, bob, chat, jobs } = await threeInAGroup();
    const statements = await runInDurableObject(roomStub(chat.id), async (room: ChatRoom) => {
      const own = room as unknown as { d1: D1Database };
      const real = own.d1;
      let count = 0;
      own.d1 = new Proxy(real, { get: (t, p) => (p === "prepare" || p === "batch" ? (count++, Reflect.get(t, p).bind(t)) : Reflect.get(t, p)) });
      for (let i = 0; i < 3; i++) await room.post({ user: ann.user, session: { version: 0, expiresAt: Date.now() + 60_000 } }, `no D1 here ${i}`);
      own.d1 = real;
      return count;
    });
    expect(statements).toBe(0);
    expect(pushedTo(jobs)).toEqual(expect.arrayContaining([bob.user.id]));
  });

  it("a queue held at a gate delays no ack", async () => {
    const { ann, bob, chat } = await threeInAGroup();
    let enqueued = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    await watchPushes(chat.id, () => {
      enqueued++;
      return gate;
    });
    const a = await connect(chat.id, ann.token);
    for (let i = 0; i < 5; i++) a.sendJson("send_message", { content: `m${i}`, clientId: `q${i}` });
    await a.next(ServerEvent.MessageSent, 5);
    expect(enqueued).toBeGreaterThanOrEqual(1);
    expect((await api("GET", `/api/chats/${chat.id}/messages`, { token: bob.token })).body.messages).toHaveLength(5);
    await runInDurableObject(roomStub(chat.id), () => release());
    a.close();
  });
});
