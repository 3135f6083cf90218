/**
 * D1 with a deadline. A database that is down or far away must not hang a request: every query
 * and batch races a timer, and losing the race throws `DatabaseUnavailable`, which the HTTP layer
 * answers with 503. The query itself is not cancelled (D1 cannot be); a write that lands late is
 * harmless because sends are idempotent by clientId.
 */
export class DatabaseUnavailable extends Error {}

const RUNS = new Set<PropertyKey>(["first", "all", "run", "raw"]);
/** Messages of D1 failures that say the database could not be reached, not that the query was wrong. */
const UNAVAILABLE = /unavailable|timed? ?out|overloaded|network|reset|too many requests|storage/i;

/** Whether an error, or what caused it (Drizzle wraps driver errors), is the database being unreachable. */
export function isUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof DatabaseUnavailable || (/^D1_/.test(e.message) && UNAVAILABLE.test(e.message))) return true;
  }
  return false;
}

async function race<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailable(`database did not answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    if (timer !== undefined) clearTimeout(timer);
  }
}

const wrappers = new WeakMap<D1Database, Map<number, D1Database>>();

/**
 * The binding with every query racing `ms`. One wrapper per binding and deadline, so callers that
 * ask per request or per object get the same one (and `database()` its one Drizzle instance).
 */
export function withDeadline(d1: D1Database, ms: number): D1Database {
  let byDeadline = wrappers.get(d1);
  if (!byDeadline) wrappers.set(d1, (byDeadline = new Map()));
  let wrapped = byDeadline.get(ms);
  if (!wrapped) byDeadline.set(ms, (wrapped = raceEveryQuery(d1, ms)));
  return wrapped;
}

function raceEveryQuery(d1: D1Database, ms: number): D1Database {
  const originals = new WeakMap<object, D1PreparedStatement>();
  const wrap = (statement: D1PreparedStatement): D1PreparedStatement => {
    const proxy = new Proxy(statement, {
      get(target, prop) {
        if (prop === "bind") return (...values: unknown[]) => wrap(target.bind(...values));
        const value = Reflect.get(target, prop, target);
        if (RUNS.has(prop)) return (...args: unknown[]) => race((value as (...a: unknown[]) => Promise<unknown>).apply(target, args), ms);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    originals.set(proxy, statement);
    return proxy;
  };
  return new Proxy(d1, {
    get(target, prop) {
      if (prop === "prepare") return (query: string) => wrap(target.prepare(query));
      if (prop === "batch") {
        return (statements: D1PreparedStatement[]) => race(target.batch(statements.map((s) => originals.get(s) ?? s)), ms);
      }
      if (prop === "exec") return (query: string) => race(target.exec(query), ms);
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}
