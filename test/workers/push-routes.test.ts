/** The push routes of the contract (docs/PROTOCOL.md, "Push notifications"): answers, validation, sessions. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { SUBSCRIPTIONS_PER_USER } from "../../src/db/push";
import { api, createGroup, register, type TestUser } from "./helpers";
import { newSubscriber } from "../support/push-receiver";

let seq = 0;
const endpoint = (name = "device") => `https://push.test/send/${name}-${Date.now().toString(36)}-${seq++}`;

async function subscription(url = endpoint()) {
  const { keys } = await newSubscriber();
  return { endpoint: url, expirationTime: null, keys };
}

const subscribe = (user: TestUser, body: unknown) => api("POST", "/api/push/subscriptions", { token: user.token, body });

/** The user's subscriptions as D1 has them. */
async function rowsOf(user: TestUser) {
  const { results } = await env.DB.prepare("SELECT endpoint, p256dh, auth, token_version AS tokenVersion FROM push_subscriptions WHERE user_id = ? ORDER BY created_at").bind(user.user.id).all<{ endpoint: string; p256dh: string; auth: string; tokenVersion: number }>();
  return results;
}

describe("the VAPID public key", () => {
  it("is served without a token, as an uncompressed P-256 point in base64url", async () => {
    const res = await api("GET", "/api/push/vapid-public-key");
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ key: env.VAPID_PUBLIC_KEY });
    expect(res.body.key).toMatch(/^B[A-Za-z0-9_-]{86}$/);
  });
});

