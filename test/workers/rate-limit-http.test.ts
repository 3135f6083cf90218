/**
 * The per-user, per-chat message rate limit as HTTP posts meet it (`POST /api/chats/:id/messages`):
 * a token bucket of MESSAGE_BURST tokens refilled at MESSAGE_RATE_PER_SECOND, shared with socket
 * sends. The tests read the values the Worker runs with (wrangler.toml's vars).
 *
 * Timing: a fresh bucket always allows exactly `burst` posts at once, so those are asserted exactly.
 * How many of the posts after them still get through depends on how long the run took (one token
 * per 1/rate seconds), so those are bounded by the elapsed time measured around the posts.
 */
import { env } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { ClientEvent, ServerEvent } from "../../src/protocol/events";
import { ErrorCode } from "../../src/protocol/errors";
import type { Chat, Message } from "../../src/protocol/models";
import { api, connect, createGroup, register, type TestUser } from "./helpers";

const rate = Number(env.MESSAGE_RATE_PER_SECOND);
const burst = Number(env.MESSAGE_BURST);

let ann: TestUser, bob: TestUser, cid: TestUser;
beforeAll(async () => {
  [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
});

let tags = 0;
/** A tag unique in this file, for message contents and client ids. */
const tag = (who: TestUser) => `${who.user.username}-${tags++}`;

const post = (chat: Chat, user: TestUser, content: string, clientId: string) =>
  api("POST", `/api/chats/${chat.id}/messages`, { token: user.token, body: { content, clientId } });

interface Attempt {
  content: string;
  clientId: string;
  res: Awaited<ReturnType<typeof api>>;
}

/** `count` posts sent all at once, with distinct contents and client ids. */
async function postMany(chat: Chat, user: TestUser, count: number): Promise<Attempt[]> {
  const t = tag(user);
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const content = `${t} m${i}`;
      const clientId = `${t}-c${i}`;
      return { content, clientId, res: await post(chat, user, content, clientId) };
    }),
  );
}

/** Tokens a bucket can have handed out over `ms`, starting full. */
const mostAccepted = (ms: number) => Math.floor(burst + (ms / 1000) * rate);

/**
 * Spends a fresh bucket: `burst` posts at once (all accepted), then one post at a time until one is
 * refused. Returns every attempt, the refused one last, and the time they took.
 */
async function exhaust(chat: Chat, user: TestUser) {
  const started = Date.now();
  const attempts = await postMany(chat, user, burst);
  for (const a of attempts) expect(a.res.status, JSON.stringify(a.res.body)).toBe(201);
  const t = tag(user);
  for (let i = 0; i < 3 * burst; i++) {
    const content = `${t} extra${i}`;
    const clientId = `${t}-x${i}`;
    const attempt = { content, clientId, res: await post(chat, user, content, clientId) };
    attempts.push(attempt);
    if (attempt.res.status !== 201) break;
  }
  const elapsedMs = Date.now() - started;
  const refused = attempts.at(-1)!;
  expect(refused.res.status).toBe(429);
  const accepted = attempts.filter((a) => a.res.status === 201);
  expect(accepted.length).toBeLessThanOrEqual(mostAccepted(elapsedMs));
  return { attempts, accepted, refused, elapsedMs };
}

const history = async (chat: Chat, user: TestUser): Promise<Message[]> => {
  const res = await api("GET", `/api/chats/${chat.id}/messages?limit=100`, { token: user.token });
  expect(res.status).toBe(200);
  return res.body.messages;
};

