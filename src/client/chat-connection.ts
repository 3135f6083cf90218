/**
 * A chat room connection that loses nothing: it reconnects with `since` = the last message id it
 * saw, resends every unacknowledged message with its original clientId (the server stores each
 * clientId once), and drops any message it already delivered.
 *
 * Catching up. The server replays at most 1000 messages after `since`, then sends `replay_done`.
 * When that says `hasMore`, this connection pages the rest with `GET …/messages?after=` (through an
 * {@link ApiClient}, with the `fetch` of the options; a failed page is retried with backoff) and
 * emits each paged message as `receive_message`. Live `receive_message` frames that arrive while it
 * pages are held back and released after the last page, so every message is emitted once, in id
 * order. `replay_done` itself is not emitted: once the chat is up to date (after the replay and any
 * paging, or right after `joined_chat` when connecting without `since`) the connection emits
 * **`synced`** `{ chatId, lastId }` (`lastId`: the newest message id delivered) and `isSynced` turns
 * true; it turns false again when the socket drops.
 *
 * Sending. A message the server failed to store (`error` with `internal` or `unavailable`) is sent
 * again on the open socket with backoff, with the same clientId; `rate_limited` is retried after a
 * longer delay. After `maxSendAttempts` failures (default 5) its promise rejects with a
 * {@link SendError}; any other error code rejects at once. Messages sent while others wait for a
 * retry wait with them, so they go out in the order they were sent. A message still unacknowledged
 * after 23 hours (disconnected all along) rejects with `unavailable` rather than being resent after
 * the server stops recognising its clientId (24 hours), which could store it twice.
 *
 * Replies. `sendMessage(content, { replyToId })` answers a message; the option travels with every
 * resend, as do `attachmentIds` (uploads from `ApiClient.uploadAttachment`; content may then be ""). (`sendMessage(content, clientId)`, the form from before replies, still works.)
 *
 * Changes. `editMessage`, `deleteMessage`, `addReaction` and `removeReaction` send their frame at
 * once when the socket is open (true) or queue it for the next connection (false). A change that
 * went out is not sent again after a drop: there is no ack to tell whether it arrived, and a late
 * copy could undo what the user did meanwhile on another device. The result arrives, to every socket
 * of the chat this one included, as `message_edited`, `message_deleted` or `reactions_updated`
 * (nothing when it changed nothing); a refusal is an `error` naming the event (`forbidden`, `gone`,
 * `bad_request`…). `read_updated` (a member's read marker moved) is passed on as it comes.
 *
 * The change cursor. `lastChangeId` is the newest change this connection has passed on: each change
 * event's `changeId`, `replay_done`'s `lastChangeId` and the last page's (below), and, only while it
 * has no cursor at all, `joined_chat`'s (a client with no cursor has nothing older to bring up to
 * date; one with a cursor takes the replay's word instead, or a drop during the replay would skip
 * changes). Set it, or `changesSince` in the options, to a history page's `lastChangeId` when the
 * messages came from history. Reconnects ask for `?since=<lastMessageId>&changesSince=<lastChangeId>`,
 * and the replay brings every message up to `since` to its current state with the same events.
 * When `replay_done` says `hasMoreChanges`, the connection pages `GET …/changes?after=` (after any
 * message paging, with the same retries) and emits each changed message it has delivered as
 * **`message_changed`** `{ chatId, message }`: the message in its current state, to replace the
 * caller's copy (a page has no per-message change id or deletion time, so it cannot be told as the
 * socket's events). Change events that arrive live while it catches up are held with the live
 * messages and released after them, in arrival order, so a page read before a change never
 * overwrites it; `synced` comes last.
 *
 * It stops for good, rejecting what is unacknowledged, on a final close (see `ReconnectingSocket`):
 * close 1009 or 4003, or a refused connect after which `GET /api/chats/:chatId` answers 401, 403 or 404.
 */
