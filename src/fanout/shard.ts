/**
 * A fan-out shard: a Durable Object holding a share of one large chat's sockets, near their users
 * (named `<chatId>/<region>/<n>`, created with the region's location hint). It decides nothing: the
 * chat's room checks every join, stores and orders everything, and sends each shard its operations
 * once per batch (`deliver`); the shard applies them to its sockets in order (batch.ts) and hands
 * its sockets' frames and closes to the room, in order, one call at a time.
 *
 * Hibernation API like the room: an idle shard costs nothing and `ping` never wakes it. What lives
 * in memory (the last position, the recent operations) is only needed while deliveries flow.
 */
import { errorResponse } from "../objects/responses";
import { HibernatingObject } from "../objects/hibernating-object";
import { isUpgrade, verifiedCaller } from "../objects/handshake";
import { safeSend } from "../objects/sockets";
import { chatRoom } from "../objects/stubs";
import { ErrorCode } from "../protocol/errors";
import { compiledClientFrame } from "../protocol/compiled-schemas";
import type { ParsedClientFrame } from "../protocol/schemas";
import { isAfter, missingBefore, RecentOps, targets, type Batch, type Delivered, type FromShard, type Op, type Position, type Roster, type ShardSocket } from "./batch";
import { parseShardName } from "./placement";
import { Pipe } from "./pipe";

/** Closes a socket that may have missed operations; the client reconnects with `since` (PROTOCOL.md: a server restart). */
const RECONNECT = { code: 1012, reason: "reconnect with since" } as const;
const RETRY_MS = [100, 500, 2000, 10_000];

const numberOrNull = (value: string | null) => (value === null ? null : Number(value));

