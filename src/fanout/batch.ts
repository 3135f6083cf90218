/**
 * What a chat room sends its fan-out shards, and the rules a shard delivers it by (pure: the room
 * and the shard both follow them, and they are unit-tested on their own).
 *
 * Everything the room does to a socket that lives on a shard — a frame to all, a frame to one, a
 * close — is an operation with a position in the room's order for that shard. A shard applies each
 * operation to the sockets it targets that joined before it, in position order, so each socket
 * sees exactly what it would have seen on the room itself, in the same order.
 */
import type { Session } from "../objects/handshake";
import type { ParsedClientFrame } from "../protocol/schemas";
import type { User } from "../protocol/models";

/**
 * A place in one room instance's order for one shard: `epoch` numbers the room's starts (it only
 * grows), `seq` the operations the instance sent that shard.
 */
export interface Position {
  epoch: number;
  seq: number;
}

export type Op =
  /** A frame to every socket of the shard, but the one that caused it or its user's. */
  | { kind: "all"; frame: string; exceptSocket?: string; exceptUser?: number }
  /** A frame to one socket (an ack, an error, `joined_chat`). */
  | { kind: "to"; socket: string; frame: string }
  /** A read-receipt window: each socket takes the form it asked for (`receipts=batched` or not). */
  | { kind: "receipts"; batched: string; oneByOne: string[] }
  /** Closes one socket, or a user's sockets (those of a token older than `belowVersion`, if given). */
  | { kind: "close"; socket?: string; user?: number; belowVersion?: number; code: number; reason: string }
  /** A socket's session changed in the room (`auth`): the shard keeps its copy for its own expiry checks. */
  | { kind: "session"; socket: string; session: Session };

/** One delivery: `ops[i]` is at position `{ epoch, seq: first + i }`. */
export interface Batch {
  epoch: number;
  first: number;
  ops: Op[];
  /**
   * Operations before `first` may never have arrived: a delivery failed, or the room restarted
   * without knowing what its last instance delivered. A shard that cannot tell otherwise closes the
   * sockets that joined before them, to reconnect with `since`.
   */
  maybeGap?: true;
}

/** What a shard answers a delivery: `instance` changes when the shard restarted (its sockets may have gone). */
export interface Delivered {
  instance: string;
  sockets: number;
}

/** A socket on a shard, as the shard keeps it (its WebSocket attachment). */
export interface ShardSocket {
  user: User;
  session: Session;
  /** The socket's id, also its tag: how the room addresses it. */
  socket: string;
  /** Operations after this position are the socket's; earlier ones were before it joined. */
  joined: Position;
  batchedReceipts?: true;
}

/** What a shard tells the room, in its sockets' order: a frame from one, or that one closed. */
export type FromShard = { socket: string; frame: ParsedClientFrame } | { socket: string; left: true };

/** The shard's sockets as the room needs them after a restart, and those still joining. */
export interface Roster {
  instance: string;
  open: { socket: string; user: User; session: Session; batchedReceipts?: true }[];
  joining: string[];
}

/** Whether `a` comes after `b`. */
export const isAfter = (a: Position, b: Position): boolean => a.epoch > b.epoch || (a.epoch === b.epoch && a.seq > b.seq);

/** Whether operation `op` concerns `socket` at all (before asking whether it joined in time). */
export function targets(op: Op, socket: Pick<ShardSocket, "socket" | "user" | "session">): boolean {
  switch (op.kind) {
    case "all":
      return op.exceptSocket !== socket.socket && op.exceptUser !== socket.user.id;
    case "to":
    case "session":
      return op.socket === socket.socket;
    case "close":
      if (op.socket !== undefined) return op.socket === socket.socket;
      return op.user === socket.user.id && (op.belowVersion === undefined || socket.session.version < op.belowVersion);
    case "receipts":
      return true;
  }
}

/**
 * The operations a shard delivered last, so that a socket whose join was answered after later
 * operations had already gone out still gets them. Bounded: a join answered later than this many
 * operations is not caught up (the socket closes and reconnects with `since`). Holds one run of
 * consecutive positions of one epoch: the shard clears it on a new epoch or a gap.
 */
export class RecentOps {
  private readonly ops: { at: Position; op: Op }[] = [];

  constructor(private readonly capacity = 4096) {}

  /** The newest position delivered, if any. */
  get last(): Position | undefined {
    return this.ops.at(-1)?.at;
  }

  add(at: Position, op: Op): void {
    this.ops.push({ at, op });
    if (this.ops.length > this.capacity) this.ops.splice(0, this.ops.length - this.capacity);
  }

  /** The operations after `joined`; null when some of them are no longer (or never were) here. */
  after(joined: Position): { at: Position; op: Op }[] | null {
    const last = this.last;
    if (!last || !isAfter(last, joined)) return [];
    const first = this.ops[0]!.at;
    if (first.epoch !== joined.epoch || first.seq > joined.seq + 1) return null;
    return this.ops.slice(joined.seq + 1 - first.seq);
  }

  /** Forgets everything: a new epoch, or a gap, starts a new run. */
  clear(): void {
    this.ops.length = 0;
  }
}

/**
 * Whether operations meant for a shard went missing before `batch`, given the last position it
 * applied (undefined when it restarted since: then only the room can say).
 */
export function missingBefore(last: Position | undefined, batch: Pick<Batch, "epoch" | "first" | "maybeGap">): boolean {
  if (last && last.epoch === batch.epoch) return batch.first > last.seq + 1;
  if (batch.maybeGap) return true;
  // A newer room instance's batch that is not its first, while this shard remembers an older one:
  // the earlier batches of the newer instance never came.
  return last !== undefined && batch.first > 1;
}

/** What a socket placed on a shard asked for on its upgrade. */
export interface RemoteJoin {
  since: number | null;
  changesSince: number | null;
  batchedReceipts: boolean;
}
