// Bench-only entry: the same Worker and Durable Objects as src/index.ts, with instruments.
// - D1_DELAY_MS (optional): every D1 call (prepare().run/all/first/raw and batch) waits that long
//   first, to model a room far from the D1 primary (one round trip per call).
//   `wrangler dev bench/bench-worker.js --var D1_DELAY_MS:150`.
// - D1 counters, always on: statements run (a batch of N counts N), calls (a batch counts 1), rows
//   written (`meta.rows_written`), and for every message copied to D1 by a room the lag from its
//   acknowledgement (`t` in the copy's JSON, the time the room stored it) to the moment the copy
//   committed. GET /__bench/d1 reads them, POST /__bench/d1/reset zeroes them.
// - GET /__bench/rooms: how many ChatRoom instances were constructed so far. A room is constructed
//   when it starts and again each time it wakes after being evicted, so the count across an idle
//   period proves (or disproves) hibernation.
// Locally the Worker and every Durable Object share one isolate, so module-level counters see them all.
import app, { ChatRoom as BaseChatRoom, InboxRoom as BaseInboxRoom } from "../src/index";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const real = new WeakMap();
/** The SQL each wrapped statement was prepared from, to recognise a room's copy of messages. */
const sqlOf = new WeakMap();
const counters = { statements: 0, calls: 0, rows_written: 0, lags: [] };

const COPY_INSERT = /^\s*insert\s+into\s+"?messages"?/i;

/** Lag samples for the messages a committed copy statement carried (its one JSON array parameter). */
function recordCopy(sql, values, committedAt) {
  if (!COPY_INSERT.test(sql)) return;
  for (const v of values) {
    if (typeof v !== "string" || !v.startsWith("[")) continue;
    try {
      for (const row of JSON.parse(v)) if (typeof row?.t === "number") counters.lags.push(committedAt - row.t);
    } catch {}
  }
}

const written = (result) => (Array.isArray(result) ? result : [result]).reduce((n, r) => n + (r?.meta?.rows_written ?? 0), 0);

function wrapStatement(stmt, ms, sql, values = []) {
  const run = (method) => async (...a) => {
    if (ms) await sleep(ms);
    counters.statements++;
    counters.calls++;
    const result = await stmt[method](...a);
    if (method !== "raw") counters.rows_written += written(result);
    recordCopy(sql, values, Date.now());
    return result;
  };
  const wrapped = {
    bind: (...v) => wrapStatement(stmt.bind(...v), ms, sql, v),
    run: run("run"),
    all: run("all"),
    first: run("first"),
    raw: run("raw"),
  };
  real.set(wrapped, stmt);
  sqlOf.set(wrapped, { sql, values });
  return wrapped;
}

const wrappedDbs = new WeakMap();

function instrumented(env) {
  const ms = Number(env.D1_DELAY_MS ?? 0);
  const db = env.DB;
  let DB = wrappedDbs.get(db)?.get(ms);
  if (!DB) {
    DB = {
      prepare: (sql) => wrapStatement(db.prepare(sql), ms, sql),
      batch: async (statements) => {
        if (ms) await sleep(ms);
        counters.calls++;
        counters.statements += statements.length;
        const results = await db.batch(statements.map((s) => real.get(s) ?? s));
        counters.rows_written += written(results);
        const at = Date.now();
        for (const s of statements) {
          const known = sqlOf.get(s);
          if (known) recordCopy(known.sql, known.values, at);
        }
        return results;
      },
      exec: async (sql) => (ms && (await sleep(ms)), counters.calls++, counters.statements++, db.exec(sql)),
      dump: () => db.dump(),
      withSession: (...a) => db.withSession(...a),
    };
    if (!wrappedDbs.has(db)) wrappedDbs.set(db, new Map());
    wrappedDbs.get(db).set(ms, DB);
  }
  return { ...env, DB };
}

function percentile(sorted, p) {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : null;
}

function d1Report() {
  const sorted = [...counters.lags].sort((a, b) => a - b);
  return {
    statements: counters.statements,
    calls: counters.calls,
    rows_written: counters.rows_written,
    copied_messages: sorted.length,
    lag_ms: { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? null },
  };
}

let roomsConstructed = 0;

export class ChatRoom extends BaseChatRoom {
  constructor(ctx, env) {
    super(ctx, instrumented(env));
    roomsConstructed++;
  }
}

export class InboxRoom extends BaseInboxRoom {
  constructor(ctx, env) {
    super(ctx, instrumented(env));
  }
}

export default {
  fetch(request, env, ctx) {
    const { pathname } = new URL(request.url);
    if (pathname === "/__bench/rooms") return Response.json({ constructed: roomsConstructed });
    if (pathname === "/__bench/d1") return Response.json(d1Report());
    if (pathname === "/__bench/d1/reset" && request.method === "POST") {
      Object.assign(counters, { statements: 0, calls: 0, rows_written: 0, lags: [] });
      return Response.json(d1Report());
    }
    return app.fetch(request, instrumented(env), ctx);
  },
};
