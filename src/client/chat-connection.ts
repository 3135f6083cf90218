/**
 * A chat room connection that loses nothing: it reconnects with `since` = the last message id it
 * saw, catches up on what the replay left out over HTTP, resends what is unacknowledged (SendQueue)
 * and drops any message it already delivered. What it promises its caller, event by event, is in
 * docs/PROTOCOL.md, "The TypeScript client".
 */
import { ApiClient, sendOptions, type SendOptions } from "./api";
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent, type ClientPayloads, type ErrorPayload, type ServerPayloads } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { Message } from "../protocol/models";
import { backoffDelay } from "./backoff";
import { SendQueue, type MessageAck, type UnsentDraft } from "./send-queue";
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
  /** The chat is up to date (docs/PROTOCOL.md, "The TypeScript client"). */
  Synced: "synced",
  /** A changed message paged over HTTP after a long absence (docs/PROTOCOL.md, "The TypeScript client"). */
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
  /** The newest change id passed on (docs/PROTOCOL.md, "The change cursor"): the `changesSince` of the next connection. */
  lastChangeId: number | undefined;
  /** What was sent and not acknowledged yet: resent on every join. */
  private readonly unsent: SendQueue;
  private readonly newClientId: () => string;
  private readonly api: ApiClient;
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
    this.unsent = new SendQueue(
      options.env,
      Math.max(1, options.maxSendAttempts ?? 5),
      () => this.isOpen,
      (draft) => this.sendFrame(ClientEvent.SendMessage, { chatId: this.chatId, ...draft }),
    );
  }

  /** Whether the chat is up to date (`synced` in docs/PROTOCOL.md, "The TypeScript client"). */
  get isSynced(): boolean {
    return this.synced;
  }

  /** Messages sent but not yet acknowledged, oldest first. */
  get unacknowledged(): UnsentDraft[] {
    return this.unsent.drafts;
  }

  /**
   * Resolves once the message is stored; survives reconnects. The second argument is the options,
   * or (the older form) just the clientId.
   */
  sendMessage(content: string, options: string | SendOptions = {}): Promise<MessageAck> {
    const { clientId = this.newClientId(), replyToId, attachmentIds } = sendOptions(options);
    return this.unsent.add(content, clientId, replyToId, attachmentIds);
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
    return socketUrl(this.options.baseUrl, `/api/chats/${this.chatId}/ws`, {
      token: this.api.token!,
      since: this.lastMessageId,
      changesSince,
      receipts: "batched",
      frames: "batched",
    });
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
        this.unsent.acknowledged(ack);
        this.emit(ServerEvent.MessageSent, ack);
        return;
      }
      case ServerEvent.ReadsUpdated: {
        const batch = data as ServerPayloads[typeof ServerEvent.ReadsUpdated];
        this.emit(ServerEvent.ReadsUpdated, batch);
        // Listeners written for one frame per marker keep working.
        for (const read of batch.reads) this.emit(ServerEvent.ReadUpdated, { chatId: batch.chatId, ...read });
        return;
      }
      case ServerEvent.MessagesExpired: {
        const expired = data as ServerPayloads[typeof ServerEvent.MessagesExpired];
        if (typeof expired?.throughId !== "number") return;
        // Retention deleted them: none still held back while catching up is passed on any more.
        this.held = this.held.filter((f) => f.event !== ServerEvent.ReceiveMessage || f.data.id > expired.throughId);
        this.emit(ServerEvent.MessagesExpired, expired);
        return;
      }
      case ServerEvent.Error: {
        const error = data as ErrorPayload;
        this.unsent.refused(error);
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
    this.unsent.pause();
  }

  protected onFinalClose(code: number, error?: ConnectionError): void {
    this.queuedChanges = [];
    this.unsent.rejectAll(
      error ? `connection closed before the message was stored: ${error.message}` : "connection closed before the message was stored",
      error?.code ?? (code === CloseCode.Removed ? ErrorCode.Forbidden : ErrorCode.Unavailable),
    );
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

  /** On every (re)join: unacknowledged messages, oldest first, then the changes asked for offline. */
  private transmitAll(): void {
    this.unsent.sendAll();
    const changes = this.queuedChanges;
    this.queuedChanges = [];
    for (const send of changes) send();
  }
}

const KNOWN_EVENTS = new Set<string>(Object.values(ServerEvent));
