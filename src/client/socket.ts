/**
 * A WebSocket that stays connected: reconnects with backoff and jitter, sends a keep-alive `ping`,
 * and reports its state. Subclasses speak a protocol on top (`onOpen`, `onFrame`).
 *
 * It stops for good (state "closed" with `closeCode` and `error`, a {@link ConnectionError}) when
 * - the server closes with a code of `FINAL_CLOSE_CODES` (1009 frame too big, 4001 session ended,
 *   4003 removed), unless a 4001 ended a token that `useToken` has replaced since, or
 * - an attempt fails before the socket ever opened (a refused upgrade: browsers show only close
 *   1006) and the subclass's HTTP `probe` of the same resource answers 401, 403 or 404 (the API's
 *   own JSON error, not some proxy's page).
 * Any other close (a network drop, a server restart, a probe that fails otherwise) reconnects.
 */
import { ApiError } from "./api";
import { CloseCode, ErrorCode, FINAL_CLOSE_CODES } from "../protocol/errors";
import { ClientEvent, encodeFrame, PING, PONG, type ClientPayloads } from "../protocol/events";
import { backoffDelay } from "./backoff";
import { Emitter } from "./emitter";

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** What the socket needs from its environment, injectable so tests can drive it. */
export interface SocketEnvironment {
  WebSocket: new (url: string) => WebSocketLike;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  random(): number;
}

export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export const browserEnvironment = (): SocketEnvironment => ({
  WebSocket: globalThis.WebSocket as unknown as SocketEnvironment["WebSocket"],
  setTimeout: (fn, ms) => globalThis.setTimeout(fn, ms),
  clearTimeout: (h) => globalThis.clearTimeout(h as number),
  random: Math.random,
});

/** The one place a socket URL is built: `http(s)` → `ws(s)`, the path, the query (undefined values left out). */
export function socketUrl(baseUrl: string, path: string, params: Record<string, string | number | undefined>): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) if (value !== undefined) query.set(key, String(value));
  return `${baseUrl.replace(/^http/, "ws").replace(/\/$/, "")}${path}?${query}`;
}

/** Why a connection stopped for good: the `error` of its final "closed" state. */
export class ConnectionError extends Error {
  constructor(
    message: string,
    /** The contract's code for the reason: `forbidden`, `not_found`, `unauthorized`, `payload_too_large`… */
    readonly code: ErrorCode,
    /** The close code of the socket that ended (1006 when a refused upgrade was found by the probe). */
    readonly closeCode: number,
    /** The HTTP status of the probe, when the probe found the reason. */
    readonly status?: number,
  ) {
    super(message);
    this.name = "ConnectionError";
  }
}

const OPEN = 1;
/** Probe answers after which reconnecting cannot help: the token, the resource or the access is gone. */
const FINAL_STATUSES = new Set([401, 403, 404]);

function finalCloseError(code: number, reason: string): ConnectionError {
  const why = reason ? `: ${reason}` : "";
  if (code === CloseCode.Removed) return new ConnectionError(`removed from the chat (close ${code}${why})`, ErrorCode.Forbidden, code);
  if (code === CloseCode.SessionEnded) return new ConnectionError(`session ended; sign in again (close ${code}${why})`, ErrorCode.Unauthorized, code);
  if (code === CloseCode.MessageTooBig) return new ConnectionError(`the server closed the connection: a frame was too big (close ${code}${why})`, ErrorCode.PayloadTooLarge, code);
  return new ConnectionError(`the server closed the connection for good (close ${code}${why})`, ErrorCode.BadRequest, code);
}

export interface SocketEvents {
  state: { state: ConnectionState; closeCode?: number; error?: ConnectionError };
}

export abstract class ReconnectingSocket<Events extends SocketEvents> extends Emitter<Events> {
  private ws: WebSocketLike | null = null;
  private attempt = 0;
  private stopped = false;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  /** Sockets that reached `open` so far: a probe answer is stale once another one opened. */
  private opened = 0;
  state: ConnectionState = "closed";
  /** Why the connection stopped for good, if it did (not set by `close()`). */
  error: ConnectionError | undefined;

  constructor(
    protected readonly env: SocketEnvironment,
    private readonly pingIntervalMs = 25_000,
  ) {
    super();
  }

  /** The URL of the next connection attempt (subclasses add `since`). */
  protected abstract url(): string;
  protected abstract onOpen(): void;
  protected abstract onFrame(event: string, data: unknown): void;
  /** The connection ended for good (closed by us, `error` undefined, or refused by the server). */
  protected abstract onFinalClose(code: number, error?: ConnectionError): void;
  /**
   * An HTTP request for the same resource, made after an attempt failed before opening: an
   * `ApiError` with status 401, 403 or 404 stops reconnecting; anything else is ignored.
   */
  protected abstract probe(): Promise<unknown>;
  /** The current socket went away (before reconnecting or stopping): drop per-connection state. */
  protected onDisconnect(): void {}
  /** A fresh token: the next connect (and any HTTP request of the subclass) must use it. */
  protected abstract onToken(token: string): void;

  /** Bumped by `useToken`: a 4001 close of a socket opened under an older token is not final. */
  private tokenEpoch = 0;

  /**
   * Moves the connection to a fresh token for the same user (see `Session`): an open socket
   * re-authenticates in band with `auth`, without reconnecting; later connects use the new token.
   */
  useToken(token: string): void {
    this.tokenEpoch++;
    this.onToken(token);
    this.sendFrame(ClientEvent.Auth, { token });
  }

