import type { Database } from "../db/client";
import type { Session } from "../objects/handshake";
import type { User } from "../protocol/models";

/**
 * Hono's view of the Worker: bindings plus what middleware puts on the context. Read a variable
 * with `c.get("user")`, not `c.var.user`: `c.var` copies every variable into a new object on each
 * read (a few of them on every request's path).
 */
export interface AppEnv {
  Bindings: Env;
  Variables: {
    /**
     * D1 for reads that may come from a replica at least as new as the client's bookmark (writes
     * through it still go to the primary). See src/db/bookmarks.ts.
     */
    db: Database;
    /** D1's primary: reads that must not miss another's write (a revocation), and routes that write. */
    primary: Database;
    signingKey: Uint8Array;
    /** The authenticated caller; set by `requireUser`. */
    user: User;
    /** The caller's token: what their sockets will live by. Set by `requireUser`. */
    session: Session;
    /** Who a download is for: the signed URL's user or the token's. Set by the download route. */
    downloaderId: number;
  };
}
