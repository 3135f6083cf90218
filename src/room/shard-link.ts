/**
 * The room's side of one fan-out shard: the ordered stream of operations it sends that shard (one
 * call at a time, a burst in one call), and the stand-ins for the shard's sockets the room's code
 * talks to as if they were its own.
 */
import { type Batch, type Delivered, type Op, type Position } from "../fanout/batch";
import { Pipe } from "../fanout/pipe";
import { shardStub } from "../fanout/placement";
import type { SocketAttachment } from "./typing-sockets";

/**
 * Operations per delivery call: a burst behind a slow shard goes in several calls of bounded size
 * (a frame is at most ~12 KB: a 4,000-character message; 500 of them stay far below an RPC's limit).
 */
const OPS_PER_CALL = 500;
/** Waits between attempts after a failed delivery; after the last, the shard is given up on until the next operation. */
const RETRY_MS = [100, 250, 500, 1000, 2000, 4000, 8000, 15_000, 30_000];

export interface LinkEvents {
  /** A delivery went through: the shard's instance and socket count. */
  delivered(link: ShardLink, answer: Delivered): void;
  /** Every retry failed: the shard is unreachable for now. */
  unreachable(link: ShardLink): void;
}

export class ShardLink {
  /** Operations pushed, and sent (the last position each reached). */
  private pushed = 0;
  private sent = 0;
  private failures = 0;
  /**
   * A delivery failed (or the room restarted without knowing what its last instance delivered):
   * the next batch tells the shard that operations before it may be missing.
   */
  private suspect = false;
  private stub: ReturnType<typeof shardStub> | undefined;
  private readonly pipe: Pipe<Op>;
  /** The shard instance last heard from; undefined until one answered. */
  instance: string | undefined;

  constructor(
    readonly name: string,
    private readonly env: Env,
    private readonly epoch: number,
    private readonly events: LinkEvents,
  ) {
    this.pipe = new Pipe(
      (ops) => this.deliver(ops),
      (ops, err) => this.failed(ops, err),
      OPS_PER_CALL,
    );
  }

  /** Where the stream stands: a socket joining now gets the operations after this. */
  get position(): Position {
    return { epoch: this.epoch, seq: this.pushed };
  }

  /** Whether operations are waiting or under way, or a failure is not yet told. */
  get busy(): boolean {
    return this.pipe.busy || this.suspect;
  }

  push(op: Op): void {
    this.pushed++;
    this.pipe.push(op);
  }

  /** Makes the shard hear at once that operations may be missing (the room restarted without knowing). */
  markSuspect(): void {
    this.suspect = true;
    this.pipe.kick();
  }

  idle(): Promise<void> {
    return this.pipe.idle();
  }

  private async deliver(ops: Op[]): Promise<void> {
    const batch: Batch = { epoch: this.epoch, first: this.sent + 1, ops, ...(this.suspect ? { maybeGap: true as const } : {}) };
    // Counted as sent whether or not the call succeeds: a failed batch leaves a hole the next one shows.
    this.sent += ops.length;
    this.stub ??= shardStub(this.env, this.name);
    const answer = await this.stub.deliver(batch);
    this.suspect = false;
    this.failures = 0;
    this.events.delivered(this, answer);
  }

  private failed(ops: Op[], err: unknown): number | null {
    console.error(`fan-out shard ${this.name} missed ${ops.length} operations`, err instanceof Error ? err.message : String(err));
    // A stub whose call failed may be broken for good; a new one is cheap.
    this.stub = undefined;
    this.suspect = true;
    const wait = RETRY_MS[this.failures++];
    if (wait !== undefined) return wait;
    this.failures = 0;
    this.events.unreachable(this);
    return null;
  }
}

/**
 * A socket on a shard, as the room's code sees it: the members of a WebSocket the room uses
 * (`send`, `close`, `readyState`, the attachment), each turned into an operation for its shard.
 */
export class RemoteSocket {
  readyState: number = WebSocket.OPEN;

  constructor(
    readonly id: string,
    readonly link: ShardLink,
    private attachment: SocketAttachment,
  ) {}

  send(frame: string): void {
    if (this.readyState === WebSocket.OPEN) this.link.push({ kind: "to", socket: this.id, frame });
  }

  close(code: number, reason: string): void {
    if (this.readyState !== WebSocket.OPEN) return;
    this.readyState = WebSocket.CLOSING;
    this.link.push({ kind: "close", socket: this.id, code, reason });
  }

  serializeAttachment(attachment: SocketAttachment): void {
    // A new session (`auth`) is the shard's to know too: it closes sockets at their expiry.
    if (attachment.session !== this.attachment.session) this.link.push({ kind: "session", socket: this.id, session: attachment.session });
    this.attachment = attachment;
  }

  deserializeAttachment(): SocketAttachment {
    return this.attachment;
  }

  /** The room's code takes it where it takes a WebSocket: it only uses the members above. */
  get asWebSocket(): WebSocket {
    return this as unknown as WebSocket;
  }
}
