/**
 * Push notifications' routes (docs/PROTOCOL.md, "Push notifications"): the VAPID public key (no
 * token), the caller's subscriptions and previews setting (D1), and per-chat mute (the chat's room).
 */
import { Hono, type Context } from "hono";
import { fromBase64url } from "../../auth/base64url";
import { deleteSubscription, pushPreviews, saveSubscription, setPushPreviews } from "../../db/push";
import { ErrorCode } from "../../protocol/errors";
import { pushSettingsBody, pushSubscriptionBody, pushUnsubscribeBody, type PushSettings, type VapidPublicKey } from "../../protocol/push";
import { chatParams } from "../../protocol/schemas";
import { allowsLoopbackHttp, vapidKeys } from "../../push/config";
import { endpointRefusal } from "../../push/endpoint";
import type { AppEnv } from "../env";
import { ApiError, badRequest } from "../errors";
import { pushSettingsAnswer, vapidKeyAnswer } from "../openapi/answers";
import { describe, memberOnly, type RouteDoc } from "../openapi/describe";
import { existingRoom, unwrap } from "../rooms";
import { validate } from "../validate";

const docs = {
  key: {
    summary: "The VAPID public key",
    description: "What a browser passes to `pushManager.subscribe({ applicationServerKey })`: an uncompressed P-256 point, base64url.",
    tag: "push",
    access: "public",
    noStore: true,
    ok: { 200: ["the key", vapidKeyAnswer] },
    errors: { not_found: "push notifications are not configured on this server" },
  },
  subscribe: {
    summary: "Subscribe this browser to push notifications",
    description:
      "The body is the browser's `PushSubscription.toJSON()`. The endpoint must be an `https:` URL (a deployment may also allow `http:` on loopback). The subscription belongs to the caller's session: logout and a password change end it.",
    tag: "push",
    access: "bearer",
    ok: { 201: ["subscribed"], 200: ["the endpoint was subscribed already; its keys are replaced"] },
    errors: { bad_request: "not a subscription: a malformed or refused endpoint, keys that are not a P-256 point and 16 bytes, an expiration in the past" },
  },
  unsubscribe: {
    summary: "End one of the caller's subscriptions",
    tag: "push",
    access: "bearer",
    ok: { 204: ["no longer subscribed (also when it was not)"] },
    errors: { bad_request: "no endpoint" },
  },
  settings: { summary: "The caller's push settings", tag: "push", access: "bearer", ok: { 200: ["the settings", pushSettingsAnswer] } },
  setSettings: {
    summary: "Change the caller's push settings",
    description: "`previews`: whether a push carries the message's text.",
    tag: "push",
    access: "bearer",
    ok: { 200: ["the settings now", pushSettingsAnswer] },
    errors: { bad_request: "invalid body" },
  },
  mute: {
    summary: "Mute a chat: its messages send the caller no push",
    tag: "push",
    access: "bearer",
    ok: { 204: ["muted"] },
    errors: memberOnly,
  },
  unmute: {
    summary: "Unmute a chat",
    tag: "push",
    access: "bearer",
    ok: { 204: ["not muted"] },
    errors: memberOnly,
  },
} satisfies Record<string, RouteDoc>;

/** Whether a base64url string is a point on P-256 (WebCrypto refuses to import one that is not). */
async function isP256Point(p256dh: string): Promise<boolean> {
  try {
    await crypto.subtle.importKey("raw", fromBase64url(p256dh.replace(/=+$/, "")), { name: "ECDH", namedCurve: "P-256" }, false, []);
    return true;
  } catch {
    return false;
  }
}

/** `GET /api/push/vapid-public-key`, mounted before the token check. */
export const pushKeyRoutes = new Hono<AppEnv>().get("/vapid-public-key", describe(docs.key), (c) => {
  const keys = vapidKeys(c.env);
  if (!keys) throw new ApiError(ErrorCode.NotFound, "push notifications are not configured on this server");
  const body: VapidPublicKey = { key: keys.publicKey };
  return c.json(body);
});

export const pushRoutes = new Hono<AppEnv>()
  .post("/subscriptions", describe(docs.subscribe), validate("json", pushSubscriptionBody), async (c) => {
    const subscription = c.req.valid("json");
    const refused = endpointRefusal(subscription.endpoint, allowsLoopbackHttp(c.env.PUSH_ALLOW_LOOPBACK_HTTP));
    if (refused) throw badRequest(`invalid json: endpoint: ${refused}`);
    if (subscription.expirationTime !== null && subscription.expirationTime <= Date.now()) throw badRequest("invalid json: expirationTime: the subscription has expired");
    if (!(await isP256Point(subscription.keys.p256dh))) throw badRequest("invalid json: keys.p256dh: not a point on P-256");
    // The primary: the session's subscriptions are ended there by a logout, which must not miss this row.
    const saved = await saveSubscription(c.get("primary"), c.get("user").id, c.get("session").version, subscription);
    return c.body(null, saved === "created" ? 201 : 200);
  })
  .delete("/subscriptions", describe(docs.unsubscribe), validate("json", pushUnsubscribeBody), async (c) => {
    await deleteSubscription(c.get("primary"), c.get("user").id, c.req.valid("json").endpoint);
    return c.body(null, 204);
  })
  // The primary for both: a setting just changed on another device is the caller's own write.
  .get("/settings", describe(docs.settings), async (c) => {
    const body: PushSettings = { previews: await pushPreviews(c.get("primary"), c.get("user").id) };
    return c.json(body);
  })
  .patch("/settings", describe(docs.setSettings), validate("json", pushSettingsBody), async (c) => {
    const { previews } = c.req.valid("json");
    await setPushPreviews(c.get("primary"), c.get("user").id, previews);
    const body: PushSettings = { previews };
    return c.json(body);
  });

/** The chat's room records a mute (it alone decides who is pushed). */
async function setMuted(c: Context<AppEnv>, chatId: number, muted: boolean) {
  unwrap(await (await existingRoom(c, chatId)).setMuted(c.get("user"), muted));
  return c.body(null, 204);
}

/** `PUT` / `DELETE /api/chats/:chatId/mute`. */
export const muteRoutes = new Hono<AppEnv>()
  .put("/:chatId/mute", describe(docs.mute), validate("param", chatParams), (c) => setMuted(c, c.req.valid("param").chatId, true))
  .delete("/:chatId/mute", describe(docs.unmute), validate("param", chatParams), (c) => setMuted(c, c.req.valid("param").chatId, false));
