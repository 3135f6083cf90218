/** The edge chat client: REST helpers and reconnecting, typed sockets. Works in browsers and Node ≥ 22. */
export { ApiClient, ApiError, type NewChat } from "./api";
export { ChatConnection, SendError, type ChatConnectionOptions, type ChatEvents, type MessageAck } from "./chat-connection";
export { InboxConnection, type InboxEvents } from "./inbox-connection";
export { browserEnvironment, type ConnectionState, type SocketEnvironment, type WebSocketLike } from "./socket";
export { backoffDelay } from "./backoff";
export * from "../protocol/events";
export type * from "../protocol/models";
export { ErrorCode } from "../protocol/errors";
