/**
 * WebSocket event names and payloads: the one place they are spelled.
 * Every frame is `{ "event": name, "data": payload }`; `ping`/`pong` are bare text frames.
 */
import type { ErrorCode } from "./errors";
import type { Chat, Message, Reaction, Report, Role, User } from "./models";

export const ClientEvent = {
  JoinChat: "join_chat",
  SendMessage: "send_message",
  TypingStart: "typing_start",
  TypingStop: "typing_stop",
  /** Moves the sender's read marker (the socket form of `POST …/read`). */
  MarkRead: "mark_read",
  /** Re-authenticates the socket with a fresh token for the same user (chat and inbox sockets). */
  Auth: "auth",
  EditMessage: "edit_message",
  DeleteMessage: "delete_message",
  AddReaction: "add_reaction",
  RemoveReaction: "remove_reaction",
} as const;
export type ClientEventName = (typeof ClientEvent)[keyof typeof ClientEvent];

export const ServerEvent = {
  JoinedChat: "joined_chat",
  ReceiveMessage: "receive_message",
  MessageSent: "message_sent",
  UserTyping: "user_typing",
  UserStoppedTyping: "user_stopped_typing",
  UserOnline: "user_online",
  UserOffline: "user_offline",
  /** How many users are online, in a large chat (instead of `user_online` / `user_offline`). */
  Occupancy: "occupancy",
  MemberAdded: "member_added",
  MemberRemoved: "member_removed",
  MemberUpdated: "member_updated",
  ChatUpdated: "chat_updated",
  /** Ends a `since` replay: the client pages the rest over HTTP when `hasMore`. */
  ReplayDone: "replay_done",
  /** Answers `auth`: the socket now lives until the new token's expiry. */
  Authenticated: "authenticated",
  MessageEdited: "message_edited",
  MessageDeleted: "message_deleted",
  ReactionsUpdated: "reactions_updated",
  /** A member's read marker moved (to every socket of the chat, for "seen by"): one frame per moved marker, per window. */
  ReadUpdated: "read_updated",
  /** Every read marker that moved in the last window, in one frame (sockets opened with `receipts=batched`). */
  ReadsUpdated: "reads_updated",
  /** Retention deleted every message up to `throughId`: clients drop them. */
  MessagesExpired: "messages_expired",
  /** A member reported a message: to the group's admins' sockets only. */
  ReportFiled: "report_filed",
  Error: "error",
} as const;
export type ServerEventName = (typeof ServerEvent)[keyof typeof ServerEvent];

export const InboxEvent = {
  InboxReady: "inbox_ready",
  ChatActivity: "chat_activity",
  ChatAdded: "chat_added",
  ChatRemoved: "chat_removed",
  ChatRead: "chat_read",
  /** The inbox socket answers `auth` as a chat socket does. */
  Authenticated: ServerEvent.Authenticated,
  Error: ServerEvent.Error,
} as const;
export type InboxEventName = (typeof InboxEvent)[keyof typeof InboxEvent];

export const PING = "ping";
export const PONG = "pong";
export const JOINED_MESSAGE = "Successfully joined chat";

export interface ClientPayloads {
  join_chat: { chatId: number };
  /** `content` may be "" (or left out) when `attachmentIds` names at least one upload. */
  send_message: { chatId?: number; content?: string; attachmentIds?: string[]; clientId?: string; replyToId?: number };
  typing_start: { chatId?: number };
  typing_stop: { chatId?: number };
  mark_read: { chatId?: number; messageId: number };
  auth: { token: string };
  edit_message: { chatId?: number; messageId: number; content: string };
  delete_message: { chatId?: number; messageId: number };
  add_reaction: { chatId?: number; messageId: number; emoji: string };
  remove_reaction: { chatId?: number; messageId: number; emoji: string };
}

export interface ErrorPayload {
  error: string;
  code: ErrorCode;
  event?: string;
  clientId?: string;
  /** `slow_mode`: seconds until the sender may send again. */
  retryAfter?: number;
}

