/**
 * The queue consumer (src/push/deliver.ts) against a push service of the test's own: it checks each
 * push's VAPID token and headers and decrypts the body with the subscriber's keys, then answers as
 * told (201, 404, 410, 429 with Retry-After, 5xx, no answer). Batches are built as the queue hands
 * them over (`createMessageBatch`), and `getQueueResult` says what was acked and retried.
 */
import { createExecutionContext, createMessageBatch, env, getQueueResult } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import worker from "../../src/index";
import type { PushPayload } from "../../src/protocol/push";
import { deliverPushes } from "../../src/push/deliver";
import { PUSH_TTL_SECONDS, type PushJob } from "../../src/push/job";
import { backoffSeconds } from "../../src/push/retry";
import { decryptPush, newSubscriber, verifyVapid, type Subscriber } from "../support/push-receiver";
import { api, register, type TestUser } from "./helpers";

interface Received {
  endpoint: string;
  headers: Record<string, string>;
  payload: PushPayload;
}

/** A push service: verifies and decrypts every push, records it, answers what `answer` says for its endpoint. */
function pushService(subscribers: Map<string, Subscriber>, answer: (endpoint: string) => Response | "no answer" = () => new Response(null, { status: 201 })) {
  const received: Received[] = [];
  const fetcher = async (endpoint: string, init: RequestInit) => {
    const headers = Object.fromEntries(new Headers(init.headers).entries());
    await verifyVapid(headers["authorization"] ?? null, endpoint);
    const subscriber = subscribers.get(endpoint);
    if (!subscriber) throw new Error(`a push to an endpoint nobody subscribed: ${endpoint}`);
    const { plaintext } = await decryptPush(new Uint8Array(init.body as Uint8Array), subscriber);
    received.push({ endpoint, headers, payload: JSON.parse(plaintext) });
    const reply = answer(endpoint);
    if (reply === "no answer") throw new TypeError("fetch failed: connection refused");
    return reply;
  };
  return { received, fetcher };
}

let seq = 0;
/** `user` subscribes a new browser; its keys are remembered in `subscribers`. */
async function subscribeBrowser(user: TestUser, subscribers: Map<string, Subscriber>, name = "b") {
  const subscriber = await newSubscriber();
  const endpoint = `https://push.test/send/${name}-${user.user.id}-${seq++}`;
  const res = await api("POST", "/api/push/subscriptions", { token: user.token, body: { endpoint, expirationTime: null, keys: subscriber.keys } });
  expect(res.status).toBe(201);
  subscribers.set(endpoint, subscriber);
  return endpoint;
}

function payloadFor(sender: TestUser, overrides: Partial<PushPayload> = {}): PushPayload {
  return { type: "message", chatId: 4242, chatName: "Team", isGroup: true, sender: sender.user, count: 2, messageId: 17, sentAt: new Date().toISOString(), preview: "see you at 5", ...overrides };
}

/** One batch of jobs as the queue delivers it (`attempts`: how many times each was delivered, this time included). */
function batchOf(jobs: PushJob[], attempts = 1) {
  return createMessageBatch<PushJob>("edge-chat-push", jobs.map((body, i) => ({ id: `msg-${i}`, timestamp: new Date(), attempts, body })));
}

/**
 * Runs the consumer on `jobs` with a recorded queue for split-off retries: what the queue made of it,
 * and each retry's delay (`getQueueResult` records that a message was retried, not after how long).
 */
async function deliver(jobs: PushJob[], fetcher: (url: string, init: RequestInit) => Promise<Response>, attempts = 1) {
  const batch = batchOf(jobs, attempts);
  const delays: Record<string, number | undefined> = {};
  for (const message of batch.messages) {
    const retry = message.retry.bind(message);
    message.retry = (options) => {
      delays[message.id] = options?.delaySeconds;
      retry(options);
    };
  }
  const ctx = createExecutionContext();
  const requeued: MessageSendRequest<PushJob>[] = [];
  const queue = { sendBatch: async (messages: Iterable<MessageSendRequest<PushJob>>) => void requeued.push(...messages) };
  await deliverPushes(batch, { ...env, PUSH_QUEUE: queue as unknown as Queue }, fetcher);
  return { result: await getQueueResult(batch, ctx), requeued, delays };
}

const endpointsOf = async (user: TestUser) =>
  (await env.DB.prepare("SELECT endpoint FROM push_subscriptions WHERE user_id = ? ORDER BY endpoint").bind(user.user.id).all<{ endpoint: string }>()).results.map((r) => r.endpoint);

afterEach(() => vi.unstubAllGlobals());

