/**
 * Room migrations on a room that already held data: the real migration files, step by step, on an
 * empty SQLite (a fresh fan-out shard's: its class never writes SQL, and a room would migrate itself
 * to the newest schema as it starts).
 */
import { runInDurableObject, env } from "cloudflare:test";
import { drizzle } from "drizzle-orm/durable-sqlite";
import { migrate } from "drizzle-orm/durable-sqlite/migrator";
import { describe, expect, it } from "vitest";
import migrations from "../../migrations/room/migrations";
import { ANYWHERE, shardStub } from "../../src/fanout/placement";
import { RoomMembers } from "../../src/room/log/members";
import * as schema from "../../src/room/log/schema";

/** The room's migrations before `tag` (e.g. "0007"). */
const before = (tag: string) => ({
  journal: { ...migrations.journal, entries: migrations.journal.entries.filter((e) => e.tag < tag) },
  migrations: Object.fromEntries(Object.entries(migrations.migrations).filter(([key]) => key < `m${tag}`)),
});

describe("room migrations 0007-0008: D1's copy of the markers by version", () => {
  it("a marker D1 did not have before the upgrade is copied after it; one D1 had is not", async () => {
    const stub = shardStub(env, `${900_000_000 + Math.floor(Math.random() * 1e6)}/${ANYWHERE}/0`);
    const after = await runInDurableObject(stub, async (_shard, state) => {
      const db = drizzle(state.storage, { schema });
      await migrate(db, before("0007"));
      state.storage.sql.exec(
        `INSERT INTO members (user_id, username, role, active, last_read, last_read_in_d1) VALUES
          (1, 'ann', 'admin', 1, 9, 9), (2, 'bob', 'member', 1, 7, 4), (3, 'cid', 'member', 1, 5, NULL), (4, 'dan', 'member', 1, NULL, NULL)`,
      );
      await migrate(db, migrations);
      const members = new RoomMembers(db);
      const toCopy = members.markersToCopy();
      members.markersCopied(toCopy.through);
      const next = members.nextMarkerVersion();
      return { toCopy: toCopy.markers.sort((a, b) => a.userId - b.userId), left: members.markersToCopy().markers, next };
    });
    expect(after.toCopy).toEqual([
      { userId: 2, lastRead: 7 },
      { userId: 3, lastRead: 5 },
    ]);
    expect(after.left).toEqual([]);
    // Versions go on past the one the upgrade gave.
    expect(after.next).toBeGreaterThan(1);
  });
});
