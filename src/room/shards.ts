/**
 * A room's sockets beyond its own: where a new socket goes once the room holds FANOUT_SHARD_SOCKETS
 * (a fan-out shard of the caller's region with room left), the sockets the shards hold (stand-ins
 * the room's code uses as its own: presence, sessions, acks), and what the room sends them: one
 * operation per shard for each frame to all, in the room's order (docs/ARCHITECTURE.md, "Large
 * rooms: fan-out shards").
 *
 * The shards hold the truth about their sockets; the room keeps a copy in memory, loaded from their
 * rosters when the room starts and mended when a shard restarts. Storage keeps only which shards
 * the chat uses, the room's start count (the epoch) and how far the shards were sent the log.
 */
import type { Delivered, Position, Roster } from "../fanout/batch";
import { regionOf, shardName, shardStub } from "../fanout/placement";
import type { ReceiptFrames } from "./read-receipts";
import { RemoteSocket, ShardLink, type LinkEvents } from "./shard-link";
import type { SocketAttachment } from "./typing-sockets";

/** Which shards the chat uses (a list: written when one is first used or found empty). */
const SHARDS_KEY = "fanout:shards";
/** The room's starts, counted: each start numbers its operations anew. */
const EPOCH_KEY = "fanout:epoch";
/** The log's position all shards were sent, written once they had it (at most once a second). */
const DELIVERED_KEY = "fanout:delivered";
/** A placement not yet joined counts against its shard this long. */
const RESERVATION_MS = 10_000;
/** A shard that does not give its roster within this long is left unknown (broadcasts still reach it). */
const ROSTER_TIMEOUT_MS = 2000;
const WATERMARK_EVERY_MS = 1000;

export interface LogPosition {
  messageId: number;
  changeId: number;
}

export interface ShardsRoom {
  chatId: number;
  env: Env;
  kv: SyncKvStorage;
  /** Where the log stands now. */
  logPosition(): LogPosition;
  /** A shard's socket closed or was found gone: presence and typing, as for one of the room's own. */
  closed(ws: WebSocket, attachment: SocketAttachment): Promise<void>;
}

const within = <T>(work: Promise<T>, ms: number): Promise<T> =>
  Promise.race([work, new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms))]);

