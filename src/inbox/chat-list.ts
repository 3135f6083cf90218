/**
 * The user's chat list, kept by their inbox. Which chats they are in is recorded here, told by the
 * Worker after each decision of a chat's room with that room's membership version, so a call that
 * arrives late never undoes a later one. Each chat's state (last message, unread count, markers,
 * members, name) is asked of its room when the list is read: current, the user's own writes
 * included, and no D1 on the way. A room that says the user is not a member takes the chat off.
 *
 * An inbox with no record yet (a user from before the inbox kept one) builds it from D1 once; after
 * that D1 is read again only in the background, now and then, to take in an add whose call to the
 * inbox was lost.
 */
import type { Database } from "../db/client";
import { chatIdsOf } from "../db/chats";
import { refuse, type Answer } from "../objects/answers";
import { chatRoom } from "../objects/stubs";
import { ErrorCode } from "../protocol/errors";
import type { Chat, User } from "../protocol/models";

/** How old the record may be before a read of the list also checks it against D1 (off the read's path). */
export const RESYNC_MS = 10 * 60 * 1000;
/** Rooms asked at a time. */
const CONCURRENCY = 50;

interface Entry {
  member: boolean;
  /** The room's membership version of the change that set it (0: from creation, or from D1). */
  version: number;
}

const PREFIX = "chat:";
const BUILT = "chats_built_at";

/** Newest activity first; a message counts as newer than a creation at the same millisecond, then the larger id. */
export function byActivity(a: Chat, b: Chat): number {
  const at = (c: Chat) => Date.parse(c.lastMessage?.timestamp ?? c.createdAt);
  return at(b) - at(a) || Number(b.lastMessage !== null) - Number(a.lastMessage !== null) || b.id - a.id;
}

export class ChatList {
  constructor(
    private readonly kv: SyncKvStorage,
    private readonly env: Env,
    private readonly userId: number,
  ) {}

  /** The record is complete with what it has (a new user: no chats in D1 to take in). */
  startFresh(now = Date.now()): void {
    if (this.kv.get<number>(BUILT) === undefined) this.kv.put(BUILT, now);
  }

  /** A room's decision about this user; false when a later one is already recorded. */
  record(chatId: number, member: boolean, version: number): boolean {
    const known = this.kv.get<Entry>(PREFIX + chatId);
    if (known && known.version > version) return false;
    if (known?.member !== member || known.version !== version) this.kv.put<Entry>(PREFIX + chatId, { member, version });
    return true;
  }

  /** The list, each chat as its room has it now; `unavailable` if the record cannot be built or a room cannot answer. */
  async read(user: User, db: Database, background: (work: Promise<unknown>) => void, now = Date.now()): Promise<Answer<{ chats: Chat[] }>> {
    const builtAt = this.kv.get<number>(BUILT);
    if (builtAt === undefined) {
      try {
        this.takeIn(await chatIdsOf(db, this.userId), now);
      } catch (err) {
        console.error("inbox could not build its chat list", err instanceof Error ? err.message : String(err));
        return refuse(ErrorCode.Unavailable, "the chat list is unavailable; try again shortly");
      }
    } else if (now - builtAt > RESYNC_MS) {
      this.kv.put(BUILT, now);
      background(chatIdsOf(db, this.userId).then((ids) => this.takeIn(ids, now), () => this.kv.put(BUILT, builtAt)));
    }
    const entries = [...this.kv.list<Entry>({ prefix: PREFIX })].filter(([, e]) => e.member);
    const chats: Chat[] = [];
    let failed = 0;
    let next = 0;
    const worker = async () => {
      while (next < entries.length) {
        const [key, entry] = entries[next++]!;
        const chatId = Number(key.slice(PREFIX.length));
        try {
          const answer = await chatRoom(this.env, chatId).chat(user);
          if (answer.ok) chats.push(answer.chat);
          else if (answer.code === ErrorCode.Forbidden || answer.code === ErrorCode.NotFound) this.dropIfUnchanged(chatId, entry);
          else failed++;
        } catch (err) {
          console.error("a room did not answer for the chat list", err instanceof Error ? err.message : String(err));
          failed++;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, entries.length) }, worker));
    if (failed > 0) return refuse(ErrorCode.Unavailable, "some of your chats cannot be read now; try again shortly");
    return { ok: true, chats: chats.sort(byActivity) };
  }

  /** Chats D1 lists that the record does not know yet (it knows better about every other). */
  private takeIn(chatIds: number[], now: number) {
    for (const chatId of chatIds) if (this.kv.get<Entry>(PREFIX + chatId) === undefined) this.kv.put<Entry>(PREFIX + chatId, { member: true, version: 0 });
    this.kv.put(BUILT, now);
  }

  /** The room said "not a member": off the list, unless a newer decision came in meanwhile. */
  private dropIfUnchanged(chatId: number, seen: Entry) {
    const now = this.kv.get<Entry>(PREFIX + chatId);
    if (now?.member && now.version === seen.version) this.kv.put<Entry>(PREFIX + chatId, { member: false, version: seen.version });
  }
}
