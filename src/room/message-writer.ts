/**
 * The room's write path: a send, from a socket or over HTTP, checked, stored in the log of record,
 * acknowledged to its sender and sent to every other socket, all in one turn. Socket sends gather
 * for GROUP_WINDOW_MS and are stored as one group (one implicit transaction, one commit); an HTTP
 * post is stored at once. Nothing here waits on D1: the copy is requested, and runs behind.
 */
import type { Session } from "../objects/handshake";
import { refuse, type Refusal } from "../objects/answers";
import { ClientEvent, errorFrame, serverFrame, ServerEvent, type ErrorPayload } from "../protocol/events";
import { ErrorCode } from "../protocol/errors";
import type { Message, User } from "../protocol/models";
import type { StoredAttachment } from "../protocol/stored";
import type { ActivityAnnouncer } from "./activity";
import type { RoomBlocks } from "./blocks";
import type { D1Copy } from "./d1-copy";
import type { FanOut } from "./fan-out";
import type { RoomMembers } from "./log/members";
import type { Draft, MessageLog } from "./log/messages";
import type { LogChatRow } from "./log/schema";
import type { Uploads } from "./log/uploads";
import type { PushNotices } from "./push-notices";
import type { RateLimiter } from "./rate-limiter";
import type { Retention } from "./retention";
import type { SlowMode } from "./slow-mode";
import type { UnwrittenMarkers } from "./unwritten-markers";

/**
 * How long socket sends gather before they are stored as one group. Each group is one implicit
 * transaction and one commit, shared by its sends. 1 ms rather than 2: with multi-row inserts a
 * group is cheap to store, and the shorter wait gave write +8 % and rooms +20 % (docs/PERFORMANCE.md).
 */
const GROUP_WINDOW_MS = 1;

/** A message to store, from a socket (`from`) or over HTTP (`from: null`). */
export interface Send {
  user: User;
  /** The token it came with: a session ended before the message is stored stores nothing. */
  session: Session;
  content: string;
  clientId: string | undefined;
  replyToId: number | undefined;
  attachmentIds: string[] | undefined;
  from: WebSocket | null;
}

type SocketSend = Send & { from: WebSocket };

/** What the write path reads and tells in the room. */
export interface WriterContext {
  log: MessageLog;
  members: RoomMembers;
  markers: UnwrittenMarkers;
  uploads: Uploads;
  blocks: RoomBlocks;
  slowMode: SlowMode;
  retention: Retention;
  limiter: RateLimiter;
  fanOut: FanOut;
  activity: ActivityAnnouncer;
  pushes: PushNotices;
  d1Copy: D1Copy;
  /** The chat's row (type and settings), as the room caches it. */
  chat(): LogChatRow;
  /** A 401 for a token revoked or expired since the Worker checked it; null while it holds. */
  refuseEndedSession(user: User, session: Session, now: number): Refusal | null;
  /** Typing ends with the user's HTTP post (a socket's send ends it as it arrives). */
  typingEnded(user: User): void;
  /** A `typing_start` held back behind the socket's sends, announced once they are stored. */
  startTyping(ws: WebSocket): void;
  transaction<T>(write: () => T): T;
}

export class MessageWriter {
  private pending: SocketSend[] = [];
  /** Sockets whose `typing_start` came after one of their sends still waiting in `pending`. */
  private readonly typingAfterStore = new Set<WebSocket>();

  constructor(private readonly room: WriterContext) {}

  /** A socket's send: stored with the others of its window, answered then. */
  queue(send: SocketSend): void {
    this.pending.push(send);
    if (this.pending.length === 1) setTimeout(() => this.storePending(), GROUP_WINDOW_MS);
  }

  /**
   * Holds a `typing_start` from `ws` behind its sends still waiting to be stored, so it is announced
   * after their messages, in the order it came (startTyping, once they are stored). False when none
   * wait: the caller announces it now.
   */
  deferTyping(ws: WebSocket): boolean {
    if (!this.pending.some((p) => p.from === ws)) return false;
    this.typingAfterStore.add(ws);
    return true;
  }

  typingStopped(ws: WebSocket): void {
    this.typingAfterStore.delete(ws);
  }

  /** An HTTP post, stored now. A resent clientId answers with the first message, as the contract's 201 for a resend. */
  post(send: Send & { from: null }): Message | Refusal {
    return this.storeMessage(send);
  }