import { ApiClient, messageDraft, sendOptions, type SendOptions } from "./api";
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent, type ClientPayloads, type ErrorPayload, type ServerPayloads } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { Message } from "../protocol/models";
import { backoffDelay } from "./backoff";
import { ReconnectingSocket, socketUrl, type ConnectionError, type SocketEnvironment, type SocketEvents } from "./socket";

/** The chat is up to date: every message up to `lastId` was delivered, live ones follow. */
export interface SyncedEvent {
  chatId: number;
  lastId: number | undefined;
}

/** A message in its current state, from paging `GET …/changes`: it replaces the caller's copy. */
export interface MessageChangedEvent {
  chatId: number;
  message: Message;
}

/** The events a ChatConnection adds to the server's (they are not frames of the wire). */
export const ConnectionEvent = {
  /** The chat is up to date (see the class comment). */
  Synced: "synced",
  /** A changed message paged over HTTP after a long absence (see the class comment). */
  MessageChanged: "message_changed",
} as const;

export type ChatEvents = Omit<ServerPayloads, typeof ServerEvent.ReplayDone> &
  SocketEvents & { [ConnectionEvent.Synced]: SyncedEvent; [ConnectionEvent.MessageChanged]: MessageChangedEvent };
/** The change events of the wire: each carries a `changeId` and moves the cursor. */
type ChangeEventName = typeof ServerEvent.MessageEdited | typeof ServerEvent.MessageDeleted | typeof ServerEvent.ReactionsUpdated;
type ChangeEvent = { [K in ChangeEventName]: { event: K; data: ServerPayloads[K] } }[ChangeEventName];
/** A live frame held back while catching up, released in arrival order. */
type Held = { event: typeof ServerEvent.ReceiveMessage; data: Message } | ChangeEvent;
type ChangeRequest = typeof ClientEvent.EditMessage | typeof ClientEvent.DeleteMessage | typeof ClientEvent.AddReaction | typeof ClientEvent.RemoveReaction;
export type MessageAck = ServerPayloads[typeof ServerEvent.MessageSent];

/** An error the server answered for one of this client's messages. */
export class SendError extends Error {
  constructor(readonly payload: ErrorPayload) {
    super(payload.error);
    this.name = "SendError";
  }
}

interface Outgoing {
  clientId: string;
  content: string;
  replyToId: number | undefined;
  /** Uploads (`ApiClient.uploadAttachment`) the message carries; they travel with every resend. */
  attachmentIds: string[] | undefined;
  resolve(ack: MessageAck): void;
  reject(error: SendError): void;
  /** Failures answered by the server so far (retryable ones). */
  failures: number;
  /** Waits for the resend timer (after a retryable failure, or behind one). */
  waiting: boolean;
  /** Rejects the send once a resend could no longer be recognised by the server (see GIVE_UP_AFTER_MS). */
  giveUp: unknown;
}

/**
 * The server recognises a resent clientId for a day (`limits.clientIdWindowMs`); a message still
 * unacknowledged an hour before that is given up (its promise rejects) rather than resent later as
 * a possible duplicate. The caller can check the chat and send it again as a new message.
 */
const GIVE_UP_AFTER_MS = limits.clientIdWindowMs - 60 * 60 * 1000;

/** First retry delay per retryable error code (then doubling, with jitter). */
const RETRY_BASE_MS: Partial<Record<string, number>> = {
  [ErrorCode.Internal]: 500,
  [ErrorCode.Unavailable]: 500,
  [ErrorCode.RateLimited]: 1000,
};

export interface ChatConnectionOptions {
  /** e.g. `https://chat.example.com` or `http://localhost:8787`. */
  baseUrl: string;
  token: string;
  chatId: number;
  /** The newest message id the caller already has (for example from history). */
  since?: number;
  /** The newest change id the caller's messages reflect (a history page's `lastChangeId`). */
  changesSince?: number;
  env: SocketEnvironment;
  /** The HTTP fetch (default: the global one): paging after a long absence, the probe after a refused connect. */
  fetch?: typeof fetch;
  newClientId?: () => string;
  pingIntervalMs?: number;
  /** How many times a message the server failed to store is sent before its promise rejects (default 5). */
  maxSendAttempts?: number;
}

