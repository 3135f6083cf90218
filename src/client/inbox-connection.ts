/** The user's inbox: live chat-list updates, on the same reconnecting socket as rooms. */
import { InboxEvent, type InboxPayloads } from "../protocol/events";
import { ReconnectingSocket, type SocketEnvironment, type SocketEvents } from "./socket";

export type InboxEvents = InboxPayloads & SocketEvents;

const KNOWN_EVENTS = new Set<string>(Object.values(InboxEvent));

export class InboxConnection extends ReconnectingSocket<InboxEvents> {
  constructor(private readonly options: { baseUrl: string; token: string; env: SocketEnvironment; pingIntervalMs?: number }) {
    super(options.env, options.pingIntervalMs);
  }

  protected url(): string {
    const base = this.options.baseUrl.replace(/^http/, "ws").replace(/\/$/, "");
    return `${base}/api/inbox/ws?${new URLSearchParams({ token: this.options.token })}`;
  }

  protected onOpen(): void {}

  protected onFrame(event: string, data: unknown): void {
    if (event === InboxEvent.InboxReady) this.markOpen();
    if (KNOWN_EVENTS.has(event)) this.emit(event as keyof InboxPayloads, data as never);
  }

  protected onFinalClose(): void {}
}
