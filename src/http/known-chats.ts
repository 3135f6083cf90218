/**
 * Which chat ids exist, as far as this isolate has seen. A Durable Object reached once has storage
 * (an object created, a database file locally), so the Worker answers a chat id D1 never had with
 * 404 before it reaches any room. Chats are never deleted: an id seen to exist is remembered for the
 * isolate's life (bounded); an id not found is asked again next time, since another isolate may
 * create that chat a moment later.
 */
const MAX_ENTRIES = 100_000;

export type Existence = "exists" | "missing" | "unknown";

export class KnownChats {
  private readonly ids = new Set<number>();

  constructor(private readonly maxEntries = MAX_ENTRIES) {}

  /**
   * Whether chat `id` exists: from memory, else from `load` (true/false). `unknown` when `load`
   * fails as `unavailable` says: the caller lets the room decide, as it can for a chat it holds.
   */
  async check(id: number, load: () => Promise<boolean>, unavailable: (err: unknown) => boolean): Promise<Existence> {
    if (this.ids.has(id)) return "exists";
    let found: boolean;
    try {
      found = await load();
    } catch (err) {
      if (unavailable(err)) return "unknown";
      throw err;
    }
    if (found) this.add(id);
    return found ? "exists" : "missing";
  }

  /** A chat this isolate just created, or found. */
  add(id: number): void {
    if (this.ids.has(id)) return;
    this.ids.add(id);
    if (this.ids.size > this.maxEntries) this.ids.delete(this.ids.values().next().value!);
  }
}

/** The isolate's one set: every request shares it. */
export const knownChats = new KnownChats();
