// The counting bench in CI: what a message costs (bench/cost.mjs, the cost scenario of
// `npm run bench`, here in its quick form: 60 messages per chat, the "+ typing pair" variant of each
// kind of chat, which does everything the plain one does and more) must stay under per-message
// ceilings, so a change that makes messages cost more fails the build. The ceilings sit a little
// above what this build measured (three runs of `npm run bench -- quick cost`, 2026-11-28, identical
// to within 0.04 per figure; docs/PERFORMANCE.md has the full table): far enough for the noise of a
// busy machine, close enough that one more row or statement per message, or a copy to D1 per second
// instead of per burst, fails.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { cost } from "../../bench/cost.mjs";
import { startService } from "../../bench/server.mjs";

const PORT = Number(process.env.COST_TEST_PORT ?? 8800);

/** Per message. Measured (quick, typing pair): see each line. */
// Message search (migration 0008) indexed every message copied to D1: one more D1 row written per
// message (the FTS5 entry, as D1 counts it), $1.00 more per million messages (12:37 UTC). Resends
// recognised in memory instead of by a unique storage index (room migration 0003): one Durable
// Object row fewer per message, $1.00 less (`npm run bench -- quick cost`, 2026-11-28 15:40 UTC).
// Search blocks (migration 0009): one index entry per block copied together instead of one per
// message, about one D1 row and $1.00 less per million messages (16:25 UTC; the figures before it
// are in brackets).
// Issue 27 (2026-12-05 02:39 UTC, quick): a room learns who listens with one D1 read instead of an
// early copy, reads ride the window's inbox call, a busy chat calls open inboxes at most once a
// second, and marker copies are tracked by version (one meta row per copy): the group of 100 with
// its typing pair is $3.17 [the figures of the ceilings before, in brackets].
const CEILINGS = {
  // measured: DO requests 0.403, DO rows 1.183, D1 statements 0.067, D1 rows 1.050, $2.29 [0.587, 1.317, 0.100, 1.100, $2.50]
  "1:1, both online + typing pair": { do_requests: 0.55, do_rows_written: 1.3, d1_statements: 0.12, d1_rows_written: 1.12, usd: 2.45 },
  // measured: 0.507, 1.200, 0.067, 1.067, $2.34 [0.807, 1.433, 0.100, 1.133, $2.69]
  "group of 10, 3 online + typing pair": { do_requests: 0.65, do_rows_written: 1.32, d1_statements: 0.12, d1_rows_written: 1.15, usd: 2.5 },
  // measured: 2.263, 1.483, 0.067, 1.350, $3.17 [4.547, 3.133, 0.100, 1.700, $5.52]
  "group of 100, 20 online + typing pair": { do_requests: 2.7, do_rows_written: 1.65, d1_statements: 0.12, d1_rows_written: 1.5, usd: 3.45 },
  // Push notifications (issue 26): the 7 offline members have a browser subscribed; pushes are paced
  // per member (2 each here), each 3 Queue operations and a seventh of a consumer invocation and of
  // its D1 read. measured: DO requests 0.507, DO rows 1.200, D1 statements 0.100, D1 rows 1.067,
  // queue operations 0.700, $2.63 [0.857, 1.417, 0.133, 1.133, 0.700, $2.97]. A job per offline
  // member per message (unpaced) would be 21 queue operations a message; one more round of pushes, 0.35 more.
  "group of 10, 3 online, 7 pushed + typing pair": { do_requests: 0.65, do_rows_written: 1.32, d1_statements: 0.16, d1_rows_written: 1.15, queue_operations: 0.85, usd: 2.8 },
};

let service;
before(async () => {
  service = await startService({ port: PORT, entry: "bench/bench-worker.js" });
});
after(async () => {
  await service?.stop();
});

test("a message costs no more than it did: D1 statements and rows, Durable Object rows and requests", { timeout: 150_000 }, async () => {
  const result = await cost({ url: service.url }, { messages: 60, typing: [true], large: false });
  assert.equal(result.failures, 0, `every message acknowledged and copied to D1: ${JSON.stringify(result.rows)}`);
  assert.deepEqual(result.rows.map((r) => r.case).sort(), Object.keys(CEILINGS).sort());
  const over = [];
  for (const row of result.rows) {
    const ceiling = CEILINGS[row.case];
    const measured = { ...row.per_message, usd: row.usd_per_million_messages };
    for (const [key, max] of Object.entries(ceiling)) if (!(measured[key] <= max)) over.push(`${row.case}: ${key} ${measured[key]} > ${max}`);
  }
  assert.deepEqual(over, [], `over the ceiling (per message):\n${over.join("\n")}\nbreakdown: ${JSON.stringify(result.rows.map((r) => [r.case, r.breakdown]))}`);
});
