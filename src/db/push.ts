/**
 * Push subscriptions and the previews setting in D1. The routes write them (src/http/routes/push.ts);
 * the queue consumer reads them once per batch and deletes those a push service says are gone
 * (src/push/deliver.ts). Rooms never read them: who is pushed is decided without D1.
 */
import { and, count, desc, eq, inArray, lt, notInArray, sql } from "drizzle-orm";
import type { PushSubscriptionJson } from "../protocol/push";
import type { Database } from "./client";
import { pushSubscriptions, users } from "./schema";

/** Subscriptions kept per user: a further one replaces their oldest (one per browser is the norm). */
export const SUBSCRIPTIONS_PER_USER = 10;

/** Rows per `IN (…)` list: D1 binds at most 100 parameters per statement. */
const IN_LIST_MAX = 90;

function chunks<T>(items: readonly T[], size = IN_LIST_MAX): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Records `userId`'s subscription, made in the session of `tokenVersion`. The same endpoint again
 * replaces the row (whoever had it: an endpoint is one browser's, and that browser subscribed now).
 * One batch, one transaction: whether it existed, the write, and the per-user cap.
 */
export async function saveSubscription(db: Database, userId: number, tokenVersion: number, sub: PushSubscriptionJson, now = Date.now()): Promise<"created" | "replaced"> {
  const row = { endpoint: sub.endpoint, userId, p256dh: sub.keys.p256dh, auth: sub.keys.auth, expiresAt: sub.expirationTime === null ? null : Math.floor(sub.expirationTime), tokenVersion, createdAt: now };
  const newest = db
    .select({ endpoint: pushSubscriptions.endpoint })
    .from(pushSubscriptions)
    .where(eq(pushSubscriptions.userId, userId))
    .orderBy(desc(pushSubscriptions.createdAt))
    .limit(SUBSCRIPTIONS_PER_USER);
  const [existing] = await db.batch([
    db.select({ n: count() }).from(pushSubscriptions).where(eq(pushSubscriptions.endpoint, sub.endpoint)),
    db.insert(pushSubscriptions).values(row).onConflictDoUpdate({ target: pushSubscriptions.endpoint, set: row }),
    db.delete(pushSubscriptions).where(and(eq(pushSubscriptions.userId, userId), notInArray(pushSubscriptions.endpoint, newest))),
  ]);
  return existing[0]!.n > 0 ? "replaced" : "created";
}

/** Ends one of the user's subscriptions; nothing when it is gone already or is not theirs. */
export async function deleteSubscription(db: Database, userId: number, endpoint: string): Promise<void> {
  await db.delete(pushSubscriptions).where(and(eq(pushSubscriptions.userId, userId), eq(pushSubscriptions.endpoint, endpoint)));
}

/** Logout or a password change: the subscriptions of every session before `version` end. */
export async function endSubscriptionsBefore(db: Database, userId: number, version: number): Promise<void> {
  await db.delete(pushSubscriptions).where(and(eq(pushSubscriptions.userId, userId), lt(pushSubscriptions.tokenVersion, version)));
}

/** Subscriptions a push service answered 404/410 for (or that expired): gone for good. */
export async function deleteSubscriptions(db: Database, endpoints: readonly string[]): Promise<void> {
  const [first, ...rest] = chunks(endpoints).map((list) => db.delete(pushSubscriptions).where(inArray(pushSubscriptions.endpoint, list)));
  if (first) await db.batch([first, ...rest]);
}

export async function pushPreviews(db: Database, userId: number): Promise<boolean> {
  const [row] = await db.select({ previews: users.pushPreviews }).from(users).where(eq(users.id, userId)).limit(1);
  return row?.previews ?? true;
}

export async function setPushPreviews(db: Database, userId: number, previews: boolean): Promise<void> {
  await db.update(users).set({ pushPreviews: previews }).where(eq(users.id, userId));
}

/** A subscription as the consumer sends to it, with its owner's setting and whether their session still stands. */
export interface Recipient {
  endpoint: string;
  userId: number;
  p256dh: string;
  auth: string;
  expiresAt: number | null;
  previews: boolean;
  /** False once the session it was made in ended (a logout racing the subscribe): never sent to. */
  current: boolean;
}

/** Every subscription of these users: one query per 90 users, in one batch. */
export async function recipientsOf(db: Database, userIds: readonly number[]): Promise<Recipient[]> {
  const query = (list: number[]) =>
    db
      .select({
        endpoint: pushSubscriptions.endpoint,
        userId: pushSubscriptions.userId,
        p256dh: pushSubscriptions.p256dh,
        auth: pushSubscriptions.auth,
        expiresAt: pushSubscriptions.expiresAt,
        // Compared in SQL: D1 answers a batch's rows by column name, and both tables name it token_version.
        current: sql<number>`${pushSubscriptions.tokenVersion} >= ${users.tokenVersion}`.as("current_session"),
        previews: users.pushPreviews,
      })
      .from(pushSubscriptions)
      .innerJoin(users, eq(users.id, pushSubscriptions.userId))
      .where(inArray(pushSubscriptions.userId, list));
  const [first, ...rest] = chunks([...new Set(userIds)]).map(query);
  if (!first) return [];
  const results = await db.batch([first, ...rest]);
  return results.flat().map((r) => ({ ...r, current: Boolean(r.current) }));
}