export class ChatConnection extends ReconnectingSocket<ChatEvents> {
  readonly chatId: number;
  /** The newest message id delivered (received or own, in order): the `since` of the next connection. */
  lastMessageId: number | undefined;
  /** The newest change id passed on (see the class comment): the `changesSince` of the next connection. */
  lastChangeId: number | undefined;
  private readonly outbox = new Map<string, Outgoing>();
  private readonly newClientId: () => string;
  private readonly api: ApiClient;
  private readonly maxSendAttempts: number;
  private resendTimer: unknown = null;
  /** `since` of the current connection attempt. */
  private attemptSince: number | undefined;
  /** Bumped whenever the socket goes away: an HTTP page answered for an older socket is dropped. */
  private socketEpoch = 0;
  private synced = false;
  private catchingUp = false;
  /** Live messages and changes held back while paging, in arrival order. */
  private held: Held[] = [];
  /** `replay_done` asked for change paging, which follows any message paging. */
  private changesToPage: number | undefined;
  /** Changes asked for while no socket was open: sent, in order, on the next `joined_chat`. */
  private queuedChanges: (() => void)[] = [];
  /** The newest own message acknowledged while paging: `lastMessageId` moves there after the paging. */
  private ackedWhileCatchingUp: number | undefined;
  private pageTimer: unknown = null;

  constructor(private readonly options: ChatConnectionOptions) {
    super(options.env, options.pingIntervalMs);
    this.chatId = options.chatId;
    this.lastMessageId = options.since;
    this.lastChangeId = options.changesSince;
    this.newClientId = options.newClientId ?? (() => crypto.randomUUID());
    this.api = new ApiClient(options.baseUrl, options.token, options.fetch);
    this.maxSendAttempts = Math.max(1, options.maxSendAttempts ?? 5);
  }

  /** Whether the chat is up to date (see `synced` in the class comment). */
  get isSynced(): boolean {
    return this.synced;
  }

  /** Messages sent but not yet acknowledged, oldest first. */
  get unacknowledged(): ({ content: string; clientId: string } & SendOptions)[] {
    return [...this.outbox.values()].map((o) => ({ ...messageDraft(o.content, o), clientId: o.clientId }));
  }

  /**
   * Resolves once the message is stored; survives reconnects. The second argument is the options,
   * or (the older form) just the clientId.
   */
  sendMessage(content: string, options: string | SendOptions = {}): Promise<MessageAck> {
    const { clientId = this.newClientId(), replyToId, attachmentIds } = sendOptions(options);
    return new Promise((resolve, reject) => {
      const outgoing: Outgoing = { clientId, content, replyToId, attachmentIds, resolve, reject, failures: 0, waiting: false, giveUp: null };
      outgoing.giveUp = this.env.setTimeout(() => {
        if (this.outbox.get(clientId) !== outgoing) return;
        this.outbox.delete(clientId);
        reject(new SendError({ error: "not acknowledged within a day: it may or may not have been stored; check the chat before sending it again", code: ErrorCode.Unavailable, clientId }));
      }, GIVE_UP_AFTER_MS);
      this.outbox.set(clientId, outgoing);
      // Behind messages that wait for a retry, so the chat stores them in the order they were sent.
      if (this.resendTimer !== null) outgoing.waiting = true;
      else if (this.isOpen) this.transmit(outgoing);
    });
  }

  startTyping(): void {
    this.sendFrame(ClientEvent.TypingStart, { chatId: this.chatId });
  }

  stopTyping(): void {
    this.sendFrame(ClientEvent.TypingStop, { chatId: this.chatId });
  }
  /**
   * Moves the caller's read marker to `messageId` over the socket; false when the socket is not
   * open (nothing is queued: a later marker supersedes it).
   */
  markRead(messageId: number): boolean {
    return this.isOpen && this.sendFrame(ClientEvent.MarkRead, { chatId: this.chatId, messageId });
  }

