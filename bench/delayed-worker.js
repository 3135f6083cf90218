// Bench-only entry: the same Worker and Durable Objects as src/index.ts, with every D1 call
// (prepare().run/all/first/raw and batch) delayed by D1_DELAY_MS, to model a room far from the
// D1 primary (one round trip per call). Run with `wrangler dev bench/delayed-worker.js --var D1_DELAY_MS:150`.
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

export class ChatRoom extends BaseChatRoom {
  constructor(ctx, env) {
    super(ctx, delayed(env));
  }
}

export class InboxRoom extends BaseInboxRoom {
  constructor(ctx, env) {
    super(ctx, delayed(env));
  }
}

export default {
  fetch: (request, env, ctx) => app.fetch(request, delayed(env), ctx),
};
