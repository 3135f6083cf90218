/**
 * The one way frames leave the room for its sockets. Outside a gathering a frame goes out at once,
 * as `safeSend` would send it. Inside `gather` (the room's stored group of sends), every frame of
 * the turn is kept, in order, and sent at the turn's end: each socket gets its frames in the order
 * they were given, and a socket opened with `frames=batched` gets a run of them as one JSON array
 * frame (docs/PROTOCOL.md, "Batched frames"): one send per socket per group instead of one per
 * message, which is what a delivery costs the runtime most (docs/PERFORMANCE.md, "Fan-out and large
 * chats").
 *
 * Sockets held elsewhere (on fan-out shards, src/room/shards.ts) get the same frames in the same
 * order: each frame for all goes to `elsewhere` once, each frame for one of theirs to its stand-in.
 */
import { safeSend } from "../objects/sockets";

/** Who a frame for all leaves out: the socket that sent a message, or every socket of a user. */
export interface Except {
  socket?: WebSocket | null;
  user?: number;
}

/** A frame and who gets it: one socket, or every socket but `except`. */
export interface Outgoing {
  frame: string;
  only?: WebSocket;
  except?: Except;
}

export interface FanOutRoom {
  /** The room's own sockets. */
  sockets(): WebSocket[];
  /** The room's own sockets of one user. */
  userSockets(userId: number): WebSocket[];
  /** Whether a socket takes several events as one array frame. */
  batched(ws: WebSocket): boolean;
  /** A frame for every socket held elsewhere but `except`, in the order frames are given. */
  elsewhere(frame: string, except: Except): void;
}

/**
 * How much one array frame carries (UTF-16 code units of its events): a longer run is split over
 * several frames, so that a large group never makes one frame a client must hold whole.
 */
export const BATCH_FRAME_MAX_CHARS = 64 * 1024;

/** Frames joined into as few array frames as the size bound allows; a lone frame stays bare. */
export function joinFrames(frames: readonly string[], maxChars = BATCH_FRAME_MAX_CHARS): string[] {
  if (frames.length <= 1) return frames.slice();
  const out: string[] = [];
  let run: string[] = [];
  let size = 0;
  const close = () => {
    if (run.length > 0) out.push(run.length === 1 ? run[0]! : `[${run.join(",")}]`);
    run = [];
    size = 0;
  };
  for (const frame of frames) {
    if (run.length > 0 && size + frame.length + 1 > maxChars) close();
    run.push(frame);
    size += frame.length + 1;
  }
  close();
  return out;
}

export class FanOut {
  private gathered: Outgoing[] | null = null;

  constructor(private readonly room: FanOutRoom) {}

  /** Runs `fn`; what it sends goes out when it returns (or throws), in order. */
  gather<T>(fn: () => T): T {
    if (this.gathered) return fn();
    this.gathered = [];
    try {
      return fn();
    } finally {
      const out = this.gathered;
      this.gathered = null;
      this.deliver(out);
    }
  }

  /** A frame for one socket. */
  to(ws: WebSocket, frame: string): void {
    if (this.gathered) this.gathered.push({ frame, only: ws });
    else safeSend(ws, frame);
  }

  /** A frame for every socket, or every socket but `except`'s. */
  all(frame: string, except?: Except): void {
    const out = except ? { frame, except } : { frame };
    if (this.gathered) this.gathered.push(out);
    else this.deliver([out]);
  }

  /** Sends a turn's frames: to each socket its share, in order, joined for sockets that batch. */
  private deliver(out: readonly Outgoing[]): void {
    if (out.length === 0) return;
    const sockets = this.room.sockets();
    // Sockets held elsewhere first, in order: a frame for one of theirs goes to its stand-in.
    let own: Set<WebSocket> | undefined;
    for (const o of out) {
      if (!o.only) this.room.elsewhere(o.frame, o.except ?? {});
      else if (!(own ??= new Set(sockets)).has(o.only)) safeSend(o.only, o.frame);
    }
    // The room's own sockets that a frame names (a target, an exception) get a share of their own;
    // every other socket gets the frames meant for all, serialised and joined once for all of them.
    const left = out.map((o) => this.leftOut(o));
    const named = new Set<WebSocket>();
    for (const [i, o] of out.entries()) {
      if (o.only) named.add(o.only);
      for (const ws of left[i]!) named.add(ws);
    }
    const common = out.flatMap((o) => (o.only ? [] : [o.frame]));
    let commonJoined: string[] | undefined;
    for (const ws of sockets) {
      let frames = common;
      if (named.has(ws)) frames = out.flatMap((o, i) => ((o.only ? o.only === ws : !left[i]!.includes(ws)) ? [o.frame] : []));
      if (frames.length === 0) continue;
      if (frames.length === 1 || !this.room.batched(ws)) {
        for (const frame of frames) safeSend(ws, frame);
        continue;
      }
      const joined = frames === common ? (commonJoined ??= joinFrames(common)) : joinFrames(frames);
      for (const frame of joined) safeSend(ws, frame);
    }
  }

  /** The room's own sockets a frame for all leaves out. */
  private leftOut({ only, except }: Outgoing): WebSocket[] {
    if (only || !except) return [];
    const left = except.user === undefined ? [] : this.room.userSockets(except.user);
    return except.socket ? [...left, except.socket] : left;
  }
}