export class Shards implements LinkEvents {
  /** Sockets the room holds itself, and each shard at most (a placement in flight may pass it by a few). */
  readonly capacity: number;
  private readonly names: Set<string>;
  private readonly links = new Map<string, ShardLink>();
  private readonly remote = new Map<string, RemoteSocket>();
  private readonly byUser = new Map<number, Set<RemoteSocket>>();
  private readonly byLink = new Map<string, Set<RemoteSocket>>();
  /** When each stand-in was registered (a count), so a roster asked later cannot drop a newer one. */
  private readonly registeredAt = new WeakMap<RemoteSocket, number>();
  private registrations = 0;
  /** Per shard, when each placement not yet joined stops counting (no timer: a timer would keep the room awake). */
  private readonly reserved = new Map<string, number[]>();
  /** Shards whose sockets the room knows: new ones, and those whose roster it read. */
  private readonly known = new Set<string>();
  private loading: Promise<void> = Promise.resolve();
  private epochNumber: number | undefined;
  /** What DELIVERED_KEY holds. */
  private watermark: LogPosition | undefined;
  private watermarkAt = 0;
  private watermarkTimer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly room: ShardsRoom) {
    this.capacity = Math.max(1, Math.floor(Number(room.env.FANOUT_SHARD_SOCKETS)) || 2000);
    this.names = new Set(room.kv.get<string[]>(SHARDS_KEY) ?? []);
    if (this.names.size === 0) return;
    // What the last instance sent but may not have delivered is unknown unless it recorded it:
    // the shards then close the sockets that may have missed something (they reconnect with `since`).
    this.watermark = room.kv.get<LogPosition>(DELIVERED_KEY);
    const now = room.logPosition();
    const complete = this.watermark !== undefined && this.watermark.messageId >= now.messageId && this.watermark.changeId >= now.changeId;
    for (const name of this.names) if (!complete) this.link(name).markSuspect();
    this.loading = this.loadRosters();
  }

  /** Resolves once the room knows the shards' sockets (at once, unless it just started with shards in use). */
  ready(): Promise<void> {
    return this.loading;
  }

  /** Sockets on shards (for occupancy). */
  get count(): number {
    return this.remote.size;
  }

  /**
   * Where a new socket goes: null for the room itself (it holds fewer than `capacity`), or the name
   * of the first shard of the caller's region (`near`: the Worker's header) with room left.
   */
  place(roomSockets: number, near: string | null): string | null {
    if (roomSockets < this.capacity) return null;
    const region = regionOf(near);
    for (let index = 0; ; index++) {
      const name = shardName({ chatId: this.room.chatId, region, index });
      if ((this.byLink.get(name)?.size ?? 0) + this.reservations(name) >= this.capacity) continue;
      this.reserved.set(name, [...(this.reserved.get(name) ?? []), Date.now() + RESERVATION_MS]);
      this.use(name);
      return name;
    }
  }

  /** A shard's socket the room accepted: its stand-in, and the position after which operations are its. */
  join(shard: string, socket: string, attachment: SocketAttachment): { after: Position } {
    this.use(shard);
    const link = this.link(shard);
    this.add(new RemoteSocket(socket, link, attachment));
    this.unreserve(shard);
    return { after: link.position };
  }

  /** A shard's socket closed: its stand-in (closed now), or undefined if the room did not know it. */
  left(socket: string): WebSocket | undefined {
    const proxy = this.remote.get(socket);
    if (!proxy) return undefined;
    this.remote.delete(socket);
    proxy.readyState = WebSocket.CLOSED;
    this.byUser.get(proxy.deserializeAttachment().user.id)?.delete(proxy);
    const onLink = this.byLink.get(proxy.link.name);
    onLink?.delete(proxy);
    if (!onLink?.size) this.forgetIfEmpty(proxy.link.name);
    return proxy.asWebSocket;
  }

  /** The stand-in of a shard's socket. */
  get(socket: string): WebSocket | undefined {
    return this.remote.get(socket)?.asWebSocket;
  }

  /** A frame came from a socket the room does not know (its roster was unreadable): it reconnects. */
  unknown(shard: string, socket: string): void {
    this.link(shard).push({ kind: "close", socket, code: 1012, reason: "reconnect with since" });
  }

  /** The shards' sockets (of one user), as the room's code takes sockets. */
  sockets(userId?: number): WebSocket[] {
    const proxies = userId === undefined ? this.remote.values() : (this.byUser.get(userId)?.values() ?? []);
    return [...proxies].map((p) => p.asWebSocket);
  }

  /** A frame to every socket on the shards, but `exceptSocket` (one of theirs) or `exceptUser`'s. */
  all(frame: string, except: { socket?: WebSocket | null; user?: number } = {}): void {
    const socket = except.socket instanceof RemoteSocket ? except.socket.id : undefined;
    const op = { kind: "all" as const, frame, ...(socket !== undefined ? { exceptSocket: socket } : {}), ...(except.user !== undefined ? { exceptUser: except.user } : {}) };
    for (const link of this.targets()) link.push(op);
  }

  receipts(frames: ReceiptFrames): void {
    for (const link of this.targets()) link.push({ kind: "receipts", ...frames });
  }

  /** Closes a user's sockets on every shard (those of tokens older than `belowVersion`, if given). */
  closeUser(userId: number, code: number, reason: string, belowVersion?: number): void {
    const op = { kind: "close" as const, user: userId, code, reason, ...(belowVersion !== undefined ? { belowVersion } : {}) };
    for (const link of this.targets()) link.push(op);
  }

  /** Resolves once everything sent so far reached the shards (or failed), or after 2 s. */
  async drained(): Promise<void> {
    await within(Promise.all([...this.links.values()].map((l) => l.idle())), ROSTER_TIMEOUT_MS).catch(() => {});
  }

  // ---------------------------------------------------------------- what the links report

  delivered(link: ShardLink, answer: Delivered): void {
    const restarted = link.instance !== undefined && link.instance !== answer.instance;
    link.instance = answer.instance;
    // A shard that restarted may have lost sockets without telling (a crash): its roster says.
    if (restarted) void this.reconcile(link);
    void link.idle().then(() => this.recordWatermark());
  }

  unreachable(link: ShardLink): void {
    // Its sockets are gone or hear nothing: offline until it answers again (and closes them).
    this.known.delete(link.name);
    void this.dropAll(link, () => true);
  }

  // ---------------------------------------------------------------- internals

  private get epoch(): number {
    if (this.epochNumber === undefined) {
      this.epochNumber = (this.room.kv.get<number>(EPOCH_KEY) ?? 0) + 1;
      this.room.kv.put(EPOCH_KEY, this.epochNumber);
    }
    return this.epochNumber;
  }

  private link(name: string): ShardLink {
    let link = this.links.get(name);
    if (!link) this.links.set(name, (link = new ShardLink(name, this.room.env, this.epoch, this)));
    return link;
  }

  /** The links a frame to all goes to: every shard with sockets, and those the room cannot vouch for. */
  private targets(): ShardLink[] {
    return [...this.names].filter((name) => !this.known.has(name) || (this.byLink.get(name)?.size ?? 0) > 0).map((name) => this.link(name));
  }

  private add(proxy: RemoteSocket): void {
    this.remote.set(proxy.id, proxy);
    this.registeredAt.set(proxy, ++this.registrations);
    const userId = proxy.deserializeAttachment().user.id;
    if (!this.byUser.has(userId)) this.byUser.set(userId, new Set());
    this.byUser.get(userId)!.add(proxy);
    if (!this.byLink.has(proxy.link.name)) this.byLink.set(proxy.link.name, new Set());
    this.byLink.get(proxy.link.name)!.add(proxy);
  }

  /** Records that the chat uses `name` (a new shard has no sockets the room does not know). */
  private use(name: string): void {
    if (this.names.has(name)) return;
    // The first shard: nothing was sent to any before, so the log so far counts as delivered.
    if (this.names.size === 0) this.writeWatermark(this.room.logPosition());
    this.names.add(name);
    this.known.add(name);
    this.room.kv.put(SHARDS_KEY, [...this.names]);
  }

  /** Placements on `name` still counting. */
  private reservations(name: string): number {
    const now = Date.now();
    const live = (this.reserved.get(name) ?? []).filter((until) => until > now);
    if (live.length > 0) this.reserved.set(name, live);
    else this.reserved.delete(name);
    return live.length;
  }

  private unreserve(name: string): void {
    this.reserved.set(name, (this.reserved.get(name) ?? []).slice(1));
  }

  private forgetIfEmpty(name: string): void {
    if (!this.known.has(name) || this.reservations(name) > 0 || this.byLink.get(name)?.size || !this.names.delete(name)) return;
    this.room.kv.put(SHARDS_KEY, [...this.names]);
  }

  private async loadRosters(): Promise<void> {
    await Promise.all(
      [...this.names].map(async (name) => {
        let roster: Roster;
        try {
          roster = await within(shardStub(this.room.env, name).roster(), ROSTER_TIMEOUT_MS);
        } catch (err) {
          console.error(`fan-out shard ${name} gave no roster`, err instanceof Error ? err.message : String(err));
          return;
        }
        const link = this.link(name);
        link.instance = roster.instance;
        for (const { socket, ...attachment } of roster.open) if (!this.remote.has(socket)) this.add(new RemoteSocket(socket, link, attachment));
        this.known.add(name);
        if (roster.open.length === 0 && roster.joining.length === 0) this.forgetIfEmpty(name);
      }),
    );
  }

  /** Drops the stand-ins of `link` the shard no longer has (registered before the roster was asked for). */
  private async reconcile(link: ShardLink): Promise<void> {
    const asked = this.registrations;
    let roster: Roster;
    try {
      roster = await within(shardStub(this.room.env, link.name).roster(), ROSTER_TIMEOUT_MS);
    } catch {
      return;
    }
    const present = new Set([...roster.open.map((o) => o.socket), ...roster.joining]);
    await this.dropAll(link, (proxy) => (this.registeredAt.get(proxy) ?? 0) <= asked && !present.has(proxy.id));
  }

  private async dropAll(link: ShardLink, gone: (proxy: RemoteSocket) => boolean): Promise<void> {
    for (const proxy of [...(this.byLink.get(link.name) ?? [])]) {
      if (!gone(proxy) || !this.left(proxy.id)) continue;
      await this.room.closed(proxy.asWebSocket, proxy.deserializeAttachment());
    }
  }

  /**
   * Records how far the log was sent to every shard, once none has anything in flight: a room that
   * starts and finds the log further on knows its last instance may have left operations unsent.
   */
  private recordWatermark(): void {
    if ([...this.links.values()].some((l) => l.busy)) return;
    const wait = this.watermarkAt + WATERMARK_EVERY_MS - Date.now();
    if (wait > 0) {
      this.watermarkTimer ??= setTimeout(() => {
        this.watermarkTimer = null;
        this.recordWatermark();
      }, wait);
      return;
    }
    const now = this.room.logPosition();
    if (this.watermark?.messageId !== now.messageId || this.watermark.changeId !== now.changeId) this.writeWatermark(now);
  }

  private writeWatermark(at: LogPosition): void {
    this.room.kv.put(DELIVERED_KEY, at);
    this.watermark = at;
    this.watermarkAt = Date.now();
  }
}
