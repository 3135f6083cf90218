/**
 * Web Push on the wire (docs/PROTOCOL.md, "Push notifications"): the routes' bodies and answers, and
 * the payload a push carries to the service worker. Server, typed client and web app share these.
 * The interfaces are written out (not inferred) so that `import type` from here costs a bundle
 * nothing; the zod schemas beside them validate the same shapes at runtime.
 */
import { z } from "zod";
import type { User } from "./models";

export const pushLimits = {
  /** Characters (UTF-16 code units) of a message's text a push's `preview` carries at most. */
  previewMax: 140,
  /** The largest push payload (JSON, UTF-8 bytes, before encryption). */
  payloadMaxBytes: 4096,
  /** The longest endpoint URL a subscription may have. */
  endpointMax: 2048,
  /** At most one push per chat per user this often (a burst's later messages go together at its end). */
  pacingMs: 5000,
} as const;

/** `GET /api/push/vapid-public-key`: the VAPID public key, an uncompressed P-256 point, base64url. */
export interface VapidPublicKey {
  key: string;
}

/** What `PushSubscription.toJSON()` gives a browser, and `POST /api/push/subscriptions` takes. */
export interface PushSubscriptionJson {
  endpoint: string;
  /** ms since the epoch when the push service will drop it, or null (most never expire). */
  expirationTime: number | null;
  keys: { p256dh: string; auth: string };
}

/** `GET /api/push/settings` answers this; `PATCH /api/push/settings` takes and answers it. */
export interface PushSettings {
  /** Whether a push carries the message's text (`preview`); on by default. */
  previews: boolean;
}

export const PushPayloadType = { Message: "message" } as const;

/**
 * What one push carries (JSON, encrypted to the subscription; at most 4 KB). One push stands for
 * `count` messages of one chat, the newest being `messageId`; never a token or a secret.
 */
export interface PushPayload {
  type: typeof PushPayloadType.Message;
  chatId: number;
  /** The group's name; null for a direct chat (show the sender). */
  chatName: string | null;
  isGroup: boolean;
  /** The sender of the newest message. */
  sender: User;
  /** Messages in this chat since the last push to this user for it (at least 1). */
  count: number;
  /** The newest of them. */
  messageId: number;
  /** When the newest was stored (ISO-8601 UTC with milliseconds). */
  sentAt: string;
  /** Its text, at most `pushLimits.previewMax` characters; absent when the user turned previews off (or it has none). */
  preview?: string;
}

// ---- runtime validation ----

const base64url = (bytes: number) => {
  // Unpadded base64url of `bytes` bytes, with the padding a few encoders still add allowed.
  const chars = Math.ceil((bytes * 8) / 6);
  const pad = (4 - (chars % 4)) % 4;
  return new RegExp(`^[A-Za-z0-9_-]{${chars}}={0,${pad}}$`);
};

/**
 * A subscription as a browser sends it. The endpoint must be a URL of `http:` or `https:` here; which
 * of them the server takes (`https:` only, or `http:` on loopback too) is the deployment's
 * (`PUSH_ALLOW_LOOPBACK_HTTP`). `p256dh` is a 65-byte uncompressed P-256 point, `auth` 16 bytes.
 */
export const pushSubscriptionBody = z.object({
  endpoint: z
    .string()
    .max(pushLimits.endpointMax)
    .refine((s) => URL.canParse(s) && ["http:", "https:"].includes(new URL(s).protocol), "must be an https: URL"),
  expirationTime: z.number().nonnegative().nullable().default(null),
  keys: z.object({
    p256dh: z.string().regex(base64url(65), "must be a base64url P-256 public key (65 bytes)").refine((s) => s.startsWith("B"), "must be an uncompressed P-256 point"),
    auth: z.string().regex(base64url(16), "must be 16 bytes of base64url"),
  }),
});
export const pushUnsubscribeBody = z.object({ endpoint: z.string().min(1).max(pushLimits.endpointMax) });
export const pushSettingsBody = z.object({ previews: z.boolean() });

export const pushPayload = z.object({
  type: z.literal(PushPayloadType.Message),
  chatId: z.number().int().positive(),
  chatName: z.string().nullable(),
  isGroup: z.boolean(),
  sender: z.object({ id: z.number().int().positive(), username: z.string() }),
  count: z.number().int().positive(),
  messageId: z.number().int().positive(),
  sentAt: z.string(),
  preview: z.string().max(pushLimits.previewMax).optional(),
});