  /** Edits one of the caller's messages: true if sent now, false if queued for the next connection. */
  editMessage(messageId: number, content: string): boolean {
    return this.sendChange(ClientEvent.EditMessage, { chatId: this.chatId, messageId, content });
  }

  /** Deletes a message (the caller's, or any in a group the caller administers); see `editMessage`. */
  deleteMessage(messageId: number): boolean {
    return this.sendChange(ClientEvent.DeleteMessage, { chatId: this.chatId, messageId });
  }

  /** Adds the caller's reaction (exactly one emoji); see `editMessage`. */
  addReaction(messageId: number, emoji: string): boolean {
    return this.sendChange(ClientEvent.AddReaction, { chatId: this.chatId, messageId, emoji });
  }

  /** Takes the caller's reaction back; see `editMessage`. */
  removeReaction(messageId: number, emoji: string): boolean {
    return this.sendChange(ClientEvent.RemoveReaction, { chatId: this.chatId, messageId, emoji });
  }

  protected url(): string {
    this.attemptSince = this.lastMessageId;
    // Changes matter only for messages the client has: without `since` it has none.
    const changesSince = this.lastMessageId === undefined ? undefined : this.lastChangeId;
    return socketUrl(this.options.baseUrl, `/api/chats/${this.chatId}/ws`, { token: this.api.token!, since: this.lastMessageId, changesSince });
  }

  protected onToken(token: string): void {
    this.api.token = token;
  }

  protected onOpen(): void {
    // The server greets every socket with joined_chat; that is when the room is ready.
  }

  protected probe(): Promise<unknown> {
    return this.api.getChat(this.chatId);
  }

  protected onFrame(event: string, data: unknown): void {
    switch (event) {
      case ServerEvent.JoinedChat: {
        const joined = data as ServerPayloads[typeof ServerEvent.JoinedChat];
        // With a cursor, the replay (ended by replay_done) says where changes stand; without one
        // there is nothing older to bring up to date.
        if (this.lastChangeId === undefined && typeof joined.lastChangeId === "number") this.lastChangeId = joined.lastChangeId;
        this.markOpen();
        this.emit(ServerEvent.JoinedChat, joined);
        this.transmitAll();
        // Without `since` there is no replay: live frames are all there is.
        if (this.attemptSince === undefined && !this.synced) this.markSynced();
        return;
      }
      case ServerEvent.ReceiveMessage: {
        const message = data as Message;
        if (this.catchingUp) this.held.push({ event: ServerEvent.ReceiveMessage, data: message });
        else this.deliver(message);
        return;
      }
      case ServerEvent.MessageEdited:
      case ServerEvent.MessageDeleted:
      case ServerEvent.ReactionsUpdated: {
        const change = { event, data } as ChangeEvent;
        if (this.catchingUp) this.held.push(change);
        else this.passOnChange(change);
        return;
      }
      case ServerEvent.ReplayDone: {
        const done = data as ServerPayloads[typeof ServerEvent.ReplayDone];
        if (this.synced || this.catchingUp) return;
        this.advanceChanges(done.lastChangeId);
        this.changesToPage = done.hasMoreChanges ? done.lastChangeId : undefined;
        if (!done.hasMore && this.changesToPage === undefined) return this.markSynced();
        this.catchingUp = true;
        if (done.hasMore) this.fetchPage(done.lastId, this.socketEpoch, 0);
        else this.fetchChanges(this.changesToPage!, this.socketEpoch, 0);
        return;
      }
      case ServerEvent.MessageSent: {
        const ack = data as MessageAck;
        // Per socket the server sends in commit order: every message before this one was delivered,
        // unless some are still being paged (then lastMessageId moves after the paging).
        if (this.catchingUp) this.ackedWhileCatchingUp = Math.max(this.ackedWhileCatchingUp ?? 0, ack.messageId);
        else if (this.lastMessageId === undefined || ack.messageId > this.lastMessageId) this.lastMessageId = ack.messageId;
        const pending = ack.clientId !== undefined ? this.outbox.get(ack.clientId) : undefined;
        if (pending) {
          this.settle(pending);
          pending.resolve(ack);
        }
        this.emit(ServerEvent.MessageSent, ack);
        return;
      }
      case ServerEvent.Error: {
        const error = data as ErrorPayload;
        const pending = error.clientId !== undefined ? this.outbox.get(error.clientId) : undefined;
        if (pending) {
          const baseMs = RETRY_BASE_MS[error.code];
          // Not stored ("internal", "unavailable", "rate_limited"): try again on this socket, a bounded number of times.
          if (baseMs !== undefined && ++pending.failures < this.maxSendAttempts) {
            pending.waiting = true;
            this.scheduleResend(backoffDelay(pending.failures - 1, this.env.random, baseMs));
          } else {
            this.settle(pending);
            pending.reject(new SendError(error));
          }
        }
        this.emit(ServerEvent.Error, error);
        return;
      }
      default:
        if (KNOWN_EVENTS.has(event)) this.emit(event as Exclude<keyof ServerPayloads, "replay_done">, data as never);
    }
  }