/** A member's read marker: the newest message they have read. */
export interface ReadMarker {
  user: User;
  lastReadMessageId: number;
}

export interface ServerPayloads {
  /** `lastChangeId`: the chat's newest change id now (the `changesSince` of a later reconnect). */
  /**
   * `onlineCount`: only in a large chat, whose `online` is empty: presence comes as `occupancy`
   * counts from then on, not per user (docs/PROTOCOL.md, "Large chats").
   */
  joined_chat: { chatId: number; message: string; online: User[]; lastChangeId: number; onlineCount?: number };
  receive_message: Message;
  message_sent: { messageId: number; chatId: number; timestamp: string; clientId?: string };
  user_typing: { chatId: number; user: User };
  user_stopped_typing: { chatId: number; user: User };
  user_online: { chatId: number; user: User };
  user_offline: { chatId: number; user: User };
  /** `online`: users with at least one open socket on the chat. */
  occupancy: { chatId: number; online: number };
  member_added: { chatId: number; user: User; role: Role };
  member_removed: { chatId: number; user: User };
  member_updated: { chatId: number; user: User; role: Role };
  /** The group's name and settings as they are now (any of them changed). */
  chat_updated: { chatId: number; name: string; slowModeSeconds: number; retentionSeconds: number | null };
  /**
   * `lastId`: the newest message id the socket has now been sent (the last one replayed, or `since`
   * when nothing was newer). `hasMore`: messages newer than `lastId` were left out of the replay
   * (over the limit) and must be paged with `GET …/messages?after=lastId`; live frames follow.
   */
  replay_done: { chatId: number; lastId: number; hasMore: boolean; lastChangeId: number; hasMoreChanges: boolean };
  /** `changeId`: this change's place in the chat's change log (see `changesSince`). */
  message_edited: { chatId: number; messageId: number; content: string; editedAt: string; changeId: number };
  message_deleted: { chatId: number; messageId: number; deletedAt: string; changeId: number };
  reactions_updated: { chatId: number; messageId: number; reactions: Reaction[]; changeId: number };
  read_updated: ReadMarker & { chatId: number };
  reads_updated: { chatId: number; reads: ReadMarker[] };
  /** Every message with an id up to `throughId` is gone (the chat's retention). */
  messages_expired: { chatId: number; throughId: number };
  /** The report as `GET …/reports` lists it (sent to admins only, once per message and reporter). */
  report_filed: { chatId: number; report: Report };
  authenticated: SessionPayload;
  error: ErrorPayload;
}

/** What `authenticated` says: whose socket it is and when its session now ends (ISO 8601). */
export interface SessionPayload {
  userId: number;
  expiresAt: string;
}

export interface InboxPayloads {
  inbox_ready: { userId: number };
  chat_activity: { chatId: number; lastMessage: Message; unreadCount: number };
  chat_added: { chat: Chat };
  chat_removed: { chatId: number };
  chat_read: { chatId: number; lastReadMessageId: number; unreadCount: number };
  authenticated: SessionPayload;
  error: ErrorPayload;
}

export type Frame<P, K extends keyof P = keyof P> = K extends keyof P ? { event: K; data: P[K] } : never;
export type ClientFrame = Frame<ClientPayloads>;
export type ServerFrame = Frame<ServerPayloads>;
export type InboxFrame = Frame<InboxPayloads>;

/** Serialise a frame once; the same string is sent to every socket. */
export function encodeFrame<P, K extends keyof P>(event: K, data: P[K]): string {
  return JSON.stringify({ event, data });
}

/** A chat socket's server frame. */
export const serverFrame = <K extends keyof ServerPayloads>(event: K, data: ServerPayloads[K]): string => encodeFrame<ServerPayloads, K>(event, data);

/** A chat socket's `error` frame; `context` names the frame it answers (`event`, `clientId`, `retryAfter`). */
export const errorFrame = (code: ErrorCode, error: string, context: Omit<ErrorPayload, "error" | "code"> = {}): string =>
  serverFrame(ServerEvent.Error, { error, code, ...context });
