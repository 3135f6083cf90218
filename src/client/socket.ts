/**
 * A WebSocket that stays connected: reconnects with backoff and jitter, sends a keep-alive `ping`,
 * and reports its state. Subclasses speak a protocol on top (`onOpen`, `onFrame`).
 */
import { CloseCode } from "../protocol/errors";
import { PING, PONG } from "../protocol/events";
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

const OPEN = 1;
/** Close codes after which reconnecting cannot help. */
const FINAL_CLOSES = new Set<number>([CloseCode.Removed]);

export interface SocketEvents {
  state: { state: ConnectionState; closeCode?: number };
}

export abstract class ReconnectingSocket<Events extends SocketEvents> extends Emitter<Events> {
  private ws: WebSocketLike | null = null;
  private attempt = 0;
  private stopped = false;
  private retryTimer: unknown = null;
  private pingTimer: unknown = null;
  state: ConnectionState = "closed";

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
  /** The connection ended for good (closed by us or refused by the server). */
  protected abstract onFinalClose(code: number): void;

  connect(): void {
    this.stopped = false;
    this.open();
  }

  close(): void {
    this.stopped = true;
    this.env.clearTimeout(this.retryTimer);
    this.env.clearTimeout(this.pingTimer);
    this.ws?.close(CloseCode.Normal, "client closed");
    this.ws = null;
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

  protected sendFrame(event: string, data: unknown): boolean {
    return this.sendRaw(JSON.stringify({ event, data }));
  }

  /** Called by the subclass when the protocol says the connection is ready (e.g. `joined_chat`). */
  protected markOpen(): void {
    this.attempt = 0;
    this.setState("open");
  }

  private open(): void {
    this.setState(this.attempt === 0 ? "connecting" : "reconnecting");
    const ws = new this.env.WebSocket(this.url());
    this.ws = ws;
    ws.onopen = () => {
      this.schedulePing();
      this.onOpen();
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== "string" || ev.data === PONG) return;
      let frame: { event?: unknown; data?: unknown };
      try {
        frame = JSON.parse(ev.data);
      } catch {
        return;
      }
      if (typeof frame.event === "string") this.onFrame(frame.event, frame.data);
    };
    ws.onerror = () => {
      // A close event always follows; reconnecting happens there.
    };
    ws.onclose = (ev) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.env.clearTimeout(this.pingTimer);
      if (this.stopped) return;
      if (FINAL_CLOSES.has(ev.code)) {
        this.stopped = true;
        this.setState("closed", ev.code);
        this.onFinalClose(ev.code);
        return;
      }
      this.setState("reconnecting", ev.code);
      this.retryTimer = this.env.setTimeout(() => this.open(), backoffDelay(this.attempt++, this.env.random));
    };
  }

  private schedulePing(): void {
    this.env.clearTimeout(this.pingTimer);
    this.pingTimer = this.env.setTimeout(() => {
      this.sendRaw(PING);
      this.schedulePing();
    }, this.pingIntervalMs);
  }

  private setState(state: ConnectionState, closeCode?: number): void {
    if (this.state === state && closeCode === undefined) return;
    this.state = state;
    this.emit("state", closeCode === undefined ? { state } : { state, closeCode });
  }
}
