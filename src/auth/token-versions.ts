/**
 * Each user's current token version, remembered per isolate so that a request or a connect does
 * not need a D1 read each time (D1 is one region away for most users).
 *
 * - Fresh for FRESH_MS: a revocation (logout, password change) made in another isolate takes
 *   effect here within that time; in the isolate that made it, at once (it calls `remember`).
 * - Stale if D1 fails: while D1 is unavailable (any failure of it: `isUnavailable`,
 *   src/db/deadline.ts), a version read in the last STALE_IF_ERROR_MS is used, so signed-in users
 *   keep connecting and chatting through an outage (a revocation made in another isolate just
 *   before it may then be honoured only when D1 is back). For a user not seen recently the failure
 *   is thrown on (503 over HTTP, `unavailable` for a socket's `auth`).
 * - Bounded: the oldest entries go past MAX_ENTRIES.
 */
export const FRESH_MS = 10_000;
export const STALE_IF_ERROR_MS = 60 * 60 * 1000;
const MAX_ENTRIES = 50_000;

interface Entry {
  version: number | null;
  at: number;
}

export class TokenVersions {
  private readonly entries = new Map<number, Entry>();

  constructor(private readonly maxEntries = MAX_ENTRIES) {}

  /** The version, from memory when fresh, else from `load` (null: the user no longer exists). */
  async current(userId: number, load: () => Promise<number | null>, canUseStale: (err: unknown) => boolean, now = Date.now()): Promise<number | null> {
    const hit = this.entries.get(userId);
    if (hit && now - hit.at < FRESH_MS) return hit.version;
    try {
      const version = await load();
      this.remember(userId, version, now);
      return version;
    } catch (err) {
      if (hit && now - hit.at < STALE_IF_ERROR_MS && canUseStale(err)) return hit.version;
      throw err;
    }
  }

  /** What a write just made true (a registration, a login, a revocation). */
  remember(userId: number, version: number | null, now = Date.now()): void {
    this.entries.delete(userId);
    this.entries.set(userId, { version, at: now });
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value!);
  }
}

/** The isolate's one cache: the Worker's requests all share it. */
export const tokenVersions = new TokenVersions();
