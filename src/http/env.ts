import type { Database } from "../db/client";
import type { User } from "../protocol/models";

/** Hono's view of the Worker: bindings plus what middleware puts on the context. */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    db: Database;
    signingKey: Uint8Array;
    /** The authenticated caller; set by `requireUser`. */
    user: User;
    /** The token version the caller's token was issued under (the user's current one); set by `requireUser`. */
    tokenVersion: number;
  };
}
