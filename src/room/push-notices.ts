/**
 * Who hears of a message by push, decided by the room from what it already knows, with no D1 query
 * per message: an active member who is not its sender, has not muted the chat (the member list of
 * record), has no socket open on the chat (the room's sockets) and no inbox socket open (as the
 * room learnt with its last copy to D1, see activity.ts). Each member's pushes are paced
 * (push-pacing.ts); a push that is due is checked again (they may have come back, muted, left or
 * read it meanwhile) and enqueued as a job (src/push/job.ts) after the message was acknowledged,
 * never on its path. The queue consumer sends it (src/push/deliver.ts).
 */
import type { Message } from "../protocol/models";
import { vapidKeys } from "../push/config";
import type { PushJob } from "../push/job";
import { messagePayload } from "../push/payload";
import { readChat } from "./log/chat";
import type { RoomMembers } from "./log/members";
import type { MessageLog } from "./log/messages";
import type { LogDatabase } from "./log/open";
import { PushPacer } from "./push-pacing";

/**
 * A room that has just woken does not know who has an inbox open until its first copy to D1 (about a
 * second after its first message). Pushes due before then wait for it, at most this long after the
 * room woke; after that they go (a copy that keeps failing means D1 is down, and a push too many
 * beats a push lost).
 */
export const INBOXES_UNKNOWN_WAIT_MS = 5000;

/** Jobs per `sendBatch` (Cloudflare Queues' limit: 100 messages, 256 KB; a job is under 1 KB). */
const ENQUEUE_BATCH = 100;

export interface PushParts {
  store: LogDatabase;
  log: MessageLog;
  members: RoomMembers;
  /** Users with a socket open on the chat now. */
  online(): Set<number>;
  /** What the room knows of open inboxes (activity.ts). */
  inboxes: { readonly knowsInboxes: boolean; inboxOpen(userId: number): boolean };
  waitUntil(promise: Promise<unknown>): void;
}

export class PushNotices {
  private readonly pacer = new PushPacer();
  private readonly enabled: boolean;
  private readonly wokeAt = Date.now();
  private timer: { at: number; handle: ReturnType<typeof setTimeout> } | null = null;
  /** Active members and whether each muted the chat, as of `members.changes` = `viewAt`. */
  private view = new Map<number, { muted: boolean }>();
  private viewAt = -1;

  /**
   * Where jobs go: the push queue. A field so that tests can watch what a room enqueues
   * (test/workers/push-hooks.ts).
   */
  enqueue: (jobs: PushJob[]) => Promise<void>;

  constructor(
    env: Env,
    private readonly room: PushParts,
  ) {
    this.enabled = vapidKeys(env) !== null;
    const queue = env.PUSH_QUEUE as Queue<PushJob>;
    this.enqueue = async (jobs) => {
      for (let i = 0; i < jobs.length; i += ENQUEUE_BATCH) await queue.sendBatch(jobs.slice(i, i + ENQUEUE_BATCH).map((body) => ({ body, contentType: "json" })));
    };
  }

  /** A new message was stored and acknowledged: the members it concerns are offered it. */
  messageStored(message: Message): void {
    if (!this.enabled) return;
    const now = Date.now();
    const online = this.room.online();
    // The sender has the chat before them: whatever of it waited for them is not pushed.
    this.pacer.clear(message.sender.id);
    for (const [userId, { muted }] of this.members()) {
      if (userId === message.sender.id) continue;
      if (muted || this.inApp(userId, online)) this.pacer.clear(userId);
      else this.pacer.offer(userId, message.id, now);
    }
    this.flush(now);
  }

  /** The room learnt who has an inbox open: pushes held until it knew go now. */
  inboxesLearnt(): void {
    if (this.enabled) this.flush(Date.now());
  }

  private inApp(userId: number, online: Set<number>): boolean {
    return online.has(userId) || this.room.inboxes.inboxOpen(userId);
  }

  /** The active members, kept while the member list does not change (every message reads it). */
  private members(): Map<number, { muted: boolean }> {
    const { members } = this.room;
    if (this.viewAt !== members.changes) {
      this.view = new Map(members.active().map((m) => [m.userId, { muted: m.muted }]));
      this.viewAt = members.changes;
    }
    return this.view;
  }

  /**
   * Enqueues the pushes due by `now`, each checked again, and sets the timer for the next. Until the
   * room knows who has an inbox open (or has waited long enough), due pushes wait for it.
   */
  private flush(now: number): void {
    const waitForInboxes = !this.room.inboxes.knowsInboxes && now < this.wokeAt + INBOXES_UNKNOWN_WAIT_MS;
    const due = waitForInboxes ? [] : this.pacer.due(now);
    const jobs = due.length > 0 ? this.jobs(due, now) : [];
    if (jobs.length > 0) {
      this.room.waitUntil(this.enqueue(jobs).catch((err) => console.error(`push: ${jobs.length} jobs could not be enqueued`, err instanceof Error ? err.message : String(err))));
    }
    this.pacer.prune(now);
    const next = this.pacer.next();
    this.arm(next !== null && waitForInboxes ? Math.max(next, this.wokeAt + INBOXES_UNKNOWN_WAIT_MS) : next);
  }

  private jobs(due: number[], now: number): PushJob[] {
    const members = this.members();
    const online = this.room.online();
    const chat = readChat(this.room.store);
    const jobs: PushJob[] = [];
    for (const userId of due) {
      const member = members.get(userId);
      if (!member || member.muted || this.inApp(userId, online)) {
        this.pacer.clear(userId);
        continue;
      }
      const taken = this.pacer.take(userId, now);
      if (!taken || !chat) continue;
      const row = this.room.log.get(taken.newestId);
      // Read meanwhile (on another device, over HTTP), or deleted: nothing to tell.
      const read = this.room.members.row(userId)?.lastRead ?? 0;
      if (!row || row.deletedAt !== null || read >= row.id) continue;
      jobs.push({ userId, payload: messagePayload(chat, this.room.log.toMessage(row), taken.count) });
    }
    return jobs;
  }

  private arm(at: number | null): void {
    if (at === null || (this.timer && this.timer.at <= at)) return;
    if (this.timer) clearTimeout(this.timer.handle);
    const handle = setTimeout(() => {
      this.timer = null;
      this.flush(Date.now());
    }, Math.max(0, at - Date.now()));
    this.timer = { at, handle };
  }
}
