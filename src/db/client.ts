import { drizzle } from "drizzle-orm/d1";
import { fillPlaceholders, type SQL } from "drizzle-orm";
import { SQLiteAsyncDialect } from "drizzle-orm/sqlite-core";
import * as schema from "./schema";

// A read-replication session (src/db/bookmarks.ts) has the binding's `prepare` and `batch`, all
// that Drizzle's D1 driver calls on a query's path; its types name only the binding.
const create = (d1: D1Database | D1DatabaseSession) => drizzle(d1 as D1Database, { schema });
export type Database = ReturnType<typeof create>;

const instances = new WeakMap<D1Database | D1DatabaseSession, Database>();

/**
 * Drizzle over a D1 binding, built once per binding object: building it walks the whole schema,
 * work that showed in the Worker's CPU profile when it was repeated for every request and flush.
 */
export function database(d1: D1Database | D1DatabaseSession): Database {
  let db = instances.get(d1);
  if (!db) instances.set(d1, (db = create(d1)));
  return db;
}

export { toIso } from "../protocol/stored";

/**
 * A query built once with Drizzle (using `sql.placeholder`) and prepared once on D1; each call to
 * `bind` only fills in values. Used on the hot path, where rebuilding SQL per message would cost
 * more than the write itself, and where statements must go into one `D1Database.batch`.
 */
export interface CompiledStatement<V extends Record<string, unknown>> {
  bind(values: V): D1PreparedStatement;
}

const dialect = new SQLiteAsyncDialect();

export function compile<V extends Record<string, unknown>>(
  d1: D1Database,
  query: SQL | { toSQL(): { sql: string; params: unknown[] } },
): CompiledStatement<V> {
  const { sql, params } = "toSQL" in query ? query.toSQL() : dialect.sqlToQuery(query);
  const statement = d1.prepare(sql);
  return { bind: (values) => statement.bind(...fillPlaceholders(params, values)) };
}
