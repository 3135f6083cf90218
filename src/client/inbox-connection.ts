/** The user's inbox: live chat-list updates, on the same reconnecting socket as rooms. */
import { ApiClient } from "./api";
import { InboxEvent, type InboxPayloads } from "../protocol/events";
import { ReconnectingSocket, socketUrl, type SocketEnvironment, type SocketEvents } from "./socket";

export type InboxEvents = InboxPayloads & SocketEvents;

const KNOWN_EVENTS = new Set<string>(Object.values(InboxEvent));

export interface InboxConnectionOptions {
  baseUrl: string;
  token: string;
  env: SocketEnvironment;
  pingIntervalMs?: number;
  /** The HTTP fetch (default: the global one), for the `GET /api/me` probe after a refused connect. */
  fetch?: typeof fetch;
}

/**
 * Stops for good (state "closed" with an `error`) when a connect is refused and `GET /api/me`
 * answers 401 (token expired or revoked), 403 or 404; see {@link ReconnectingSocket}.
 */
export class InboxConnection extends ReconnectingSocket<InboxEvents> {
  private readonly api: ApiClient;

  constructor(private readonly options: InboxConnectionOptions) {
    super(options.env, options.pingIntervalMs);
    this.api = new ApiClient(options.baseUrl, options.token, options.fetch);
  }

  protected url(): string {
    return socketUrl(this.options.baseUrl, "/api/inbox/ws", { token: this.api.token! });
  }

  protected onToken(token: string): void {
    this.api.token = token;
  }

  protected onOpen(): void {}

  protected onFrame(event: string, data: unknown): void {
    if (event === InboxEvent.InboxReady) this.markOpen();
    if (KNOWN_EVENTS.has(event)) this.emit(event as keyof InboxPayloads, data as never);
  }

  protected probe(): Promise<unknown> {
    return this.api.me();
  }

  protected onFinalClose(): void {}
}
