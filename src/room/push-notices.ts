/**
 * Who hears of a message by push, decided by the room from what it already knows, with no D1 query
 * per message: an active member who is not its sender, has not muted the chat (the member list of
 * record) nor blocked the sender (the room's copy of blocks, blocks.ts), has no socket open on the
 * chat (the room's sockets), no inbox socket open, and a push
 * subscription (both as the room's last copy to D1 read them: one read per copy, see
 * src/db/room-copy.ts). Each member's pushes are paced (push-pacing.ts); a push that is due is
 * checked again (they may have come back, muted, left or read it meanwhile) and enqueued as a job
 * (src/push/job.ts) after the message was acknowledged, never on its path. The queue consumer sends
 * it (src/push/deliver.ts).
 *
 * A member the last copy did not see subscribed may have subscribed since: their messages wait for
 * the next copy (every message brings one, about a second after the chat pauses) before they are
 * pushed or dropped. That includes everyone after the room wakes, until its first copy.
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
import type { UnwrittenMarkers } from "./unwritten-markers";

/** Jobs per `sendBatch` (Cloudflare Queues' limit: 100 messages, 256 KB; a job is under 1 KB). */
const ENQUEUE_BATCH = 100;

export interface PushParts {
  store: LogDatabase;
  log: MessageLog;
  members: RoomMembers;
  /** Read markers as they are now (some not written to storage yet). */
  markers: Pick<UnwrittenMarkers, "markerOf">;
  /** Users with a socket open on the chat now. */
  online(): Set<number>;
  /** Whether a user has an inbox open, as the room's last copy read it (activity.ts). */
  inboxes: { inboxOpen(userId: number): boolean };
  /** Whether `recipientId` blocks `senderId` (blocks.ts): no push to them from that sender. */
  isBlockedBy(recipientId: number, senderId: number): boolean;
  waitUntil(promise: Promise<unknown>): void;
}

export class PushNotices {
  private readonly pacer = new PushPacer();
  private readonly enabled: boolean;
  private timer: { at: number; handle: ReturnType<typeof setTimeout> } | null = null;
  /** Active members and whether each muted the chat, as of `members.changes` = `viewAt`. */
  private view = new Map<number, { muted: boolean }>();
  private viewAt = -1;
  /** Members with a push subscription, as of the copy that started at `pushableAsOf` (none, after a wake). */
  private pushable = new Set<number>();
  private pushableAsOf = -Infinity;

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
      // A message from someone they block is neither pushed nor counted.
      else if (!this.room.isBlockedBy(userId, message.sender.id)) this.pacer.offer(userId, message.id, now);
    }
    this.flush(now);
  }

  /**
   * A copy to D1 that started at `asOf` read who has a push subscription (and who an inbox open):
   * what waited for it is decided.
   */
  learnt(pushable: Set<number>, asOf: number): void {
    this.pushable = pushable;
    this.pushableAsOf = asOf;
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

  /** Enqueues the pushes due by `now`, each checked again, and sets the timer for the next. */
  private flush(now: number): void {
    const waitingForCopy = new Set<number>();
    const jobs = this.jobs(this.pacer.due(now), now, waitingForCopy);
    if (jobs.length > 0) {
      this.room.waitUntil(this.enqueue(jobs).catch((err) => console.error(`push: ${jobs.length} jobs could not be enqueued`, err instanceof Error ? err.message : String(err))));
    }
    this.pacer.prune(now);
    // Those waiting for a copy are looked at again when it comes (`learnt`), not by the timer.
    this.arm(this.pacer.next(waitingForCopy));
  }

  private jobs(due: number[], now: number, waitingForCopy: Set<number>): PushJob[] {
    if (due.length === 0) return [];
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
      if (!this.pushable.has(userId)) {
        // Not subscribed as of a copy that came after these messages: nothing to push to.
        if (this.pushableAsOf >= (this.pacer.waitingSince(userId) ?? now)) this.pacer.clear(userId);
        else waitingForCopy.add(userId);
        continue;
      }
      const taken = this.pacer.take(userId, now);
      if (!taken || !chat) continue;
      const row = this.room.log.get(taken.newestId);
      // Read meanwhile (on another device, over HTTP), deleted, or its sender blocked since: nothing to tell.
      const stored = this.room.members.row(userId);
      const read = (stored && this.room.markers.markerOf(stored)) ?? 0;
      if (!row || row.deletedAt !== null || read >= row.id || this.room.isBlockedBy(userId, row.senderId)) continue;
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
