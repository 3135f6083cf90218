/**
 * Brute-force protection for login: failed attempts are counted per username and per client IP in
 * D1 (shared by every isolate and region), in fixed windows. Over the limit, login answers 429
 * with Retry-After before any password is checked.
 *
 * Rows expire: a row whose window ended counts for nothing, so each failure also deletes up to
 * `pruneBatch` such rows (the oldest, found by an index on window_start: the statement reads what it
 * deletes and little more), and a successful login deletes its username's row and, once its window
 * ended, its address's. The table therefore holds about the keys that failed in the last window,
 * however many failed before.
 */
import { and, eq, inArray, lte, or, sql } from "drizzle-orm";
import type { Database } from "../db/client";
import { loginFailures } from "../db/schema";

export const THROTTLE = {
  windowMs: 15 * 60 * 1000,
  /** Failures per username per window: guesses against one account. */
  perUser: 10,
  /** Failures per client address per window: one client spraying many accounts. */
  perIp: 100,
  /** Rows of ended windows a failure deletes at most (one statement; bounded so a failure stays cheap). */
  pruneBatch: 100,
} as const;

export const throttleKeys = (username: string, ip: string | undefined) => ({
  user: `user:${username.toLowerCase()}`,
  ip: `ip:${ip ?? "unknown"}`,
});

/** Seconds until login may be tried again, or 0 when it may be tried now. */
export async function loginBlockedFor(db: Database, keys: { user: string; ip: string }, now = Date.now()): Promise<number> {
  const rows = await db.select().from(loginFailures).where(inArray(loginFailures.key, [keys.user, keys.ip]));
  let wait = 0;
  for (const row of rows) {
    const limit = row.key === keys.user ? THROTTLE.perUser : THROTTLE.perIp;
    const ends = row.windowStart + THROTTLE.windowMs;
    if (row.count >= limit && ends > now) wait = Math.max(wait, Math.ceil((ends - now) / 1000));
  }
  return wait;
}

export async function recordLoginFailure(db: Database, keys: { user: string; ip: string }, now = Date.now()): Promise<void> {
  const cutoff = now - THROTTLE.windowMs;
  const expired = sql`${loginFailures.windowStart} <= ${cutoff}`;
  // One round trip: the count, and a bounded batch of ended windows (other keys', usually) deleted.
  await db.batch([
    db
      .insert(loginFailures)
      .values([keys.user, keys.ip].map((key) => ({ key, count: 1, windowStart: now })))
      .onConflictDoUpdate({
        target: loginFailures.key,
        set: {
          count: sql`CASE WHEN ${expired} THEN 1 ELSE ${loginFailures.count} + 1 END`,
          windowStart: sql`CASE WHEN ${expired} THEN ${now} ELSE ${loginFailures.windowStart} END`,
        },
      }),
    db.delete(loginFailures).where(
      inArray(
        loginFailures.key,
        db.select({ key: loginFailures.key }).from(loginFailures).where(expired).orderBy(loginFailures.windowStart).limit(THROTTLE.pruneBatch),
      ),
    ),
  ]);
}

/**
 * A successful login clears the account's failures, and the address's row once its window ended (a
 * current one still counts: one good password must not reset a spraying address).
 */
export async function clearLoginFailures(db: Database, keys: { user: string; ip?: string }, now = Date.now()): Promise<void> {
  const ended = keys.ip === undefined ? undefined : and(eq(loginFailures.key, keys.ip), lte(loginFailures.windowStart, now - THROTTLE.windowMs));
  await db.delete(loginFailures).where(ended ? or(eq(loginFailures.key, keys.user), ended) : eq(loginFailures.key, keys.user));
}