describe("subscriptions", () => {
  it("201 for a new endpoint, 200 when the same endpoint comes again (its keys replaced)", async () => {
    const ann = await register("ann");
    const first = await subscription();
    expect(await subscribe(ann, first)).toMatchObject({ status: 201, body: null });
    const again = { ...(await subscription(first.endpoint)) };
    expect(await subscribe(ann, again)).toMatchObject({ status: 200, body: null });
    expect(await rowsOf(ann)).toEqual([{ endpoint: first.endpoint, p256dh: again.keys.p256dh, auth: again.keys.auth, tokenVersion: 0 }]);
  });

  it("an endpoint subscribed by another user moves to them", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const sub = await subscription();
    expect((await subscribe(ann, sub)).status).toBe(201);
    expect((await subscribe(bob, sub)).status).toBe(200);
    expect(await rowsOf(ann)).toEqual([]);
    expect((await rowsOf(bob)).map((r) => r.endpoint)).toEqual([sub.endpoint]);
  });

  it("401 without a token, whatever the body", async () => {
    expect(await api("POST", "/api/push/subscriptions", { body: { nonsense: true } })).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    expect((await api("DELETE", "/api/push/subscriptions", { body: { endpoint: endpoint() } })).status).toBe(401);
    expect((await api("GET", "/api/push/settings")).status).toBe(401);
  });

  it("400 for what is not a subscription", async () => {
    const ann = await register("ann");
    const good = await subscription();
    const bad: [string, unknown][] = [
      ["no keys", { endpoint: good.endpoint, expirationTime: null }],
      ["no endpoint", { expirationTime: null, keys: good.keys }],
      ["not a URL", { ...good, endpoint: "push.test/x" }],
      ["http: elsewhere than loopback", { ...good, endpoint: "http://push.test/x" }],
      ["another scheme", { ...good, endpoint: "ftp://push.test/x" }],
      ["credentials", { ...good, endpoint: "https://me:secret@push.test/x" }],
      ["an endpoint too long", { ...good, endpoint: `https://push.test/${"x".repeat(2048)}` }],
      ["p256dh too short", { ...good, keys: { ...good.keys, p256dh: good.keys.p256dh.slice(0, 80) } }],
      ["p256dh compressed", { ...good, keys: { ...good.keys, p256dh: `A${good.keys.p256dh.slice(1)}` } }],
      ["p256dh off the curve", { ...good, keys: { ...good.keys, p256dh: `B${"A".repeat(86)}` } }],
      ["auth of 15 bytes", { ...good, keys: { ...good.keys, auth: "AAAAAAAAAAAAAAAAAAAA" } }],
      ["auth not base64url", { ...good, keys: { ...good.keys, auth: "!!!!!!!!!!!!!!!!!!!!!!" } }],
      ["an expiration past", { ...good, expirationTime: Date.now() - 1000 }],
      ["an expiration of another type", { ...good, expirationTime: "tomorrow" }],
    ];
    for (const [what, body] of bad) {
      const res = await subscribe(ann, body);
      expect(res.status, what).toBe(400);
      expect(res.body, what).toMatchObject({ code: "bad_request", error: expect.any(String) });
    }
    expect((await api("POST", "/api/push/subscriptions", { token: ann.token, raw: "{not json" })).status).toBe(400);
    expect(await rowsOf(ann)).toEqual([]);
  });

  it("takes loopback http: here (the tests turn it on, as npm start does), an expiration to come, and left-out expirationTime", async () => {
    const ann = await register("ann");
    const { keys } = await newSubscriber();
    for (const url of ["http://127.0.0.1:9/push/a", "http://localhost:9/push/b", "http://[::1]:9/push/c"]) expect((await subscribe(ann, { endpoint: url, expirationTime: null, keys })).status, url).toBe(201);
    expect((await subscribe(ann, { endpoint: endpoint(), expirationTime: Date.now() + 86_400_000, keys })).status).toBe(201);
    expect((await subscribe(ann, { endpoint: endpoint(), keys })).status).toBe(201);
  });

  it(`keeps a user's newest ${SUBSCRIPTIONS_PER_USER}`, async () => {
    const ann = await register("ann");
    const urls: string[] = [];
    for (let i = 0; i <= SUBSCRIPTIONS_PER_USER; i++) {
      urls.push(endpoint(`n${i}`));
      expect((await subscribe(ann, await subscription(urls[i]))).status).toBe(201);
      await new Promise((r) => setTimeout(r, 2)); // distinct creation times
    }
    expect((await rowsOf(ann)).map((r) => r.endpoint)).toEqual(urls.slice(1));
  });

  it("DELETE ends the caller's own subscription, 204 also when it is gone or not theirs", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const mine = await subscription();
    const bobs = await subscription();
    await subscribe(ann, mine);
    await subscribe(bob, bobs);
    expect((await api("DELETE", "/api/push/subscriptions", { token: ann.token, body: { endpoint: mine.endpoint } })).status).toBe(204);
    expect((await api("DELETE", "/api/push/subscriptions", { token: ann.token, body: { endpoint: mine.endpoint } })).status).toBe(204);
    expect((await api("DELETE", "/api/push/subscriptions", { token: ann.token, body: { endpoint: bobs.endpoint } })).status).toBe(204);
    expect(await rowsOf(ann)).toEqual([]);
    expect(await rowsOf(bob)).toHaveLength(1);
    expect((await api("DELETE", "/api/push/subscriptions", { token: ann.token, body: {} })).status).toBe(400);
  });

  it("logout ends the session's subscriptions", async () => {
    const ann = await register("ann");
    await subscribe(ann, await subscription());
    await subscribe(ann, await subscription());
    expect(await rowsOf(ann)).toHaveLength(2);
    expect((await api("POST", "/api/auth/logout", { token: ann.token })).status).toBe(204);
    expect(await rowsOf(ann)).toEqual([]);
  });

  it("a password change ends the subscriptions made before it; the new token subscribes again", async () => {
    const ann = await register("ann");
    const device = await subscription();
    await subscribe(ann, device);
    const changed = await api("POST", "/api/auth/password", { token: ann.token, body: { currentPassword: ann.password, newPassword: "a brand new password" } });
    expect(changed.status).toBe(200);
    expect(await rowsOf(ann)).toEqual([]);
    const fresh = { ...ann, token: changed.body.token as string };
    expect((await subscribe(fresh, device)).status).toBe(201);
    expect((await rowsOf(ann)).map((r) => r.tokenVersion)).toEqual([1]);
  });
});