  protected override onDisconnect(): void {
    // Paging and held messages belong to this socket: the next one resumes from lastMessageId.
    this.socketEpoch++;
    this.synced = false;
    this.catchingUp = false;
    this.held = [];
    this.changesToPage = undefined;
    this.ackedWhileCatchingUp = undefined;
    this.env.clearTimeout(this.pageTimer);
    this.pageTimer = null;
    // Whatever waits for a resend goes out on the next joined_chat.
    this.env.clearTimeout(this.resendTimer);
    this.resendTimer = null;
  }

  protected onFinalClose(code: number, error?: ConnectionError): void {
    this.env.clearTimeout(this.resendTimer);
    this.resendTimer = null;
    this.queuedChanges = [];
    for (const pending of this.outbox.values()) {
      this.env.clearTimeout(pending.giveUp);
      pending.reject(
        new SendError({
          error: error ? `connection closed before the message was stored: ${error.message}` : "connection closed before the message was stored",
          code: error?.code ?? (code === CloseCode.Removed ? ErrorCode.Forbidden : ErrorCode.Unavailable),
          clientId: pending.clientId,
        }),
      );
    }
    this.outbox.clear();
  }

  /** Out of the outbox, its give-up timer cleared. */
  private settle(outgoing: Outgoing): void {
    this.env.clearTimeout(outgoing.giveUp);
    this.outbox.delete(outgoing.clientId);
  }

  /** Emits a message unless it was already delivered (ids only grow within a chat). */
  private deliver(message: Message): void {
    if (this.lastMessageId !== undefined && message.id <= this.lastMessageId) return;
    this.lastMessageId = message.id;
    this.emit(ServerEvent.ReceiveMessage, message);
  }

  /** Emits a change and moves the cursor past it. */
  private passOnChange(change: ChangeEvent): void {
    this.advanceChanges(change.data.changeId);
    this.emit(change.event, change.data as never);
  }

  private advanceChanges(changeId: number): void {
    // A server from before the change log sends no change ids: then there is no cursor to keep.
    if (typeof changeId !== "number") return;
    if (this.lastChangeId === undefined || changeId > this.lastChangeId) this.lastChangeId = changeId;
  }

  private fetchPage(after: number, epoch: number, failures: number): void {
    this.load(
      () => this.api.history(this.chatId, { after, limit: limits.historyMaxLimit }),
      (page) => {
        for (const message of page.messages) this.deliver(message);
        const newest = page.messages.at(-1)?.id;
        if (page.hasMore && newest !== undefined && newest > after) this.fetchPage(newest, epoch, 0);
        else if (this.changesToPage !== undefined) this.fetchChanges(this.changesToPage, epoch, 0);
        else this.finishCatchUp();
      },
      () => this.fetchPage(after, epoch, failures + 1),
      epoch,
      failures,
    );
  }