describe("the queue consumer", () => {
  it("sends each of the user's browsers the payload, encrypted to it, signed, with TTL, Urgency and Topic", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const subscribers = new Map<string, Subscriber>();
    const phone = await subscribeBrowser(bob, subscribers, "phone");
    const laptop = await subscribeBrowser(bob, subscribers, "laptop");
    const service = pushService(subscribers);
    const payload = payloadFor(ann);
    const { result } = await deliver([{ userId: bob.user.id, payload }], service.fetcher);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(result.retryMessages).toEqual([]);
    expect(service.received.map((r) => r.endpoint).sort()).toEqual([phone, laptop].sort());
    for (const push of service.received) {
      expect(push.payload).toEqual(payload);
      expect(push.headers).toMatchObject({ "content-encoding": "aes128gcm", "content-type": "application/octet-stream", urgency: "normal" });
      expect(Number(push.headers["ttl"])).toBeGreaterThan(PUSH_TTL_SECONDS - 60);
      expect(Number(push.headers["ttl"])).toBeLessThanOrEqual(PUSH_TTL_SECONDS);
    }
  });

  it("names each user's chat by an opaque Topic: one per user and chat, shared by no other member", async () => {
    const [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
    const subscribers = new Map<string, Subscriber>();
    const [phone, laptop] = [await subscribeBrowser(bob, subscribers, "phone"), await subscribeBrowser(bob, subscribers, "laptop")];
    const cids = await subscribeBrowser(cid, subscribers);
    const service = pushService(subscribers);
    const jobs = [
      { userId: bob.user.id, payload: payloadFor(ann, { chatId: 4242 }) },
      { userId: cid.user.id, payload: payloadFor(ann, { chatId: 4242 }) },
    ];
    await deliver(jobs, service.fetcher);
    await deliver([{ userId: bob.user.id, payload: payloadFor(ann, { chatId: 4243 }) }, jobs[0]!], service.fetcher);
    const topic = (endpoint: string, chatId: number) => [...new Set(service.received.filter((r) => r.endpoint === endpoint && r.payload.chatId === chatId).map((r) => r.headers["topic"]))];
    const bobs = topic(phone, 4242);
    expect(bobs).toHaveLength(1);
    expect(bobs[0]).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(bobs[0]).not.toContain("4242");
    expect(topic(laptop, 4242)).toEqual(bobs);
    expect(topic(cids, 4242)).toHaveLength(1);
    expect(topic(cids, 4242)).not.toEqual(bobs);
    expect(topic(phone, 4243)).toHaveLength(1);
    expect(topic(phone, 4243)).not.toEqual(bobs);
  });

  it("leaves the preview out for a user who turned previews off", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const subscribers = new Map<string, Subscriber>();
    await subscribeBrowser(bob, subscribers);
    expect((await api("PATCH", "/api/push/settings", { token: bob.token, body: { previews: false } })).status).toBe(200);
    const service = pushService(subscribers);
    const payload = payloadFor(ann);
    const { preview: _, ...withoutPreview } = payload;
    await deliver([{ userId: bob.user.id, payload }], service.fetcher);
    expect(service.received.map((r) => r.payload)).toEqual([withoutPreview]);
  });

  it("404 and 410 delete the subscription at once", async () => {
    const [ann, bob, cid] = await Promise.all([register("ann"), register("bob"), register("cid")]);
    const subscribers = new Map<string, Subscriber>();
    const gone = await subscribeBrowser(bob, subscribers, "gone");
    const kept = await subscribeBrowser(bob, subscribers, "kept");
    const missing = await subscribeBrowser(cid, subscribers, "missing");
    const service = pushService(subscribers, (url) => new Response(null, { status: url === gone ? 410 : url === missing ? 404 : 201 }));
    const { result } = await deliver([{ userId: bob.user.id, payload: payloadFor(ann) }, { userId: cid.user.id, payload: payloadFor(ann) }], service.fetcher);
    expect(result.explicitAcks.sort()).toEqual(["msg-0", "msg-1"]);
    expect(result.retryMessages).toEqual([]);
    expect(await endpointsOf(bob)).toEqual([kept]);
    expect(await endpointsOf(cid)).toEqual([]);
  });

  it("429 and 5xx are retried after the service's Retry-After (seconds or a date), else after the backoff", async () => {
    const [ann, bob, cid, dan] = await Promise.all([register("ann"), register("bob"), register("cid"), register("dan")]);
    const subscribers = new Map<string, Subscriber>();
    const slow = await subscribeBrowser(bob, subscribers);
    const down = await subscribeBrowser(cid, subscribers);
    const dated = await subscribeBrowser(dan, subscribers);
    const inThirty = new Date(Date.now() + 30_000).toUTCString();
    const service = pushService(subscribers, (url) =>
      url === slow ? new Response(null, { status: 429, headers: { "Retry-After": "7" } }) : url === dated ? new Response(null, { status: 503, headers: { "Retry-After": inThirty } }) : new Response(null, { status: 502 }),
    );
    const jobs = [bob, cid, dan].map((u) => ({ userId: u.user.id, payload: payloadFor(ann) }));
    const { result, delays } = await deliver(jobs, service.fetcher, 3);
    expect(result.retryMessages.map((r) => r.msgId).sort()).toEqual(["msg-0", "msg-1", "msg-2"]);
    expect(delays["msg-0"]).toBe(7);
    expect(delays["msg-1"]).toBe(backoffSeconds(3));
    expect(delays["msg-2"]).toBeGreaterThanOrEqual(29);
    expect(delays["msg-2"]).toBeLessThanOrEqual(31);
    expect(result.explicitAcks).toEqual([]);
    // Nothing is deleted for a service that is only busy or down.
    expect(await endpointsOf(bob)).toEqual([slow]);
    expect(await endpointsOf(cid)).toEqual([down]);
  });

  it("a push service that does not answer is retried", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const subscribers = new Map<string, Subscriber>();
    await subscribeBrowser(bob, subscribers);
    const service = pushService(subscribers, () => "no answer");
    const { result, delays } = await deliver([{ userId: bob.user.id, payload: payloadFor(ann) }], service.fetcher);
    expect(result.retryMessages).toEqual([{ msgId: "msg-0" }]);
    expect(delays).toEqual({ "msg-0": backoffSeconds(1) });
  });

  it("a push that reached one browser and not another retries only the other, as a job of its own", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const subscribers = new Map<string, Subscriber>();
    await subscribeBrowser(bob, subscribers, "ok");
    const busy = await subscribeBrowser(bob, subscribers, "busy");
    const service = pushService(subscribers, (url) => (url === busy ? new Response(null, { status: 429, headers: { "Retry-After": "12" } }) : new Response(null, { status: 201 })));
    const payload = payloadFor(ann);
    const { result, requeued } = await deliver([{ userId: bob.user.id, payload }], service.fetcher);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(requeued).toEqual([{ body: { userId: bob.user.id, payload, endpoint: busy }, contentType: "json", delaySeconds: 12 }]);

    // That job, delivered later, goes to that browser alone.
    service.received.length = 0;
    const again = pushService(subscribers);
    await deliver([requeued[0]!.body], again.fetcher);
    expect(again.received.map((r) => r.endpoint)).toEqual([busy]);
  });

  it("never sends to a subscription of a session that ended, and deletes it", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const subscribers = new Map<string, Subscriber>();
    const stale = await subscribeBrowser(bob, subscribers);
    // A subscribe that raced a logout: its row outlived the logout's delete.
    await env.DB.prepare("UPDATE users SET token_version = token_version + 1 WHERE id = ?").bind(bob.user.id).run();
    const service = pushService(subscribers);
    const { result } = await deliver([{ userId: bob.user.id, payload: payloadFor(ann) }], service.fetcher);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(service.received).toEqual([]);
    expect(await endpointsOf(bob)).not.toContain(stale);
  });

  it("drops a push whose TTL ran out while it was retried", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const subscribers = new Map<string, Subscriber>();
    await subscribeBrowser(bob, subscribers);
    const service = pushService(subscribers);
    const old = payloadFor(ann, { sentAt: new Date(Date.now() - (PUSH_TTL_SECONDS + 60) * 1000).toISOString() });
    const { result } = await deliver([{ userId: bob.user.id, payload: old }], service.fetcher, 4);
    expect(result.explicitAcks).toEqual(["msg-0"]);
    expect(service.received).toEqual([]);
  });

  it("the Worker's queue() export is the consumer", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const subscribers = new Map<string, Subscriber>();
    const endpoint = await subscribeBrowser(bob, subscribers);
    const service = pushService(subscribers);
    vi.stubGlobal("fetch", (url: string, init: RequestInit) => (url === endpoint ? service.fetcher(url, init) : Promise.reject(new Error("unexpected fetch"))));
    const batch = batchOf([{ userId: bob.user.id, payload: payloadFor(ann) }]);
    const ctx = createExecutionContext();
    await worker.queue(batch, env);
    expect((await getQueueResult(batch, ctx)).explicitAcks).toEqual(["msg-0"]);
    expect(service.received.map((r) => r.endpoint)).toEqual([endpoint]);
  });
});
