/**
 * D1 read replication, per request (issue 25, item 4; docs/ARCHITECTURE.md "Reads near the user").
 *
 * D1 serves a read from a replica only inside a session (`withSession`); a plain query on the binding
 * always goes to the primary. A replica may be behind, never ahead, so a session started from a
 * bookmark reads from a copy at least as new as that bookmark. The client sends the bookmark it last
 * received (`X-D1-Bookmark`), so a replica near it answers while it still sees its own writes; the
 * Worker answers the latest bookmark of the sessions the request used.
 *
 * Each request has two sessions, made only when first used:
 * - `replica`: from the client's bookmark, else "first-unconstrained". For reads that may trail
 *   others' writes by a replica's lag (login's lookup, user search, whether a chat id exists).
 * - `primary`: "first-primary". For reads that must not miss another's write (the token version: a
 *   revocation; membership checks) and for routes that write and then read what they wrote.
 */
import { database, type Database } from "./client";
import { classify, withDeadline } from "./deadline";

export const BOOKMARK_HEADER = "X-D1-Bookmark";

/**
 * What D1 hands out: four hex fields (locally and in production alike), ordered as strings. Anything
 * else is ignored rather than passed to `withSession`: locally D1 echoes any string back as the
 * session's bookmark (so a junk header would come back to the client and compare above every real
 * one), and in production it may fail the query.
 */
const BOOKMARK = /^[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{8}-[0-9a-f]{32}$/;

/** The header's bookmark, or null when it is absent or not one D1 could have made. */
export function parseBookmark(value: string | null | undefined): string | null {
  return value && BOOKMARK.test(value) ? value : null;
}

/** The newer of two bookmarks (D1's bookmarks compare as strings). */
export function laterBookmark(a: string | null, b: string | null): string | null {
  if (a === null) return b;
  if (b === null) return a;
  return a >= b ? a : b;
}

/**
 * A Database built on first use: most requests (the chat list, messages) never touch D1. A request
 * that does builds Drizzle over its session (the per-binding cache in client.ts cannot serve a
 * per-request object): about 25 µs each, measured, at most two per request.
 */
function lazy(make: () => Database): Database {
  let db: Database | undefined;
  const real = () => (db ??= make());
  return new Proxy({} as Database, {
    get(_, prop) {
      const target = real();
      const value = Reflect.get(target, prop, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

export class RequestDatabases {
  private readonly sessions: D1DatabaseSession[] = [];
  readonly replica: Database;
  readonly primary: Database;

  constructor(binding: D1Database, deadlineMs: number, bookmark: string | null) {
    this.replica = lazy(() => this.open(() => binding.withSession(bookmark ?? "first-unconstrained"), deadlineMs));
    this.primary = lazy(() => this.open(() => binding.withSession("first-primary"), deadlineMs));
  }

  private open(start: () => D1DatabaseSession, deadlineMs: number): Database {
    let session: D1DatabaseSession;
    try {
      session = start();
    } catch (err) {
      // Classified like any failure of the binding: a 503, never a 500.
      throw classify(err);
    }
    this.sessions.push(session);
    return database(withDeadline(session, deadlineMs));
  }

  /** The latest bookmark of the sessions used: what the client should send next. Null if none was. */
  bookmark(): string | null {
    let latest: string | null = null;
    for (const session of this.sessions) latest = laterBookmark(latest, parseBookmark(session.getBookmark()));
    return latest;
  }
}
