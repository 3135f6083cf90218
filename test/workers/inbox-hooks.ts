/**
 * Test-only faults and call counts for inbox objects. RPC calls only methods of the class (an own property on the
 * instance is not reachable), so the prototype's `deliver` is wrapped and only the chosen
 * instances misbehave; `restoreInboxes` puts the original back.
 */
import { env, runInDurableObject } from "cloudflare:test";
import type { InboxRoom } from "../../src/inbox/inbox-room";

type Deliver = (this: InboxRoom, frames: string[]) => Promise<void>;
type Fault = "hang" | "throw";

const faults = new WeakMap<InboxRoom, Fault>();
const calls = new WeakMap<InboxRoom, number>();
let original: Deliver | undefined;

export const inboxStub = (userId: number) => env.INBOX.get(env.INBOX.idFromName(String(userId)));

/** Wraps `deliver` once for all inboxes: counts every call, then misbehaves where told to. */
function instrument(room: InboxRoom): void {
  const proto = Object.getPrototypeOf(room) as { deliver: Deliver };
  if (original) return;
  const real = (original = proto.deliver);
  proto.deliver = function (frames) {
    calls.set(this, (calls.get(this) ?? 0) + 1);
    switch (faults.get(this)) {
      case "hang":
        return new Promise<void>(() => {});
      case "throw":
        return Promise.reject(new Error("inbox exploded"));
      default:
        return real.call(this, frames);
    }
  };
}

/** From now on the user's inbox never answers (`hang`) or fails (`throw`) when a room calls it. */
export async function breakInbox(userId: number, fault: Fault): Promise<void> {
  await runInDurableObject(inboxStub(userId), (room: InboxRoom) => {
    instrument(room);
    faults.set(room, fault);
  });
}

/** How many times rooms or the Worker called the user's inbox since it was first watched (0 then). */
export async function deliveriesTo(userId: number): Promise<number> {
  return runInDurableObject(inboxStub(userId), (room: InboxRoom) => {
    instrument(room);
    return calls.get(room) ?? 0;
  });
}

export async function restoreInboxes(userIds: number[]): Promise<void> {
  for (const userId of userIds) await runInDurableObject(inboxStub(userId), (room: InboxRoom) => void faults.delete(room));
}