  /**
   * Socket sends gathered for GROUP_WINDOW_MS, stored in one turn: one implicit transaction and one
   * durable write for the group instead of one per message. Plain sends (text, no reply, no files,
   * no slow mode, no resend of one still in the run) are written together, a run per INSERT of up
   * to a dozen rows; any other send writes the run before it first and is stored on its own, so
   * every check sees what came before it, as if the group were stored one by one.
   */
  private storePending() {
    const batch = this.pending;
    this.pending = [];
    const typingAfter = [...this.typingAfterStore];
    this.typingAfterStore.clear();
    // The group's frames leave together at its end, one per socket for sockets that batch.
    this.room.fanOut.gather(() => {
      let run: { send: SocketSend; draft: Draft }[] = [];
      const writeRun = () => {
        if (run.length === 0) return;
        const written = run;
        run = [];
        let messages: Message[];
        try {
          messages = this.room.log.appendAll(written.map((r) => r.draft));
        } catch (err) {
          for (const { send } of written) this.storeFailed(send, err);
          return;
        }
        written.forEach(({ send, draft }, i) => this.stored(send, messages[i]!, draft.createdAt));
      };
      for (const send of batch) {
        const plain = !send.attachmentIds?.length && send.replyToId === undefined && this.room.chat().slowModeSeconds === 0;
        const resentInRun = send.clientId !== undefined && run.some((r) => r.send.user.id === send.user.id && r.send.clientId === send.clientId);
        if (!plain || resentInRun) {
          writeRun();
          this.storeOrRefuse(send);
          continue;
        }
        // A plain send's checks do not depend on the run before it (no reply, no files, no slow mode).
        const admitted = this.admit(send);
        if ("draft" in admitted) {
          run.push({ send, draft: admitted.draft });
          continue;
        }
        // Its answer goes after those of the sends before it.
        writeRun();
        if ("resent" in admitted) this.acknowledge(send.from, admitted.resent, send.clientId);
        else this.refused(send, admitted);
      }
      writeRun();
      for (const ws of typingAfter) if (ws.readyState === WebSocket.OPEN) this.room.startTyping(ws);
    });
  }

  /** A socket's send stored on its own: the refusal, if any, goes to its socket as an `error`. */
  private storeOrRefuse(send: SocketSend) {
    try {
      const stored = this.storeMessage(send);
      if ("ok" in stored) this.refused(send, stored);
    } catch (err) {
      this.storeFailed(send, err);
    }
  }

  private refused(send: SocketSend, refusal: Refusal) {
    const context = sendContext(send);
    this.room.fanOut.to(send.from, errorFrame(refusal.code, refusal.error, refusal.retryAfterSeconds === undefined ? context : { ...context, retryAfter: refusal.retryAfterSeconds }));
  }

  /** Nothing of the send was stored (nor anything in memory changed): the client resends it. */
  private storeFailed(send: SocketSend, err: unknown) {
    console.error("message store failed", err instanceof Error ? err.message : String(err));
    this.room.fanOut.to(send.from, errorFrame(ErrorCode.Internal, "message not stored; resend it with the same clientId", sendContext(send)));
  }

  /**
   * Stores a message in the log and, in the same turn, acknowledges it and sends it to every other
   * socket: the runtime releases those frames only once the write is durable, so an ack never
   * precedes its message's storage, and a stored message has always been sent to every socket open
   * at the time. A resent clientId is acknowledged with the first message and not sent again,
   * before any other check: a resend is answered as its first send was, even if the message it
   * replies to was deleted since. Attachments are checked (the sender's own live, unattached
   * uploads) and attached in the same write as the message; a refusal stores nothing.
   */
  private storeMessage(send: Send): Message | Refusal {
    const admitted = this.admit(send);
    if ("ok" in admitted) return admitted;
    if ("resent" in admitted) {
      this.acknowledge(send.from, admitted.resent, send.clientId);
      return admitted.resent;
    }
    const { draft } = admitted;
    const { log, uploads } = this.room;
    if (!send.from) this.room.typingEnded(send.user);
    const write = () => {
      const appended = log.append(draft);
      if (draft.attachments) uploads.attach(send.attachmentIds!, appended.id);
      return appended;
    };
    // With attachments, one transaction: the message is stored with them or not at all. Without,
    // the one insert is all or nothing by itself, and a savepoint per message is a cost of its own.
    const message = draft.attachments ? this.room.transaction(write) : write();
    this.stored(send, message, draft.createdAt);
    return message;
  }