  private fetchChanges(after: number, epoch: number, failures: number): void {
    this.load(
      () => this.api.changes(this.chatId, after),
      (page) => {
        // A message this connection has not delivered yet is among the held live ones, which are
        // newer than the page: its changes follow it.
        for (const message of page.messages) {
          if (this.lastMessageId !== undefined && message.id <= this.lastMessageId) this.emit(ConnectionEvent.MessageChanged, { chatId: this.chatId, message });
        }
        this.advanceChanges(page.lastChangeId);
        if (page.hasMore && page.lastChangeId > after) this.fetchChanges(page.lastChangeId, epoch, 0);
        else this.finishCatchUp();
      },
      () => this.fetchChanges(after, epoch, failures + 1),
      epoch,
      failures,
    );
  }

  /**
   * One HTTP page for the socket of `epoch`: dropped once that socket is gone; a failure stops the
   * connection when final (401, 403, 404 from the API) and is retried with backoff otherwise.
   */
  private load<T>(request: () => Promise<T>, onPage: (page: T) => void, retry: () => void, epoch: number, failures: number): void {
    request().then(
      (page) => {
        if (epoch === this.socketEpoch) onPage(page);
      },
      (err: unknown) => {
        if (epoch !== this.socketEpoch) return;
        if (this.isFinalHttpError(err)) return this.fail(this.finalHttpError(err, CloseCode.Normal));
        this.pageTimer = this.env.setTimeout(() => {
          this.pageTimer = null;
          if (epoch === this.socketEpoch) retry();
        }, backoffDelay(failures, this.env.random));
      },
    );
  }

  private finishCatchUp(): void {
    this.catchingUp = false;
    this.changesToPage = undefined;
    const held = this.held;
    this.held = [];
    // The socket sends in commit order: messages by id, each change after the message it changes.
    for (const frame of held) {
      if (frame.event === ServerEvent.ReceiveMessage) this.deliver(frame.data);
      else this.passOnChange(frame);
    }
    const acked = this.ackedWhileCatchingUp;
    this.ackedWhileCatchingUp = undefined;
    if (acked !== undefined && (this.lastMessageId === undefined || acked > this.lastMessageId)) this.lastMessageId = acked;
    this.markSynced();
  }

  private markSynced(): void {
    this.synced = true;
    this.emit(ConnectionEvent.Synced, { chatId: this.chatId, lastId: this.lastMessageId });
  }

  private sendChange<K extends ChangeRequest>(event: K, data: ClientPayloads[K]): boolean {
    if (this.isOpen && this.sendFrame(event, data)) return true;
    this.queuedChanges.push(() => this.sendFrame(event, data));
    return false;
  }

  private scheduleResend(delayMs: number): void {
    if (this.resendTimer !== null) return;
    this.resendTimer = this.env.setTimeout(() => {
      this.resendTimer = null;
      if (!this.isOpen) return;
      for (const outgoing of this.outbox.values()) {
        if (!outgoing.waiting) continue;
        outgoing.waiting = false;
        this.transmit(outgoing);
      }
    }, delayMs);
  }

  /** On every (re)join: everything unacknowledged, oldest first. */
  private transmitAll(): void {
    this.env.clearTimeout(this.resendTimer);
    this.resendTimer = null;
    for (const outgoing of this.outbox.values()) {
      outgoing.waiting = false;
      this.transmit(outgoing);
    }
    const changes = this.queuedChanges;
    this.queuedChanges = [];
    for (const send of changes) send();
  }

  private transmit(outgoing: Outgoing): void {
    this.sendFrame(ClientEvent.SendMessage, { chatId: this.chatId, ...messageDraft(outgoing.content, outgoing) });
  }
}

const KNOWN_EVENTS = new Set<string>(Object.values(ServerEvent));