describe("HTTP post rate limit", () => {
  it("runs with wrangler.toml's limit: 10 a second, bursts of 20", () => {
    expect({ rate, burst }).toEqual({ rate: 10, burst: 20 });
  });

  it("accepts a burst, then answers 429 rate_limited with Retry-After and stores nothing refused", async () => {
    const chat = await createGroup(ann, [bob], "Burst");
    const { attempts, accepted, refused } = await exhaust(chat, bob);
    expect(accepted.length).toBeGreaterThanOrEqual(burst);

    expect(refused.res.body).toEqual({ error: expect.any(String), code: ErrorCode.RateLimited });
    const retryAfter = refused.res.headers.get("Retry-After");
    expect(retryAfter).toMatch(/^[1-9][0-9]*$/);
    // One token is at most 1/rate seconds away.
    expect(Number(retryAfter)).toBeLessThanOrEqual(Math.ceil(1 / rate));

    // More posts right away are refused too, each with the same answer (the bucket is still empty:
    // however long these took, they are fewer than the tokens that time could have refilled).
    const started = Date.now();
    const more = await postMany(chat, bob, 5);
    const moreAccepted = more.filter((a) => a.res.status === 201).length;
    expect(moreAccepted).toBeLessThanOrEqual(Math.floor(((Date.now() - started) / 1000) * rate) + 1);
    for (const a of more.filter((m) => m.res.status !== 201)) {
      expect(a.res.status).toBe(429);
      expect(a.res.body).toEqual({ error: expect.any(String), code: ErrorCode.RateLimited });
      expect(a.res.headers.get("Retry-After")).toMatch(/^[1-9][0-9]*$/);
    }

    // Stored: exactly the accepted posts, as acknowledged; none of the refused ones.
    const all = [...attempts, ...more];
    const stored = await history(chat, ann);
    const acknowledged = all.filter((a) => a.res.status === 201).map((a) => a.res.body as Message);
    expect(stored).toEqual([...acknowledged].sort((x, y) => x.id - y.id));
    expect(stored.map((m) => m.content).sort()).toEqual(all.filter((a) => a.res.status === 201).map((a) => a.content).sort());
    const refusedContents = new Set(all.filter((a) => a.res.status === 429).map((a) => a.content));
    expect(refusedContents.size).toBeGreaterThan(0);
    expect(stored.filter((m) => refusedContents.has(m.content))).toEqual([]);
    expect(stored.every((m) => m.sender.id === bob.user.id)).toBe(true);
  });

  it("lets the limited user post again after Retry-After", async () => {
    const chat = await createGroup(ann, [bob], "Retry");
    const { refused } = await exhaust(chat, bob);
    const seconds = Number(refused.res.headers.get("Retry-After"));
    expect(seconds).toBeGreaterThanOrEqual(1);
    expect(seconds).toBeLessThanOrEqual(Math.ceil(1 / rate));
    await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
    const again = await post(chat, bob, "after the wait", `${tag(bob)}-again`);
    expect(again.status).toBe(201);
    expect((await history(chat, bob)).at(-1)).toEqual(again.body);
  });

  it("limits each user separately: others in the chat, and the same user in another chat, still post a full burst", async () => {
    const chat = await createGroup(ann, [bob, cid], "Shared");
    const other = await createGroup(cid, [bob], "Other");
    await exhaust(chat, bob);
    // Right after bob's refusal: a limit per chat (not per user) would refuse nearly all of these.
    const [annPosts, cidPosts, bobElsewhere] = await Promise.all([postMany(chat, ann, burst), postMany(chat, cid, burst), postMany(other, bob, burst)]);
    for (const a of [...annPosts, ...cidPosts, ...bobElsewhere]) expect(a.res.status, JSON.stringify(a.res.body)).toBe(201);

    const stored = await history(chat, ann);
    for (const [user, posts] of [
      [ann, annPosts],
      [cid, cidPosts],
    ] as const) {
      expect(stored.filter((m) => m.sender.id === user.user.id).map((m) => m.content).sort()).toEqual(posts.map((p) => p.content).sort());
    }
    const storedElsewhere = await history(other, cid);
    expect(storedElsewhere.map((m) => m.content).sort()).toEqual(bobElsewhere.map((p) => p.content).sort());
  });

  it("shares the bucket with socket sends", async () => {
    const chat = await createGroup(ann, [bob], "Both ways");
    const socket = await connect(chat.id, bob.token);
    try {
      const started = Date.now();
      const t = tag(bob);
      for (let i = 0; i < burst; i++) socket.sendJson(ClientEvent.SendMessage, { content: `${t} ws${i}`, clientId: `${t}-ws${i}` });
      await socket.until((s) => s.of(ServerEvent.MessageSent).length + s.of(ServerEvent.Error).length === burst, "answers to the socket burst");
      expect(socket.of(ServerEvent.Error)).toEqual([]);
      // The socket spent the bucket: HTTP posts are refused as soon as the refill runs out.
      let accepted = 0;
      let res: Awaited<ReturnType<typeof api>> | undefined;
      for (let i = 0; i < 3 * burst; i++) {
        res = await post(chat, bob, `${t} http${i}`, `${t}-http${i}`);
        if (res.status !== 201) break;
        accepted++;
      }
      expect(res!.status).toBe(429);
      expect(res!.body).toEqual({ error: expect.any(String), code: ErrorCode.RateLimited });
      expect(burst + accepted).toBeLessThanOrEqual(mostAccepted(Date.now() - started));
    } finally {
      socket.close();
    }
  });
});
