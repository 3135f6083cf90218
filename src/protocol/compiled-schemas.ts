/**
 * Schemas on a hot path, with zod's compiled parser (`z.compile`): generated code that parses as
 * the schema in schemas.ts does (an invalid input is parsed again by zod's interpreter, so errors
 * read the same), 16× faster on a `send_message` frame: 0.05 µs against 0.83 µs, which was most
 * of the room's own parsing time (docs/PERFORMANCE.md).
 *
 * Compiled here, at module scope, on purpose: Workers build code from strings (`new Function`) only
 * while a Worker starts (`allow_eval_during_startup`, on from compatibility date 2025-06-01). zod's
 * own lazy mode compiles at the first parse, inside a request, where the runtime refuses; a schema
 * zod cannot compile comes back unchanged and keeps the interpreter.
 */
import { z } from "zod";
import { clientFrame } from "./schemas";

function compiled<T extends z.ZodType>(name: string, schema: T): T {
  const fast = z.compile(schema);
  if (fast === schema) console.warn(`zod could not compile ${name}: its frames are parsed by the interpreter`);
  return fast;
}

/** Every frame a chat socket sends: a room's busiest parse. */
export const compiledClientFrame = compiled("clientFrame", clientFrame);
