// Bench-only entry: the same Worker and Durable Objects as src/index.ts, with instruments.
// - D1_DELAY_MS (optional): every D1 call (prepare().run/all/first/raw and batch) waits that long
//   first, to model a room far from the D1 primary (one round trip per call).
//   `wrangler dev bench/bench-worker.js --var D1_DELAY_MS:150`.
// - D1 counters, always on: statements run (a batch of N counts N), calls (a batch counts 1), rows
//   written (`meta.rows_written`), and for every message copied to D1 by a room the lag from its
//   acknowledgement (`t` in the copy's JSON, the time the room stored it) to the moment the copy
//   committed. GET /__bench/d1 reads them, POST /__bench/d1/reset (or GET /__bench/d1?reset=1) zeroes
//   them. They count through `withSession` too, and whatever Drizzle runs (prepare/bind/run/all/raw, batch).
// - Billing counters, always on (GET /__bench/d1 reports them under `billed`, reset with the D1 ones):
//   Worker requests; Durable Object requests by kind (RPC calls, fetches, alarms, and incoming
//   WebSocket messages, which Cloudflare bills 20:1); Durable Object storage rows written (the SQL
//   cursors' `rowsWritten`, plus kv puts and alarm sets, one row each); RPC calls by object and method
//   (`rpc_by_method`: `InboxRoom.relay` is the inbox calls rooms make); Queue operations of the push
//   queue as Cloudflare bills them (each message written by `send`/`sendBatch`, read by a delivery to
//   the consumer, and deleted by its ack: `queue_writes`, `queue_reads`, `queue_deletes`; a retry is
//   one more read later) and the consumer's invocations (`queue_invocations`, billed as requests).
// - Rows by statement, always on (`by_statement` in GET /__bench/d1): for D1 and for Durable Object
//   storage, statements run and rows written per SQL text (whitespace collapsed, cut at 90 characters),
//   and alarm sets by how far ahead they were set: what each row written per message is.
// - GET /__bench/rooms: how many ChatRoom instances were constructed so far (and `shard_upgrades`:
//   how many socket upgrades reached a fan-out shard). A room is constructed
//   when it starts and again each time it wakes after being evicted, so the count across an idle
//   period proves (or disproves) hibernation.
// - POST /__bench/seed-search { chatIds, senderId, from, count, seed, perCopy }: writes `count`
//   generated messages straight into D1 through a room's copy (src/db/room-copy.ts roomCopier, so
//   they are indexed in search blocks as a room's copies index them), `perCopy` of a chat's messages
//   per copy, spread over the chats, for the search bench (bench/search.mjs). Setup only: not counted.
// - GET /__bench/chats-from-d1 (Bearer token): the caller's chat list as GET /api/chats answered it
//   before issue 25, from D1 (src/db/chats.ts loadChats) through the same delayed, counted binding and
//   deadline, after the same token signature check (the token version is left out: the Worker caches
//   it, so it costs no D1 either way). For bench/chatlist.mjs to compare with the inbox's list.
// Locally the Worker and every Durable Object share one isolate, so module-level counters see them all.
import { signingKeyFor, verifyToken } from "../src/auth/token";
import { loadChats } from "../src/db/chats";
import { database } from "../src/db/client";
import { withDeadline } from "../src/db/deadline";
import { roomCopier } from "../src/db/room-copy";
import app, { ChatRoom as BaseChatRoom, FanoutShard as BaseFanoutShard, InboxRoom as BaseInboxRoom } from "../src/index";

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const real = new WeakMap();
/** The SQL each wrapped statement was prepared from, to recognise a room's copy of messages. */
const sqlOf = new WeakMap();
const counters = { statements: 0, calls: 0, rows_written: 0, lags: [] };
/** Per SQL text: { statements, rows_written }, for D1 and for Durable Object storage (`do`). */
const byStatement = { d1: new Map(), do: new Map() };
/** Keys by SQL text, memoised: a room's statements are a few texts run thousands of times. */
const sqlKeys = new Map();
const sqlKey = (sql) => {
  let key = sqlKeys.get(sql);
  if (key === undefined) {
    if (sqlKeys.size >= 1000) sqlKeys.clear();
    sqlKeys.set(sql, (key = String(sql).replace(/\s+/g, " ").trim().slice(0, 90)));
  }
  return key;
};
function countStatement(store, sql, rows) {
  const key = sqlKey(sql);
  const entry = byStatement[store].get(key) ?? { statements: 0, rows_written: 0 };
  entry.statements++;
  entry.rows_written += rows;
  byStatement[store].set(key, entry);
}

