/** The edge chat client: REST helpers and reconnecting, typed sockets. Works in browsers and Node ≥ 22. */
export { ApiClient, ApiError, codeForStatus, type ChatUpdate, type NewChat, type SendOptions, type UploadOptions } from "./api";
export { ChatConnection, ConnectionEvent, type ChatConnectionOptions, type ChatEvents, type MessageChangedEvent, type SyncedEvent } from "./chat-connection";
export { SendError, type MessageAck, type UnsentDraft } from "./send-queue";
export { InboxConnection, type InboxConnectionOptions, type InboxEvents } from "./inbox-connection";
export { TokenRefresher, refreshAt, tokenTimes, type TokenRefresherEvents } from "./token-refresher";
export { browserEnvironment, ConnectionError, type ConnectionState, type SocketEnvironment, type WebSocketLike } from "./socket";
export { backoffDelay } from "./backoff";
export * from "../protocol/events";
export type * from "../protocol/models";
export type { PushPayload, PushSettings, PushSubscriptionJson } from "../protocol/push";
export { CloseCode, ErrorCode, FINAL_CLOSE_CODES } from "../protocol/errors";
export { limits } from "../protocol/limits";