describe("settings", () => {
  it("previews are on until turned off", async () => {
    const ann = await register("ann");
    expect(await api("GET", "/api/push/settings", { token: ann.token })).toMatchObject({ status: 200, body: { previews: true } });
    expect(await api("PATCH", "/api/push/settings", { token: ann.token, body: { previews: false } })).toMatchObject({ status: 200, body: { previews: false } });
    expect(await api("GET", "/api/push/settings", { token: ann.token })).toMatchObject({ status: 200, body: { previews: false } });
    expect(await api("PATCH", "/api/push/settings", { token: ann.token, body: { previews: true } })).toMatchObject({ status: 200, body: { previews: true } });
  });

  it("400 for anything but a boolean", async () => {
    const ann = await register("ann");
    for (const body of [{}, { previews: "no" }, { previews: null }]) expect((await api("PATCH", "/api/push/settings", { token: ann.token, body })).status).toBe(400);
  });
});

describe("mute", () => {
  const chatOf = async (user: TestUser, chatId: number) => (await api("GET", `/api/chats/${chatId}`, { token: user.token })).body;
  const listed = async (user: TestUser, chatId: number) => ((await api("GET", "/api/chats", { token: user.token })).body.chats as { id: number; muted: boolean }[]).find((c) => c.id === chatId);

  it("PUT mutes the chat for the caller alone, DELETE unmutes it; the chat object says so wherever it is sent", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const chat = await createGroup(ann, [bob]);
    expect(chat.muted).toBe(false);
    expect((await api("PUT", `/api/chats/${chat.id}/mute`, { token: bob.token })).status).toBe(204);
    expect((await api("PUT", `/api/chats/${chat.id}/mute`, { token: bob.token })).status).toBe(204);
    expect((await chatOf(bob, chat.id)).muted).toBe(true);
    expect((await listed(bob, chat.id))?.muted).toBe(true);
    expect((await chatOf(ann, chat.id)).muted).toBe(false);
    expect((await listed(ann, chat.id))?.muted).toBe(false);
    expect((await api("DELETE", `/api/chats/${chat.id}/mute`, { token: bob.token })).status).toBe(204);
    expect((await chatOf(bob, chat.id)).muted).toBe(false);
  });

  it("a direct chat opened again answers with the caller's mute", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const open = () => api("POST", "/api/chats", { token: ann.token, body: { type: "direct", userId: bob.user.id } });
    const chat = (await open()).body;
    expect((await api("PUT", `/api/chats/${chat.id}/mute`, { token: ann.token })).status).toBe(204);
    expect(await open()).toMatchObject({ status: 200, body: { id: chat.id, muted: true } });
  });

  it("a member removed and added again starts unmuted", async () => {
    const [ann, bob] = await Promise.all([register("ann"), register("bob")]);
    const chat = await createGroup(ann, [bob]);
    await api("PUT", `/api/chats/${chat.id}/mute`, { token: bob.token });
    expect((await api("DELETE", `/api/chats/${chat.id}/members/${bob.user.id}`, { token: ann.token })).status).toBe(204);
    expect((await api("POST", `/api/chats/${chat.id}/members`, { token: ann.token, body: { userId: bob.user.id } })).status).toBe(201);
    expect((await chatOf(bob, chat.id)).muted).toBe(false);
  });

  it("takes the chat routes' checks: 401, 400, 404, 403", async () => {
    const [ann, bob, eve] = await Promise.all([register("ann"), register("bob"), register("eve")]);
    const chat = await createGroup(ann, [bob]);
    expect((await api("PUT", `/api/chats/${chat.id}/mute`)).status).toBe(401);
    expect((await api("PUT", "/api/chats/abc/mute", { token: eve.token })).status).toBe(400);
    expect((await api("PUT", "/api/chats/999999999/mute", { token: eve.token })).status).toBe(404);
    expect(await api("PUT", `/api/chats/${chat.id}/mute`, { token: eve.token })).toMatchObject({ status: 403, body: { code: "forbidden" } });
    expect((await api("DELETE", `/api/chats/${chat.id}/mute`, { token: eve.token })).status).toBe(403);
  });
});
