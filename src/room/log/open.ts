/** Opening a room's storage: Drizzle over the object's SQLite, migrated to the current schema. */
import { eq } from "drizzle-orm";
import { drizzle, type DrizzleSqliteDODatabase } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import migrations from "../../../migrations/room/migrations";
import * as schema from "./schema";
import { logMeta } from "./schema";

/** Drizzle over the object's SQLite; `$client` is the object's storage, for statements compiled once (compiled.ts). */
export type LogDatabase = DrizzleSqliteDODatabase<typeof schema> & { $client: DurableObjectStorage };

/** Must run inside `blockConcurrencyWhile`, before anything reads the log. */
export async function openLog(storage: DurableObjectStorage): Promise<LogDatabase> {
  const db = drizzle(storage, { schema });
  await migrate(db, migrations);
  return db;
}

export const MetaKey = {
  /** 1 once the room has loaded its members (and any messages from before the log) from D1. */
  Loaded: "loaded",
  /** The newest message id copied to D1: everything after it is the outbox. */
  D1Through: "d1_through",
  /** The newest change (edit, delete, reaction) D1 has for messages up to `d1_through`. */
  D1ChangesThrough: "d1_changes_through",
  /** The membership counter: every join, leave, role change and rename takes the next number. */
  MembershipVersion: "membership_version",
  /**
   * 1 once the room holds its chat's row and every member with their join time. Rooms loaded
   * before the room was the one authority for membership reconcile with D1 once to get there.
   */
  Authority: "authority",
  /** Retention deleted every message up to this id (the next message never takes a smaller one). */
  ExpiredThrough: "expired_through",
  /** The change counter when retention last deleted messages: change ids never go back. */
  ChangeFloor: "change_floor",
  /** How far D1's copy has deleted what retention deleted here. */
  D1ExpiredThrough: "d1_expired_through",
  /** The marker version D1 has every marker through (members.marker_version). */
  MarkersCopiedThrough: "markers_copied_through",
} as const;
type MetaKey = (typeof MetaKey)[keyof typeof MetaKey];

export function readMeta(db: LogDatabase, key: MetaKey): number | undefined {
  return db.select({ value: logMeta.value }).from(logMeta).where(eq(logMeta.key, key)).get()?.value;
}

export function writeMeta(db: LogDatabase, key: MetaKey, value: number): void {
  db.insert(logMeta).values({ key, value }).onConflictDoUpdate({ target: logMeta.key, set: { value } }).run();
}

/** The next number of the room's membership counter (taken by a join, leave, role change or rename). */
export function nextMembershipVersion(db: LogDatabase): number {
  const version = (readMeta(db, MetaKey.MembershipVersion) ?? 0) + 1;
  writeMeta(db, MetaKey.MembershipVersion, version);
  return version;
}