  connect(): void {
    this.stopped = false;
    this.error = undefined;
    this.open();
  }

  close(): void {
    this.stopped = true;
    this.env.clearTimeout(this.retryTimer);
    this.env.clearTimeout(this.pingTimer);
    const hadSocket = this.ws !== null;
    this.ws?.close(CloseCode.Normal, "client closed");
    this.ws = null;
    if (hadSocket) this.onDisconnect();
    this.setState("closed");
    this.onFinalClose(CloseCode.Normal);
  }

  protected get isOpen(): boolean {
    return this.ws?.readyState === OPEN && this.state === "open";
  }

  protected sendRaw(text: string): boolean {
    if (!this.ws || this.ws.readyState !== OPEN) return false;
    this.ws.send(text);
    return true;
  }

  /** A client frame, typed by the contract: the payload must match the event. */
  protected sendFrame<K extends keyof ClientPayloads>(event: K, data: ClientPayloads[K]): boolean {
    return this.sendRaw(encodeFrame<ClientPayloads, K>(event, data));
  }

  /** Called by the subclass when the protocol says the connection is ready (e.g. `joined_chat`). */
  protected markOpen(): void {
    this.attempt = 0;
    this.setState("open");
  }

  /** Stop for good: no more attempts, state "closed" with the code and the reason. */
  protected fail(error: ConnectionError): void {
    if (this.stopped) return;
    this.stopped = true;
    this.error = error;
    this.env.clearTimeout(this.retryTimer);
    this.env.clearTimeout(this.pingTimer);
    if (this.ws) {
      this.ws.close(CloseCode.Normal, "client stopped");
      this.ws = null;
      this.onDisconnect();
    }
    this.setState("closed", error.closeCode, error);
    this.onFinalClose(error.closeCode, error);
  }

  /**
   * Whether an error from an HTTP request of this connection means it can never work again: 401, 403
   * or 404 answered by the API itself (not a proxy's or a restarting server's page).
   */
  protected isFinalHttpError(err: unknown): err is ApiError {
    return err instanceof ApiError && err.fromApi && FINAL_STATUSES.has(err.status);
  }

  protected finalHttpError(err: ApiError, closeCode: number): ConnectionError {
    return new ConnectionError(`${err.message} (HTTP ${err.status})`, err.code, closeCode, err.status);
  }

  private open(): void {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new this.env.WebSocket(this.url());
    this.ws = ws;
    let opened = false;
    const epoch = this.tokenEpoch;
    ws.onopen = () => {
      if (this.ws !== ws) return;
      opened = true;
      this.opened++;
      // A first `ping` at once (answered by the runtime without waking the room): a connection whose
      // client never sent a frame is held open ~10 s after a close the server starts, by a runtime
      // bug (docs/ARCHITECTURE.md, "Server-initiated closes"); after any frame the close is prompt.
      this.sendRaw(PING);
      this.schedulePing();
      this.onOpen();
    };
    ws.onmessage = (ev) => {
      if (this.ws !== ws) return;
      if (typeof ev.data !== "string" || ev.data === PONG) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(ev.data);
      } catch {
        return;
      }
      // One `{ event, data }`, or several as an array (`frames=batched`, docs/PROTOCOL.md), in order.
      for (const frame of (Array.isArray(parsed) ? parsed : [parsed]) as { event?: unknown; data?: unknown }[]) {
        // A frame that closed this socket (a final error, say) ends what is left of the array.
        if (this.ws !== ws) return;
        if (typeof frame?.event === "string") this.onFrame(frame.event, frame.data);
      }
    };
    ws.onerror = () => {
      // A close event always follows; reconnecting happens there.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.env.clearTimeout(this.pingTimer);
      this.onDisconnect();
      if (this.stopped) return;
      // Its session ended while a newer token was on its way: that token may connect again.
      const staleSession = ev.code === CloseCode.SessionEnded && epoch !== this.tokenEpoch;
      if (FINAL_CLOSE_CODES.has(ev.code) && !staleSession) return this.fail(finalCloseError(ev.code, ev.reason));
      this.setState("reconnecting", ev.code);
      this.retryTimer = this.env.setTimeout(() => this.open(), backoffDelay(this.attempt++, this.env.random));
      // Never opened: perhaps the server refused the upgrade (401/403/404), which a browser cannot
      // see. Ask over HTTP while the retry waits; a final answer cancels it.
      if (!opened) this.probeAfterRefusal(ev.code);
    };
  }

  private probeAfterRefusal(closeCode: number): void {
    const openedBefore = this.opened;
    let probing: Promise<unknown>;
    try {
      probing = this.probe();
    } catch {
      return;
    }
    probing.then(
      () => {},
      (err: unknown) => {
        // Stale when a socket has opened since: the server accepted us after all.
        if (this.stopped || this.opened !== openedBefore || !this.isFinalHttpError(err)) return;
        this.fail(this.finalHttpError(err, closeCode));
      },
    );
  }

  private schedulePing(): void {
    this.env.clearTimeout(this.pingTimer);
    this.pingTimer = this.env.setTimeout(() => {
      this.sendRaw(PING);
      this.schedulePing();
    }, this.pingIntervalMs);
  }

  private setState(state: ConnectionState, closeCode?: number, error?: ConnectionError): void {
    if (this.state === state && closeCode === undefined) return;
    this.state = state;
    const event: SocketEvents["state"] = { state };
    if (closeCode !== undefined) event.closeCode = closeCode;
    if (error) event.error = error;
    this.emit("state", event as Events["state"]);
  }
}
