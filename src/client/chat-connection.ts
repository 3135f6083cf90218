/**
 * A chat room connection that loses nothing: it reconnects with `since` = the last message id it
 * saw, resends every unacknowledged message with its original clientId (the server stores each
 * clientId once), and drops any message it already delivered.
 */
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent, type ErrorPayload, type ServerPayloads } from "../protocol/events";
import { ReconnectingSocket, type SocketEnvironment, type SocketEvents } from "./socket";

export type ChatEvents = ServerPayloads & SocketEvents;
export type MessageAck = ServerPayloads["message_sent"];

/** An error the server answered for one of this client's messages. */
export class SendError extends Error {
  constructor(readonly payload: ErrorPayload) {
    super(payload.error);
  }
}

interface Outgoing {
  clientId: string;
  content: string;
  resolve(ack: MessageAck): void;
  reject(error: SendError): void;
}

export interface ChatConnectionOptions {
  /** e.g. `https://chat.example.com` or `http://localhost:8787`. */
  baseUrl: string;
  token: string;
  chatId: number;
  /** The newest message id the caller already has (for example from history). */
  since?: number;
  env: SocketEnvironment;
  newClientId?: () => string;
  pingIntervalMs?: number;
}

export class ChatConnection extends ReconnectingSocket<ChatEvents> {
  readonly chatId: number;
  /** The newest message id seen (received or own): the `since` of the next connection. */
  lastMessageId: number | undefined;
  private readonly outbox = new Map<string, Outgoing>();
  private readonly newClientId: () => string;

  constructor(private readonly options: ChatConnectionOptions) {
    super(options.env, options.pingIntervalMs);
    this.chatId = options.chatId;
    this.lastMessageId = options.since;
    this.newClientId = options.newClientId ?? (() => crypto.randomUUID());
  }

  /** Messages sent but not yet acknowledged, oldest first. */
  get unacknowledged(): { clientId: string; content: string }[] {
    return [...this.outbox.values()].map(({ clientId, content }) => ({ clientId, content }));
  }

  /** Resolves once the message is stored; survives reconnects. */
  sendMessage(content: string, clientId = this.newClientId()): Promise<MessageAck> {
    return new Promise((resolve, reject) => {
      this.outbox.set(clientId, { clientId, content, resolve, reject });
      if (this.isOpen) this.transmit(clientId);
    });
  }

  startTyping(): void {
    this.sendFrame(ClientEvent.TypingStart, { chatId: this.chatId });
  }

  stopTyping(): void {
    this.sendFrame(ClientEvent.TypingStop, { chatId: this.chatId });
  }

  protected url(): string {
    const base = this.options.baseUrl.replace(/^http/, "ws").replace(/\/$/, "");
    const params = new URLSearchParams({ token: this.options.token });
    if (this.lastMessageId !== undefined) params.set("since", String(this.lastMessageId));
    return `${base}/api/chats/${this.chatId}/ws?${params}`;
  }

  protected onOpen(): void {
    // The server greets every socket with joined_chat; that is when the room is ready.
  }

  protected onFrame(event: string, data: unknown): void {
    switch (event) {
      case ServerEvent.JoinedChat:
        this.markOpen();
        this.emit(ServerEvent.JoinedChat, data as ServerPayloads["joined_chat"]);
        for (const clientId of this.outbox.keys()) this.transmit(clientId);
        return;
      case ServerEvent.ReceiveMessage: {
        const message = data as ServerPayloads["receive_message"];
        // Per socket the server sends in commit order, so anything at or below the newest id seen is a repeat.
        if (this.lastMessageId !== undefined && message.id <= this.lastMessageId) return;
        this.lastMessageId = message.id;
        this.emit(ServerEvent.ReceiveMessage, message);
        return;
      }
      case ServerEvent.MessageSent: {
        const ack = data as MessageAck;
        if (this.lastMessageId === undefined || ack.messageId > this.lastMessageId) this.lastMessageId = ack.messageId;
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
        // "internal" means not stored: keep it and resend on the next connection.
        if (pending && error.code !== ErrorCode.Internal) {
          this.outbox.delete(pending.clientId);
          pending.reject(new SendError(error));
        }
        this.emit(ServerEvent.Error, error);
        return;
      }
      default:
        if (KNOWN_EVENTS.has(event)) this.emit(event as keyof ServerPayloads, data as never);
    }
  }

  protected onFinalClose(code: number): void {
    for (const pending of this.outbox.values()) {
      pending.reject(new SendError({ error: "connection closed before the message was stored", code: code === CloseCode.Removed ? ErrorCode.Forbidden : ErrorCode.Unavailable }));
    }
    this.outbox.clear();
  }

  private transmit(clientId: string): void {
    const pending = this.outbox.get(clientId);
    if (pending) this.sendFrame(ClientEvent.SendMessage, { chatId: this.chatId, content: pending.content, clientId });
  }
}

const KNOWN_EVENTS = new Set<string>(Object.values(ServerEvent));
