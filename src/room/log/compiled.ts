/**
 * A write Drizzle builds once and the room runs straight on the object's SQL, its values bound by
 * position. Drizzle's prepared statements look up every placeholder by name on every run (an
 * `instanceof` chain per parameter): for the log's multi-row insert, up to 96 parameters per
 * statement, that and the object of named values it needs were 8 % of a busy room's time
 * (docs/PERFORMANCE.md). Here the placeholders are resolved once, when the statement is compiled.
 */
import { is, Param, Placeholder } from "drizzle-orm";
import type { LogDatabase } from "./open";

/** Anything Drizzle can turn into SQL and parameters (a query builder before `.prepare()`). */
interface Buildable {
  toSQL(): { sql: string; params: unknown[] };
}

/**
 * `query`'s SQL, compiled once, as a function of `input`: `slot(name)` says, once per placeholder,
 * how its value is read from the input. Column encoders (JSON columns, for one) still apply.
 */
export function compileWrite<I>(db: LogDatabase, query: Buildable, slot: (name: string) => (input: I) => unknown): (input: I) => void {
  const { sql, params } = query.toSQL();
  const values = params.map((param): ((input: I) => unknown) => {
    if (is(param, Placeholder)) return slot(param.name);
    if (is(param, Param) && is(param.value, Placeholder)) {
      const read = slot(param.value.name);
      const encoder = param.encoder;
      return (input) => {
        const value = read(input);
        // A null stays SQL NULL (Drizzle's placeholders stored a JSON column's null as the text "null";
        // both read back as null).
        return value === null || value === undefined ? value : encoder.mapToDriverValue(value);
      };
    }
    return () => param;
  });
  const storage = db.$client.sql;
  return (input) => {
    storage.exec(sql, ...values.map((value) => value(input)));
  };
}
