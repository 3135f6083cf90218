/**
 * D1 with a deadline, and the one classification of D1 failure.
 *
 * A database that is down or far away must not hang a request: every query and batch races a
 * timer, and losing the race throws `DatabaseUnavailable`. The query itself is not cancelled (D1
 * cannot be); a write that lands late is harmless because sends are idempotent by clientId.
 *
 * Every other failure of the binding becomes `DatabaseUnavailable` too, here and nowhere else:
 * D1 fails in more ways than anyone can list ("Network connection lost.", "D1 DB is overloaded",
 * "internal error", `SQLITE_BUSY` from a locked local file, a binding that throws a TypeError), and
 * code that decides what to do next (answer 503, use a cached token version, retry the copy) must not
 * depend on which words it used. The one exception is a failure that says the statement itself broke
 * a rule (`SQLITE_CONSTRAINT`) or carried a value D1 cannot bind (`D1_TYPE_ERROR`): no retry can fix
 * those, so they stay what they are (a bug, answered 500). The code relies on no constraint error:
 * conflicts it expects (a taken username, an existing direct chat, a repeated member) are `ON
 * CONFLICT` clauses.
 */
export class DatabaseUnavailable extends Error {
  override name = "DatabaseUnavailable";
}

/** Failures of the statement itself, not of the database: a retry would fail the same way. */
const STATEMENT_FAULT = /SQLITE_CONSTRAINT|constraint failed|D1_TYPE_ERROR/i;

/** What the binding threw, as the rest of the code should see it. */
export function classify(err: unknown): unknown {
  if (err instanceof DatabaseUnavailable) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (STATEMENT_FAULT.test(message)) return err;
  // The binding's own words (not Drizzle's, which carry the statement's parameters), for the log:
  // clients are answered with a fixed text.
  return new DatabaseUnavailable(`database unavailable: ${message.slice(0, 200)}`, { cause: err });
}

/** The `DatabaseUnavailable` an error is or was caused by (Drizzle wraps driver errors), if any. */
export function unavailableCause(err: unknown): DatabaseUnavailable | null {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DatabaseUnavailable) return e;
  }
  return null;
}

/** Whether an error is the database being unavailable: what decides 503, a stale token version, a retry. */
export const isUnavailable = (err: unknown): boolean => unavailableCause(err) !== null;

/** Runs a call into the binding: a synchronous throw or a rejection comes out classified. */
function guarded<T>(call: () => Promise<T>): Promise<T> {
  let work: Promise<T>;
  try {
    work = call();
  } catch (err) {
    return Promise.reject(classify(err));
  }
  return Promise.resolve(work).catch((err: unknown) => Promise.reject(classify(err)));
}

/** A synchronous call into the binding (`prepare`, `bind`): a throw comes out classified. */
function guardedSync<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw classify(err);
  }
}

async function race<T>(call: () => Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailable(`database did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([guarded(call), deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

const RUNS = new Set<PropertyKey>(["first", "all", "run", "raw"]);
type Binding = D1Database | D1DatabaseSession;
const wrappers = new WeakMap<Binding, Map<number, Binding>>();

/**
 * The binding with every query racing `ms`, and every failure classified. One wrapper per binding and
 * deadline, so callers that ask per request or per object get the same one (and `database()` its one
 * Drizzle instance). All D1 access in the Worker and the objects goes through it, a read-replication
 * session (src/db/bookmarks.ts) included: it has the binding's `prepare` and `batch`, wrapped alike.
 */
export function withDeadline<B extends Binding>(d1: B, ms: number): B {
  let byDeadline = wrappers.get(d1);
  if (!byDeadline) wrappers.set(d1, (byDeadline = new Map()));
  let wrapped = byDeadline.get(ms);
  if (!wrapped) byDeadline.set(ms, (wrapped = raceEveryQuery(d1, ms)));
  return wrapped as B;
}

function raceEveryQuery<B extends Binding>(d1: B, ms: number): B {
  const originals = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrap(guardedSync(() => target.bind(...values)));
        const value = Reflect.get(target, prop, target);
        if (RUNS.has(prop)) return (...args: unknown[]) => race(() => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args), ms);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    originals.set(proxy, statement);
    return proxy;
  };
  return new Proxy(d1, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => wrap(guardedSync(() => target.prepare(query)));
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => race(() => target.batch(statements.map((s) => originals.get(s) ?? s)), ms);
      }
      if (prop === "exec" && "exec" in target) return (query: string) => race(() => target.exec(query), ms);
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
