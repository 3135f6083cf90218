/**
 * The messages a ChatConnection was asked to send that the server has not acknowledged: its unsent
 * messages (not the room's "outbox", which is what the room has not copied to D1 yet). Each keeps
 * its clientId through every resend, so the server stores it once however often the socket drops;
 * docs/PROTOCOL.md ("The TypeScript client") gives the rules callers can rely on.
 */
import { messageDraft, type SendOptions } from "./api";
import { ErrorCode } from "../protocol/errors";
import type { ErrorPayload, ServerEvent, ServerPayloads } from "../protocol/events";
import { limits } from "../protocol/limits";
import { backoffDelay } from "./backoff";
import type { SocketEnvironment } from "./socket";

export type MessageAck = ServerPayloads[typeof ServerEvent.MessageSent];

/** An error the server answered for one of this client's messages. */
export class SendError extends Error {
  constructor(readonly payload: ErrorPayload) {
    super(payload.error);
    this.name = "SendError";
  }
}

/** An unacknowledged message as the caller sent it, to rebuild a composer or a list of sends. */
export type UnsentDraft = { content: string; clientId: string } & SendOptions;

interface Unsent {
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

/**
 * How long to wait before resending a message the server refused with `error`, after `failures`
 * earlier refusals; undefined when resending cannot help. Slow mode says how long (`retryAfter`
 * seconds): the resend goes out just after, with up to a quarter second of jitter.
 */
export function retryDelay(error: ErrorPayload, failures: number, random: () => number): number | undefined {
  if (error.code === ErrorCode.SlowMode) return Math.max(1, error.retryAfter ?? 1) * 1000 + Math.round(random() * 250);
  const baseMs = RETRY_BASE_MS[error.code];
  return baseMs === undefined ? undefined : backoffDelay(failures, random, baseMs);
}

export class SendQueue {
  /** By clientId, in the order they were sent (a Map keeps insertion order). */
  private readonly unsent = new Map<string, Unsent>();
  private resendTimer: unknown = null;

  constructor(
    private readonly env: SocketEnvironment,
    /** How many times a message the server failed to store is sent before its promise rejects. */
    private readonly maxAttempts: number,
    /** Whether the socket is open and joined: only then does a message go out at once. */
    private readonly canSend: () => boolean,
    /** Sends `send_message` with this payload (the chat id is the connection's to add). */
    private readonly transmit: (draft: { content: string } & SendOptions) => void,
  ) {}

  /** Messages sent but not yet acknowledged, oldest first. */
  get drafts(): UnsentDraft[] {
    return [...this.unsent.values()].map((u) => ({ ...messageDraft(u.content, u), clientId: u.clientId }));
  }

  /** Resolves once the message is stored; survives reconnects. */
  add(content: string, clientId: string, replyToId: number | undefined, attachmentIds: string[] | undefined): Promise<MessageAck> {
    return new Promise((resolve, reject) => {
      const unsent: Unsent = { clientId, content, replyToId, attachmentIds, resolve, reject, failures: 0, waiting: false, giveUp: null };
      unsent.giveUp = this.env.setTimeout(() => {
        if (this.unsent.get(clientId) !== unsent) return;
        this.unsent.delete(clientId);
        reject(new SendError({ error: "not acknowledged within a day: it may or may not have been stored; check the chat before sending it again", code: ErrorCode.Unavailable, clientId }));
      }, GIVE_UP_AFTER_MS);
      this.unsent.set(clientId, unsent);
      // Behind messages that wait for a retry, so the chat stores them in the order they were sent.
      if (this.resendTimer !== null) unsent.waiting = true;
      else if (this.canSend()) this.send(unsent);
    });
  }

  /** `message_sent`: the message it names is stored. */
  acknowledged(ack: MessageAck): void {
    const unsent = ack.clientId !== undefined ? this.unsent.get(ack.clientId) : undefined;
    if (!unsent) return;
    this.settle(unsent);
    unsent.resolve(ack);
  }

  /** `error`: the message it names was not stored; retried when the code says it may succeed later. */
  refused(error: ErrorPayload): void {
    const unsent = error.clientId !== undefined ? this.unsent.get(error.clientId) : undefined;
    if (!unsent) return;
    const delay = retryDelay(error, unsent.failures, this.env.random);
    // Not stored ("internal", "unavailable", "rate_limited", "slow_mode"): try again on this socket, a bounded number of times.
    if (delay !== undefined && ++unsent.failures < this.maxAttempts) {
      unsent.waiting = true;
      this.scheduleResend(delay);
    } else {
      this.settle(unsent);
      unsent.reject(new SendError(error));
    }
  }

  /** On every (re)join: everything unacknowledged, oldest first. */
  sendAll(): void {
    this.env.clearTimeout(this.resendTimer);
    this.resendTimer = null;
    for (const unsent of this.unsent.values()) {
      unsent.waiting = false;
      this.send(unsent);
    }
  }

  /** The socket went away: whatever waits for a resend goes out on the next join (`sendAll`). */
  pause(): void {
    this.env.clearTimeout(this.resendTimer);
    this.resendTimer = null;
  }

  /** The connection stopped for good: every unacknowledged message rejects with this error. */
  rejectAll(error: string, code: ErrorCode): void {
    this.pause();
    for (const unsent of this.unsent.values()) {
      this.env.clearTimeout(unsent.giveUp);
      unsent.reject(new SendError({ error, code, clientId: unsent.clientId }));
    }
    this.unsent.clear();
  }

  /** Out of the queue, its give-up timer cleared. */
  private settle(unsent: Unsent): void {
    this.env.clearTimeout(unsent.giveUp);
    this.unsent.delete(unsent.clientId);
  }

  private scheduleResend(delayMs: number): void {
    if (this.resendTimer !== null) return;
    this.resendTimer = this.env.setTimeout(() => {
      this.resendTimer = null;
      if (!this.canSend()) return;
      for (const unsent of this.unsent.values()) {
        if (!unsent.waiting) continue;
        unsent.waiting = false;
        this.send(unsent);
      }
    }, delayMs);
  }

  private send(unsent: Unsent): void {
    this.transmit(messageDraft(unsent.content, unsent));
  }
}