  /**
   * The checks a send passes before it is stored, in their order, and the draft it would store.
   * Checked again here, at the commit: a send that arrived before a removal or a logout but is
   * stored after it is refused, so nothing from a removed member follows `member_removed`. Its
   * socket was closed by the removal: a re-add since does not bring its frames back.
   */
  private admit({ user, session, content, clientId, replyToId, attachmentIds, from }: Send): Refusal | { resent: Message } | { draft: Draft } {
    const now = Date.now();
    const { log, members, uploads } = this.room;
    if (members.access(user.id) !== "member" || (from && from.readyState !== WebSocket.OPEN)) {
      return refuse(ErrorCode.Forbidden, "you are no longer a member of this chat");
    }
    const ended = this.room.refuseEndedSession(user, session, now);
    if (ended) return ended;
    const earlier = clientId === undefined ? undefined : log.byClient(user.id, clientId, now);
    if (earlier) return { resent: log.toMessage(earlier) };
    const held = this.refuseBlocked(user.id) ?? this.refuseSlowMode(user.id, now) ?? this.refuseReply(replyToId);
    if (held) return held;
    let attachments: StoredAttachment[] | undefined;
    if (attachmentIds?.length) {
      const claim = uploads.claimable(attachmentIds, user.id, now);
      if (!claim.ok) return refuse(ErrorCode.BadRequest, claim.error);
      attachments = claim.attachments;
    }
    return {
      draft: {
        sender: user,
        content,
        createdAt: now,
        ...(clientId !== undefined ? { clientId } : {}),
        ...(replyToId !== undefined ? { replyToId } : {}),
        ...(attachments ? { attachments } : {}),
      },
    };
  }

  /** What follows a stored message, in the same turn: its ack, its fan-out, and the room's bookkeeping. */
  private stored({ user, clientId, from }: Send, message: Message, at: number): void {
    const room = this.room;
    this.acknowledge(from, message, clientId);
    room.slowMode.sent(user.id, at);
    room.retention.stored(at);
    // A user's own messages count as read by them (written to storage with the next copy).
    room.markers.sent(user.id, message.id);
    room.fanOut.all(serverFrame(ServerEvent.ReceiveMessage, message), { socket: from });
    room.activity.messageStored();
    // After the ack and the fan-out: a push never delays them (it is enqueued later, off this turn).
    room.pushes.messageStored(message);
    room.d1Copy.request(true);
    room.limiter.prune(Date.now());
  }

  /** `message_sent` to the socket that sent the message (none for an HTTP post). */
  private acknowledge(from: WebSocket | null, message: Message, clientId: string | undefined): void {
    if (!from) return;
    this.room.fanOut.to(from, serverFrame(ServerEvent.MessageSent, {
      messageId: message.id,
      chatId: message.chatId,
      timestamp: message.timestamp,
      ...(clientId !== undefined ? { clientId } : {}),
    }));
  }

  /**
   * In a direct chat, the other member blocks the sender: nothing is stored (`403 blocked`). In a
   * group both stay members and messages flow (the blocker gets no unread count from them).
   */
  private refuseBlocked(senderId: number): Refusal | null {
    const blockers = this.room.blocks.blockersOf(senderId);
    if (blockers.length === 0) return null;
    if (this.room.chat().type !== "direct" || !blockers.some((id) => this.room.members.access(id) === "member")) return null;
    return refuse(ErrorCode.Blocked, "the other member of this chat blocks you");
  }

  /** A member (not an admin) who sent within the group's slow-mode period waits (`slow_mode`, retry after). */
  private refuseSlowMode(senderId: number, now: number): Refusal | null {
    const period = this.room.chat().slowModeSeconds;
    const waitMs = this.room.slowMode.wait(senderId, period, now);
    if (waitMs === 0 || this.room.members.activeRow(senderId)?.role === "admin") return null;
    const seconds = Math.max(1, Math.ceil(waitMs / 1000));
    return refuse(ErrorCode.SlowMode, `slow mode: one message every ${period} s; try again in ${seconds} s`, seconds);
  }

  /** A reply must answer a message of this chat that still exists. */
  private refuseReply(replyToId: number | undefined): Refusal | null {
    if (replyToId === undefined) return null;
    const original = this.room.log.get(replyToId);
    if (!original) return refuse(ErrorCode.BadRequest, "replyToId is not a message of this chat");
    return original.deletedAt === null ? null : refuse(ErrorCode.Gone, "the message replied to was deleted");
  }
}

function sendContext(send: Send): Pick<ErrorPayload, "event" | "clientId"> {
  return { event: ClientEvent.SendMessage, ...(send.clientId ? { clientId: send.clientId } : {}) };
}
