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
 * retry wait with them, so they go out in the order they were sent.
 *
 * It stops for good, rejecting what is unacknowledged, on a final close (see `ReconnectingSocket`):
 * close 1009 or 4003, or a refused connect after which `GET /api/chats/:chatId` answers 401, 403 or 404.
 */
import { ApiClient } from "./api";
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent, type ErrorPayload, type ServerPayloads } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { Message } from "../protocol/models";
import { backoffDelay } from "./backoff";
import { ReconnectingSocket, socketUrl, type ConnectionError, type SocketEnvironment, type SocketEvents } from "./socket";

/** The chat is up to date: every message up to `lastId` was delivered, live ones follow. */
export interface SyncedEvent {
  chatId: number;
  lastId: number | undefined;
}

export type ChatEvents = Omit<ServerPayloads, "replay_done"> & SocketEvents & { synced: SyncedEvent };
export type MessageAck = ServerPayloads["message_sent"];

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
  resolve(ack: MessageAck): void;
  reject(error: SendError): void;
  /** Failures answered by the server so far (retryable ones). */
  failures: number;
  /** Waits for the resend timer (after a retryable failure, or behind one). */
  waiting: boolean;
}

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
  /** Live messages held back while paging. */
  private held: Message[] = [];
  /** The newest own message acknowledged while paging: `lastMessageId` moves there after the paging. */
  private ackedWhileCatchingUp: number | undefined;
  private pageTimer: unknown = null;

  constructor(private readonly options: ChatConnectionOptions) {
    super(options.env, options.pingIntervalMs);
    this.chatId = options.chatId;
    this.lastMessageId = options.since;
    this.newClientId = options.newClientId ?? (() => crypto.randomUUID());
    this.api = new ApiClient(options.baseUrl, options.token, options.fetch);
    this.maxSendAttempts = Math.max(1, options.maxSendAttempts ?? 5);
  }

  /** Whether the chat is up to date (see `synced` in the class comment). */
  get isSynced(): boolean {
    return this.synced;
  }

  /** Messages sent but not yet acknowledged, oldest first. */
  get unacknowledged(): { clientId: string; content: string }[] {
    return [...this.outbox.values()].map(({ clientId, content }) => ({ clientId, content }));
  }

  /** Resolves once the message is stored; survives reconnects. */
  sendMessage(content: string, clientId = this.newClientId()): Promise<MessageAck> {
    return new Promise((resolve, reject) => {
      const outgoing: Outgoing = { clientId, content, resolve, reject, failures: 0, waiting: false };
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

  protected url(): string {
    this.attemptSince = this.lastMessageId;
    return socketUrl(this.options.baseUrl, `/api/chats/${this.chatId}/ws`, { token: this.api.token!, since: this.lastMessageId });
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
      case ServerEvent.JoinedChat:
        this.markOpen();
        this.emit(ServerEvent.JoinedChat, data as ServerPayloads["joined_chat"]);
        this.transmitAll();
        // Without `since` there is no replay: live frames are all there is.
        if (this.attemptSince === undefined && !this.synced) this.markSynced();
        return;
      case ServerEvent.ReceiveMessage: {
        const message = data as Message;
        if (this.catchingUp) this.held.push(message);
        else this.deliver(message);
        return;
      }
      case ServerEvent.ReplayDone: {
        const done = data as ServerPayloads["replay_done"];
        if (this.synced || this.catchingUp) return;
        if (!done.hasMore) return this.markSynced();
        this.catchingUp = true;
        this.fetchPage(done.lastId, this.socketEpoch, 0);
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
          this.outbox.delete(pending.clientId);
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
            this.outbox.delete(pending.clientId);
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
    for (const pending of this.outbox.values()) {
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

  /** Emits a message unless it was already delivered (ids only grow within a chat). */
  private deliver(message: Message): void {
    if (this.lastMessageId !== undefined && message.id <= this.lastMessageId) return;
    this.lastMessageId = message.id;
    this.emit(ServerEvent.ReceiveMessage, message);
  }

  private fetchPage(after: number, epoch: number, failures: number): void {
    this.api.history(this.chatId, { after, limit: limits.historyMaxLimit }).then(
      (page) => {
        if (epoch !== this.socketEpoch) return;
        for (const message of page.messages) this.deliver(message);
        const newest = page.messages.at(-1)?.id;
        if (page.hasMore && newest !== undefined && newest > after) this.fetchPage(newest, epoch, 0);
        else this.finishCatchUp();
      },
      (err: unknown) => {
        if (epoch !== this.socketEpoch) return;
        if (this.isFinalHttpError(err)) return this.fail(this.finalHttpError(err, CloseCode.Normal));
        this.pageTimer = this.env.setTimeout(() => {
          this.pageTimer = null;
          if (epoch === this.socketEpoch) this.fetchPage(after, epoch, failures + 1);
        }, backoffDelay(failures, this.env.random));
      },
    );
  }

  private finishCatchUp(): void {
    this.catchingUp = false;
    const held = this.held.sort((a, b) => a.id - b.id);
    this.held = [];
    for (const message of held) this.deliver(message);
    const acked = this.ackedWhileCatchingUp;
    this.ackedWhileCatchingUp = undefined;
    if (acked !== undefined && (this.lastMessageId === undefined || acked > this.lastMessageId)) this.lastMessageId = acked;
    this.markSynced();
  }

  private markSynced(): void {
    this.synced = true;
    this.emit("synced", { chatId: this.chatId, lastId: this.lastMessageId });
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
  }

  private transmit(outgoing: Outgoing): void {
    this.sendFrame(ClientEvent.SendMessage, { chatId: this.chatId, content: outgoing.content, clientId: outgoing.clientId });
  }
}

const KNOWN_EVENTS = new Set<string>(Object.values(ServerEvent));
