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
const CEILINGS = {
  // measured: DO requests 0.587, DO rows 2.29, D1 statements 0.100, D1 rows 1.067, $3.45
  "1:1, both online + typing pair": { do_requests: 0.7, do_rows_written: 2.45, d1_statements: 0.16, d1_rows_written: 1.15, usd: 3.65 },
  // measured: 0.772-0.807, 2.367-2.4, 0.100, 1.100, $3.58-3.62
  "group of 10, 3 online + typing pair": { do_requests: 0.95, do_rows_written: 2.55, d1_statements: 0.16, d1_rows_written: 1.2, usd: 3.85 },
  // measured: 4.547-4.563, 4.083-4.1, 0.100, 1.667, $6.43-6.45
  "group of 100, 20 online + typing pair": { do_requests: 5.0, do_rows_written: 4.35, d1_statements: 0.16, d1_rows_written: 1.8, usd: 6.9 },
};

let service;
before(async () => {
  service = await startService({ port: PORT, entry: "bench/bench-worker.js" });
});
after(async () => {
  await service?.stop();
});

test("a message costs no more than it did: D1 statements and rows, Durable Object rows and requests", { timeout: 150_000 }, async () => {
  const result = await cost({ url: service.url }, { messages: 60, typing: [true] });
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
