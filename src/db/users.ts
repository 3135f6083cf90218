import { and, asc, eq, gte, lt, ne, sql } from "drizzle-orm";
import type { User } from "../protocol/models";
import type { Database } from "./client";
import { users } from "./schema";

/** A password as a user row stores it: the derived key and its salt (auth/password.ts makes them). */
export interface PasswordHash {
  hash: string;
  salt: string;
}

const userColumns = { id: users.id, username: users.username };

/** The new user, or null when the username is taken (in any letter case). */
export async function createUser(db: Database, username: string, password: PasswordHash): Promise<User | null> {
  const rows = await db
    .insert(users)
    .values({
      username,
      usernameKey: username.toLowerCase(),
      passwordHash: password.hash,
      passwordSalt: password.salt,
      createdAt: Date.now(),
    })
    .onConflictDoNothing({ target: users.usernameKey })
    .returning(userColumns);
  return rows[0] ?? null;
}

export async function findCredentialsById(db: Database, id: number) {
  const [row] = await db.select().from(users).where(eq(users.id, id)).limit(1);
  return row ?? null;
}

export async function findCredentials(db: Database, username: string) {
  const [row] = await db.select().from(users).where(eq(users.usernameKey, username.toLowerCase())).limit(1);
  return row ?? null;
}

/** The user's current token version, or null when the user no longer exists. */
export async function findTokenVersion(db: Database, id: number): Promise<number | null> {
  const [row] = await db.select({ version: users.tokenVersion }).from(users).where(eq(users.id, id)).limit(1);
  return row?.version ?? null;
}

/** Revokes every token of the user; returns the new version. */
export async function bumpTokenVersion(db: Database, id: number): Promise<number> {
  const [row] = await db
    .update(users)
    .set({ tokenVersion: sql`${users.tokenVersion} + 1` })
    .where(eq(users.id, id))
    .returning({ version: users.tokenVersion });
  return row!.version;
}

/** A new password revokes every token issued before it; returns the new token version. */
export async function setPassword(db: Database, id: number, password: PasswordHash): Promise<number> {
  const [row] = await db
    .update(users)
    .set({ passwordHash: password.hash, passwordSalt: password.salt, tokenVersion: sql`${users.tokenVersion} + 1` })
    .where(eq(users.id, id))
    .returning({ version: users.tokenVersion });
  return row!.version;
}

export async function findUser(db: Database, id: number): Promise<User | null> {
  const [row] = await db.select(userColumns).from(users).where(eq(users.id, id)).limit(1);
  return row ?? null;
}

/**
 * Users whose name starts with `prefix`, ignoring case. Usernames only use characters below '~',
 * so [prefix, prefix + '~') is exactly the prefix range and uses the unique index.
 */
export async function searchUsers(db: Database, prefix: string, excludeId: number, limit: number): Promise<User[]> {
  const key = prefix.toLowerCase();
  return db
    .select(userColumns)
    .from(users)
    .where(and(gte(users.usernameKey, key), lt(users.usernameKey, key + "~"), ne(users.id, excludeId)))
    .orderBy(asc(users.usernameKey))
    .limit(limit);
}

/** Records whether the user has an inbox socket open (see `users.inboxOpen`). */
export async function setInboxOpen(db: Database, userId: number, open: boolean): Promise<void> {
  await db.update(users).set({ inboxOpen: open }).where(and(eq(users.id, userId), ne(users.inboxOpen, open)));
}