export class FanoutShard extends HibernatingObject<ShardSocket, typeof compiledClientFrame> {
  protected readonly frameSchema = compiledClientFrame;
  private readonly name: string;
  /** New with every start: the room learns from it that the shard may have lost sockets. */
  private readonly instance = crypto.randomUUID();
  private readonly recent = new RecentOps();
  /** The last position applied; unknown after a start. */
  private position: Position | undefined;
  /** Sockets whose join the room is deciding. */
  private readonly joining = new Set<string>();
  private readonly toRoom: Pipe<FromShard>;
  private failures = 0;
  private room: ReturnType<typeof chatRoom> | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env, parseShardName(ctx.id.name).chatId);
    this.name = ctx.id.name!;
    this.toRoom = new Pipe(
      async (items) => {
        await this.roomStub().fromShard(this.name, items);
        this.failures = 0;
      },
      (items, err) => this.undelivered(items, err),
    );
    void ctx.blockConcurrencyWhile(() => this.readAlarm());
  }

  /** An upgrade the room placed here: the room checks it and answers what to send first. */
  override async fetch(request: Request): Promise<Response> {
    const caller = verifiedCaller(request);
    if (!caller || !isUpgrade(request)) return new Response("shards are reached through the Worker", { status: 400 });
    const query = new URL(request.url).searchParams;
    const socket = crypto.randomUUID();
    this.joining.add(socket);
    let answer;
    try {
      answer = await this.roomStub().joinRemote(this.name, socket, caller, {
        since: numberOrNull(query.get("since")),
        changesSince: numberOrNull(query.get("changesSince")),
        batchedReceipts: query.get("receipts") === "batched",
      });
    } catch (err) {
      this.room = undefined;
      console.error("fan-out shard could not join a socket", err instanceof Error ? err.message : String(err));
      // The room may have taken it in before the call failed.
      this.toRoom.push({ socket, left: true });
      return errorResponse(ErrorCode.Unavailable, "the chat is unavailable; try again shortly");
    } finally {
      this.joining.delete(socket);
    }
    if (!answer.ok) return errorResponse(answer.code, answer.error);
    const attachment: ShardSocket = { user: caller.user, session: caller.session, socket, joined: answer.after, ...(query.get("receipts") === "batched" ? { batchedReceipts: true as const } : {}) };
    const { socket: ws, response } = this.accept(attachment, [socket]);
    for (const frame of answer.frames) safeSend(ws, frame);
    // Operations delivered while the room's answer travelled are this socket's too.
    const missed = this.recent.after(answer.after);
    if (missed === null) ws.close(RECONNECT.code, RECONNECT.reason);
    else for (const { at, op } of missed) this.apply(op, at, [ws]);
    void this.alarmNoLaterThan(this.nextSessionExpiry());
    return response;
  }

  /** A batch of the room's operations, in its order. */
  async deliver(batch: Batch): Promise<Delivered> {
    const last = this.position;
    if (last && batch.epoch < last.epoch) return this.delivered(); // an earlier room instance's, late
    if (missingBefore(last, batch)) {
      const before = { epoch: batch.epoch, seq: batch.first - 1 };
      for (const ws of this.openSockets()) if (isAfter(before, this.attachment(ws).joined)) ws.close(RECONNECT.code, RECONNECT.reason);
      this.recent.clear();
    } else if (last && batch.epoch > last.epoch) {
      this.recent.clear();
    }
    batch.ops.forEach((op, i) => {
      const at = { epoch: batch.epoch, seq: batch.first + i };
      if (last && !isAfter(at, last)) return; // delivered already (a retried call that had arrived)
      this.apply(op, at);
      this.recent.add(at, op);
      this.position = at;
    });
    if (batch.ops.length === 0 && (!last || isAfter({ epoch: batch.epoch, seq: batch.first - 1 }, last))) this.position = { epoch: batch.epoch, seq: batch.first - 1 };
    return this.delivered();
  }

  /** The sockets here, for a room that starts (or mends its copy after this shard restarted). */
  async roster(): Promise<Roster> {
    return {
      instance: this.instance,
      open: this.openSockets().map((ws) => {
        const { socket, user, session, batchedReceipts } = this.attachment(ws);
        return { socket, user, session, ...(batchedReceipts ? { batchedReceipts } : {}) };
      }),
      joining: [...this.joining],
    };
  }

  protected async onFrame(ws: WebSocket, frame: ParsedClientFrame): Promise<void> {
    this.toRoom.push({ socket: this.attachment(ws).socket, frame });
  }

  protected async onClose(_ws: WebSocket, { socket }: ShardSocket): Promise<void> {
    this.toRoom.push({ socket, left: true });
  }

  protected async onAlarm(): Promise<void> {
    await this.alarmNoLaterThan(this.nextSessionExpiry());
  }

  private delivered(): Delivered {
    return { instance: this.instance, sockets: this.openSockets().length };
  }

  /** Applies `op` (at `at`) to the sockets it targets that joined before it (among `among`, if given). */
  private apply(op: Op, at: Position, among?: WebSocket[]): void {
    for (const ws of among ?? this.candidates(op)) {
      const attachment = this.attachment(ws);
      if (!isAfter(at, attachment.joined) || !targets(op, attachment)) continue;
      switch (op.kind) {
        case "all":
        case "to":
          safeSend(ws, op.frame);
          break;
        case "receipts":
          if (attachment.batchedReceipts) safeSend(ws, op.batched);
          else for (const frame of op.oneByOne) safeSend(ws, frame);
          break;
        case "close":
          ws.close(op.code, op.reason);
          break;
        case "session":
          this.reattach(ws, { ...attachment, session: op.session });
          void this.alarmNoLaterThan(op.session.expiresAt);
          break;
      }
    }
  }

  /** The sockets an operation may concern, found by tag where it names one socket or user. */
  private candidates(op: Op): WebSocket[] {
    if ((op.kind === "to" || op.kind === "session" || op.kind === "close") && op.socket !== undefined) return this.ctx.getWebSockets(op.socket);
    if (op.kind === "close" && op.user !== undefined) return this.ctx.getWebSockets(String(op.user));
    return this.ctx.getWebSockets();
  }

  /**
   * A call to the room failed: the frames in it may be lost, so their sockets reconnect (a client
   * resends what was not acknowledged); closes are told again until the room hears them.
   */
  private undelivered(items: FromShard[], err: unknown): number | null {
    console.error(`fan-out shard ${this.name} could not reach its room`, err instanceof Error ? err.message : String(err));
    this.room = undefined;
    let again = false;
    for (const item of items) {
      if ("left" in item) {
        this.toRoom.push(item);
        again = true;
      } else {
        for (const ws of this.ctx.getWebSockets(item.socket)) ws.close(RECONNECT.code, RECONNECT.reason);
      }
    }
    return again ? (RETRY_MS[Math.min(this.failures++, RETRY_MS.length - 1)] ?? null) : null;
  }

  private roomStub() {
    return (this.room ??= chatRoom(this.env, this.namedAfter));
  }
}