const COPY_INSERT = /^\s*insert\s+into\s+"?messages"?/i;

/**
 * `"t":<ms>` in a copied row's JSON: only the key `t` can match, since a quote inside a JSON string
 * is always escaped. Scanning for it costs the room's thread a fraction of parsing every chunk
 * (JSON.parse of each copy was 5 % of the write scenario's time).
 */
const STORED_AT = /"t":(\d+)/g;

/** Lag samples for the messages a committed copy statement carried (its one JSON array parameter). */
function recordCopy(sql, values, committedAt) {
  if (!COPY_INSERT.test(sql)) return;
  for (const v of values) {
    if (typeof v !== "string" || !v.startsWith("[")) continue;
    for (const [, t] of v.matchAll(STORED_AT)) counters.lags.push(committedAt - Number(t));
  }
}

const written = (result) => (Array.isArray(result) ? result : [result]).reduce((n, r) => n + (r?.meta?.rows_written ?? 0), 0);

const RUNS = new Set(["run", "all", "first", "raw"]);

/**
 * A prepared statement that counts what it runs (and waits `ms` first). `bind` returns another
 * wrapped statement that remembers its SQL and values; anything else passes through to the real one.
 */
function wrapStatement(stmt, ms, sql, values = []) {
  const wrapped = new Proxy(stmt, {
    get(target, prop) {
      if (prop === "bind") return (...v) => wrapStatement(target.bind(...v), ms, sql, v);
      const value = Reflect.get(target, prop, target);
      if (RUNS.has(prop)) {
        return async (...a) => {
          if (ms) await sleep(ms);
          counters.statements++;
          counters.calls++;
          const result = await value.apply(target, a);
          const rows = prop === "run" || prop === "all" ? written(result) : 0;
          counters.rows_written += rows;
          countStatement("d1", sql, rows);
          recordCopy(sql, values, Date.now());
          return result;
        };
      }
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  real.set(wrapped, stmt);
  sqlOf.set(wrapped, { sql, values });
  return wrapped;
}

/**
 * The binding (or a session of it, from `withSession`) with every statement, batch and exec counted.
 * `batch` hands the real statements to the real binding (it refuses foreign objects).
 */
function wrapDatabase(db, ms) {
  return new Proxy(db, {
    get(target, prop) {
      if (prop === "prepare") return (sql) => wrapStatement(target.prepare(sql), ms, sql);
      if (prop === "batch") {
        return async (statements) => {
          if (ms) await sleep(ms);
          counters.calls++;
          counters.statements += statements.length;
          const results = await target.batch(statements.map((s) => real.get(s) ?? s));
          counters.rows_written += written(results);
          const at = Date.now();
          statements.forEach((s, i) => {
            const known = sqlOf.get(s);
            countStatement("d1", known?.sql ?? "(unknown statement)", written(results[i]));
            if (known) recordCopy(known.sql, known.values, at);
          });
          return results;
        };
      }
      if (prop === "exec") {
        return async (sql) => {
          if (ms) await sleep(ms);
          counters.calls++;
          const result = await target.exec(sql);
          counters.statements += result?.count ?? 1;
          return result;
        };
      }
      if (prop === "withSession") return (...a) => wrapDatabase(target.withSession(...a), ms);
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** One wrapper per binding and delay, so the Worker's per-binding caches (Drizzle, deadlines) still hit. */
const wrappedDbs = new WeakMap();

/** The push queue's producer with every message written counted. */
function countedQueue(queue) {
  return {
    send: (body, options) => ((billed.queue_writes += 1), queue.send(body, options)),
    sendBatch: (messages, options) => {
      const list = [...messages];
      billed.queue_writes += list.length;
      return queue.sendBatch(list, options);
    },
  };
}
const wrappedQueues = new WeakMap();

/**
 * The env each request and object gets, with the counted bindings, made once per env: spreading
 * the runtime's env copied every binding on every request (68 µs a connect in the profile).
 */
const instrumentedEnvs = new WeakMap();
function instrumented(env) {
  let made = instrumentedEnvs.get(env);
  if (!made) instrumentedEnvs.set(env, (made = instrument(env)));
  return made;
}

function instrument(env) {
  const ms = Number(env.D1_DELAY_MS ?? 0);
  const db = env.DB;
  if (!wrappedDbs.has(db)) wrappedDbs.set(db, new Map());
  const byDelay = wrappedDbs.get(db);
  if (!byDelay.has(ms)) byDelay.set(ms, wrapDatabase(db, ms));
  if (env.PUSH_QUEUE && !wrappedQueues.has(env.PUSH_QUEUE)) wrappedQueues.set(env.PUSH_QUEUE, countedQueue(env.PUSH_QUEUE));
  return { ...env, DB: byDelay.get(ms), ...(env.PUSH_QUEUE ? { PUSH_QUEUE: wrappedQueues.get(env.PUSH_QUEUE) } : {}) };
}

/** A batch whose messages count their acks (deletes) and retries; everything else passes through. */
function countedBatch(batch) {
  const count = (message) =>
    new Proxy(message, {
      get(target, prop) {
        if (prop === "ack") return () => ((billed.queue_deletes += 1), target.ack());
        if (prop === "retry") return (options) => ((billed.queue_retries += 1), target.retry(options));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  const messages = batch.messages.map(count);
  return {
    queue: batch.queue,
    messages,
    ackAll: () => ((billed.queue_deletes += messages.length), batch.ackAll()),
    retryAll: (options) => ((billed.queue_retries += messages.length), batch.retryAll(options)),
  };
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
    billed: { ...billed },
    rpc_by_method: { ...rpcByMethod },
    by_statement: Object.fromEntries(Object.entries(byStatement).map(([store, m]) => [store, Object.fromEntries([...m].sort((a, b) => b[1].rows_written - a[1].rows_written))])),
  };
}

let roomsConstructed = 0;
/** RPC calls by object and method ("InboxRoom.relay": the inbox calls a room makes), reset with the rest. */
const rpcByMethod = {};
const billed = {
  worker_requests: 0,
  do_rpc: 0,
  do_fetch: 0,
  do_alarm: 0,
  do_ws_incoming: 0,
  do_rows_written: 0,
  do_kv_puts: 0,
  do_alarm_sets: 0,
  queue_writes: 0,
  queue_reads: 0,
  queue_deletes: 0,
  queue_retries: 0,
  queue_invocations: 0,
};

/** Counts what the object's storage writes; its own behaviour is unchanged. */
function countStorage(ctx) {
  const sql = ctx.storage.sql;
  const exec = sql.exec.bind(sql);
  // A cursor's rowsWritten is final once it is consumed, which Drizzle does in the same turn.
  sql.exec = (...args) => {
    const cursor = exec(...args);
    queueMicrotask(() => {
      billed.do_rows_written += cursor.rowsWritten;
      countStatement("do", args[0], cursor.rowsWritten);
    });
    return cursor;
  };
  const put = ctx.storage.kv.put.bind(ctx.storage.kv);
  ctx.storage.kv.put = (...args) => (billed.do_kv_puts++, put(...args));
  const setAlarm = ctx.storage.setAlarm.bind(ctx.storage);
  ctx.storage.setAlarm = (...args) => {
    billed.do_alarm_sets++;
    const ahead = Number(args[0]) - Date.now();
    countStatement("do", `(setAlarm ${ahead <= 1500 ? "<= 1.5 s ahead" : "> 1.5 s ahead"})`, 1);
    return setAlarm(...args);
  };
}

/** The entry points Cloudflare bills as Durable Object requests, counted, then handed on. */
function countRequests(label, Base, rpcMethods) {
  const Counted = class extends Base {
    constructor(ctx, env) {
      super(ctx, instrumented(env));
      countStorage(ctx);
    }
    fetch(request) {
      billed.do_fetch++;
      return super.fetch(request);
    }
    alarm(...args) {
      billed.do_alarm++;
      return super.alarm(...args);
    }
    webSocketMessage(ws, message) {
      billed.do_ws_incoming++;
      return super.webSocketMessage(ws, message);
    }
  };
  for (const name of rpcMethods) {
    Object.defineProperty(Counted.prototype, name, {
      value: function (...args) {
        billed.do_rpc++;
        rpcByMethod[`${label}.${name}`] = (rpcByMethod[`${label}.${name}`] ?? 0) + 1;
        return Base.prototype[name].apply(this, args);
      },
    });
  }
  return Counted;
}

const CountedChatRoom = countRequests("ChatRoom", BaseChatRoom, ["history", "post", "markRead", "applyMembership", "joinRemote", "fromShard"]);
export class ChatRoom extends CountedChatRoom {
  constructor(ctx, env) {
    super(ctx, env);
    roomsConstructed++;
  }
}

export const InboxRoom = countRequests("InboxRoom", BaseInboxRoom, ["relay"]);
const CountedFanoutShard = countRequests("FanoutShard", BaseFanoutShard, ["deliver", "roster"]);
/** Sockets the rooms placed on fan-out shards (upgrades that reached one), never reset. */
let shardUpgrades = 0;
export class FanoutShard extends CountedFanoutShard {
  fetch(request) {
    shardUpgrades++;
    return super.fetch(request);
  }
}

export default {
  async fetch(request, env, ctx) {
    const { pathname, searchParams } = new URL(request.url);
    if (pathname === "/__bench/rooms") return Response.json({ constructed: roomsConstructed, shard_upgrades: shardUpgrades });
    if ((pathname === "/__bench/d1/reset" && request.method === "POST") || (pathname === "/__bench/d1" && searchParams.get("reset") === "1")) {
      Object.assign(counters, { statements: 0, calls: 0, rows_written: 0, lags: [] });
      for (const m of Object.values(byStatement)) m.clear();
      for (const key of Object.keys(billed)) billed[key] = 0;
      for (const key of Object.keys(rpcByMethod)) delete rpcByMethod[key];
      return Response.json(d1Report());
    }
    if (pathname === "/__bench/d1") return Response.json(d1Report());
    if (pathname === "/__bench/seed-search" && request.method === "POST") return seedSearch(env.DB, await request.json());
    if (pathname === "/__bench/chats-from-d1") return chatsFromD1(request, env);
    billed.worker_requests++;
    return app.fetch(request, instrumented(env), ctx);
  },
  /** The push queue's consumer: each delivery is a read of each message in the batch. */
  queue(batch, env, ctx) {
    billed.queue_invocations++;
    billed.queue_reads += batch.messages.length;
    return app.queue(countedBatch(batch), instrumented(env), ctx);
  },
};

/**
 * The search bench's corpus: `count` messages, message i of the run going to chat i % chats with the
 * chat's next id, 6–14 words each drawn from `vocabulary` with Zipf-like weights (word r about as
 * common as 1/r), plus the bench's marker words: `zeppelin` in every 10,000th message (rare) and
 * `standup` in every 10th (common). Deterministic for a seed. Each chat's messages are copied
 * `perCopy` at a time (a chat's burst between pauses: one search block each).
 */
async function seedSearch(db, { chatIds, senderId, from, count, seed, vocabulary, startTime, perCopy = 25 }) {
  let state = seed >>> 0;
  const random = () => ((state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 4294967296);
  const harmonic = vocabulary.reduce((sum, _, r) => sum + 1 / (r + 1), 0);
  const zipf = () => {
    let x = random() * harmonic;
    for (let r = 0; r < vocabulary.length; r++) if ((x -= 1 / (r + 1)) <= 0) return vocabulary[r];
    return vocabulary.at(-1);
  };
  const byChat = new Map(chatIds.map((id) => [id, []]));
  for (let n = from; n < from + count; n++) {
    const words = Array.from({ length: 6 + Math.floor(random() * 9) }, zipf);
    if (n % 10 === 0) words.splice(2, 0, "standup");
    if (n % 10_000 === 7) words.push("zeppelin");
    byChat.get(chatIds[n % chatIds.length]).push({ i: Math.floor(n / chatIds.length) + 1, s: senderId, c: words.join(" "), k: null, t: startTime + n });
  }
  const rows = [...byChat.values()].flat();
  await Promise.all(
    [...byChat].map(async ([chatId, messages]) => {
      const copy = roomCopier(db, chatId);
      for (let i = 0; i < messages.length; i += perCopy) await copy(messages.slice(i, i + perCopy), []);
    }),
  );
  return Response.json({ seeded: rows.length });
}

/** The chat list as it was read before issue 25: one D1 query set through the bench's delayed binding. */
async function chatsFromD1(request, env) {
  const token = /^Bearer (.+)$/.exec(request.headers.get("Authorization") ?? "")?.[1];
  const claims = token ? await verifyToken(token, signingKeyFor(env.JWT_SECRET)) : null;
  if (!claims) return Response.json({ error: "token", code: "unauthorized" }, { status: 401 });
  const db = database(withDeadline(instrumented(env).DB, Number(env.D1_TIMEOUT_MS)));
  return Response.json({ chats: await loadChats(db, claims.user.id) });
}
