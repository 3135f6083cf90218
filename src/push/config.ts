/**
 * The deployment's push configuration: the VAPID key pair and contact (secrets, see README
 * "Deploy"), and whether subscriptions may name a push service on loopback over http: (a var, off
 * in a deployment). Without the three secrets push is off: the key route answers 404 and rooms
 * enqueue nothing.
 */
export interface VapidKeys {
  /** The uncompressed P-256 point, base64url (65 bytes): `k=` and the browser's `applicationServerKey`. */
  publicKey: string;
  /** The private scalar `d`, base64url (32 bytes). */
  privateKey: string;
  /** `mailto:` or `https:`: whom a push service may contact about our traffic (RFC 8292 §2.1). */
  subject: string;
}

export interface PushSecrets {
  VAPID_PUBLIC_KEY?: string;
  VAPID_PRIVATE_KEY?: string;
  VAPID_SUBJECT?: string;
}

const POINT = /^B[A-Za-z0-9_-]{86}$/;
const SCALAR = /^[A-Za-z0-9_-]{43}$/;

/** Why the secrets cannot sign a push (without their values: they never reach a log), or null. */
export function vapidProblem(env: PushSecrets): string | null {
  if (!env.VAPID_PUBLIC_KEY || !env.VAPID_PRIVATE_KEY || !env.VAPID_SUBJECT) return "VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT must all be set";
  if (!POINT.test(env.VAPID_PUBLIC_KEY)) return "VAPID_PUBLIC_KEY must be an uncompressed P-256 point, base64url (87 characters starting with B)";
  if (!SCALAR.test(env.VAPID_PRIVATE_KEY)) return "VAPID_PRIVATE_KEY must be a P-256 private scalar, base64url (43 characters)";
  if (!/^(mailto:.+|https:\/\/.+)$/.test(env.VAPID_SUBJECT)) return "VAPID_SUBJECT must be a mailto: or https: URL";
  return null;
}

/** The keys when push is configured, else null (push is off). */
export function vapidKeys(env: PushSecrets): VapidKeys | null {
  if (vapidProblem(env) !== null) return null;
  return { publicKey: env.VAPID_PUBLIC_KEY!, privateKey: env.VAPID_PRIVATE_KEY!, subject: env.VAPID_SUBJECT! };
}

/** `PUSH_ALLOW_LOOPBACK_HTTP`: exactly "true" turns it on; anything else (unset included) leaves it off. */
export const allowsLoopbackHttp = (value: string | undefined) => value === "true";
