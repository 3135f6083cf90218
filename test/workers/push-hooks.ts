/**
 * Test-only views of a room's push notices (src/room/push-notices.ts): the jobs it enqueues (instead
 * of sending them to the queue), whether a push still waits, and the room learning who has an inbox
 * open (its copy to D1 does that; `learnInboxes` runs one now).
 */
import { runInDurableObject } from "cloudflare:test";
import type { PushJob } from "../../src/push/job";
import type { ChatRoom } from "../../src/room/chat-room";
import { roomStub } from "./helpers";

interface Internals {
  pushes: { enqueue: (jobs: PushJob[]) => Promise<void>; pacer: { next(): number | null } };
  d1Copy: { run(): Promise<void> };
  activity: { knowsInboxes: boolean };
}
const internals = (room: ChatRoom) => room as unknown as Internals;

/** From now on the chat's room hands its push jobs to the returned list instead of the queue. */
export async function watchPushes(chatId: number, enqueue?: (jobs: PushJob[]) => Promise<void>): Promise<PushJob[]> {
  const jobs: PushJob[] = [];
  await runInDurableObject(roomStub(chatId), (room: ChatRoom) => {
    internals(room).pushes.enqueue = enqueue ?? (async (batch) => void jobs.push(...batch));
  });
  return jobs;
}

/** Whether any push of the chat still waits for its time (pacing, or the room learning inboxes). */
export const pushesWaiting = (chatId: number) => runInDurableObject(roomStub(chatId), (room: ChatRoom) => internals(room).pushes.pacer.next() !== null);

/** A copy to D1 now, which tells the room who has an inbox open. */
export const learnInboxes = (chatId: number) => runInDurableObject(roomStub(chatId), (room: ChatRoom) => internals(room).d1Copy.run());

export const knowsInboxes = (chatId: number) => runInDurableObject(roomStub(chatId), (room: ChatRoom) => internals(room).activity.knowsInboxes);
