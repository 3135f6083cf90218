// Bench-only entry: the same Worker and Durable Objects as src/index.ts, with two instruments.
// - D1_DELAY_MS (optional): every D1 call (prepare().run/all/first/raw and batch) waits that long
//   first, to model a room far from the D1 primary (one round trip per call).
//   `wrangler dev bench/bench-worker.js --var D1_DELAY_MS:150`.
// - GET /__bench/rooms: how many ChatRoom instances were constructed so far. A room is constructed
//   when it starts and again each time it wakes after being evicted, so the count across an idle
//   period proves (or disproves) hibernation. Locally the Worker and every Durable Object share
//   one isolate, so one module-level counter sees them all.
import app, { ChatRoom as BaseChatRoom, InboxRoom as BaseInboxRoom } from "../src/index";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const real = new WeakMap();

function wrapStatement(stmt, ms) {
  const wrapped = {
    bind: (...values) => wrapStatement(stmt.bind(...values), ms),
    run: async (...a) => (await sleep(ms), stmt.run(...a)),
    all: async (...a) => (await sleep(ms), stmt.all(...a)),
    first: async (...a) => (await sleep(ms), stmt.first(...a)),
    raw: async (...a) => (await sleep(ms), stmt.raw(...a)),
  };
  real.set(wrapped, stmt);
  return wrapped;
}

function delayed(env) {
  const ms = Number(env.D1_DELAY_MS ?? 0);
  if (!ms) return env;
  const db = env.DB;
  const DB = {
    prepare: (sql) => wrapStatement(db.prepare(sql), ms),
    batch: async (statements) => (await sleep(ms), db.batch(statements.map((s) => real.get(s) ?? s))),
    exec: async (sql) => (await sleep(ms), db.exec(sql)),
    dump: () => db.dump(),
    withSession: (...a) => db.withSession(...a),
  };
  return { ...env, DB };
}

let roomsConstructed = 0;

export class ChatRoom extends BaseChatRoom {
  constructor(ctx, env) {
    super(ctx, delayed(env));
    roomsConstructed++;
  }
}

export class InboxRoom extends BaseInboxRoom {
  constructor(ctx, env) {
    super(ctx, delayed(env));
  }
}

export default {
  fetch: (request, env, ctx) =>
    request.url.endsWith("/__bench/rooms")
      ? Response.json({ constructed: roomsConstructed })
      : app.fetch(request, delayed(env), ctx),
};
