/**
 * Test-only faults and call records for inbox objects. RPC calls only methods of the class (an own property on the
 * instance is not reachable), so the prototype's `relay` is wrapped and only the chosen
 * instances misbehave; `restoreInboxes` puts the original back.
 */
import { env, runInDurableObject } from "cloudflare:test";
import type { InboxRoom } from "../../src/inbox/inbox-room";
import type { InboxFrame } from "../../src/protocol/events";

type Relay = (this: InboxRoom, frames: string[]) => Promise<void>;
type Fault = "hang" | "throw";

const faults = new WeakMap<InboxRoom, Fault>();
/** Every call, in arrival order, with the frames it carried (recorded before any fault applies). */
const calls = new WeakMap<InboxRoom, string[][]>();
let original: Relay | undefined;

export const inboxStub = (userId: number) => env.INBOX.get(env.INBOX.idFromName(String(userId)));

/** Wraps `relay` once for all inboxes: records every call, then misbehaves where told to. */
function instrument(room: InboxRoom): void {
  const proto = Object.getPrototypeOf(room) as { relay: Relay };
  if (original) return;
  const real = (original = proto.relay);
  proto.relay = function (frames) {
    let seen = calls.get(this);
    if (!seen) calls.set(this, (seen = []));
    seen.push([...frames]);
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
    return calls.get(room)?.length ?? 0;
  });
}

/**
 * Every frame rooms or the Worker asked the user's inbox to relay since it was first watched, in
 * order, whether or not a socket was open to receive it (and whether or not the inbox was broken).
 */
export async function relayedTo(userId: number): Promise<InboxFrame[]> {
  const raw = await runInDurableObject(inboxStub(userId), (room: InboxRoom) => {
    instrument(room);
    return (calls.get(room) ?? []).flat();
  });
  return raw.map((frame) => JSON.parse(frame) as InboxFrame);
}

export async function restoreInboxes(userIds: number[]): Promise<void> {
  for (const userId of userIds) await runInDurableObject(inboxStub(userId), (room: InboxRoom) => void faults.delete(room));
}
