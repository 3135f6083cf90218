/** The objects that cross the wire, as the contract writes them. */
export interface User {
  id: number;
  username: string;
}

export type Role = "admin" | "member";
export type ChatType = "direct" | "group";

export interface Member extends User {
  role: Role;
}

/** A member as `GET /api/chats/:chatId` lists them: with their read marker, for "seen by". */
export interface ChatMember extends Member {
  lastReadMessageId: number | null;
}

/** One emoji on a message, with who put it there (in the order they did). */
export interface Reaction {
  emoji: string;
  count: number;
  userIds: number[];
}

/** What a reply shows of the message it answers: at most 100 characters, blank once that was deleted. */
export interface ReplyPreview {
  id: number;
  sender: User;
  excerpt: string;
}

/** A file shared in a chat (uploaded to the chat, then attached to one message). */
export interface Attachment {
  /** `<chatId>-<random>`: names its chat, unguessable. */
  id: string;
  name: string;
  /** Bytes. */
  size: number;
  contentType: string;
  /** Where members download it (`GET /api/attachments/:id`), relative to the API's origin. */
  url: string;
}

/** An attachment's `url`; the route checks who may download. */
export const attachmentPath = (id: string) => `/api/attachments/${id}`;

/** `POST /api/chats/:chatId/attachments` answers this: an upload not yet attached to a message. */
export type Upload = Omit<Attachment, "url">;

export interface Message {
  id: number;
  chatId: number;
  sender: User;
  /** `""` once deleted. */
  content: string;
  /** ISO-8601 UTC with milliseconds. */
  timestamp: string;
  /** When the content was last edited, or null. */
  editedAt: string | null;
  /** A deleted message keeps its id and place, with no content and no reactions. */
  deleted: boolean;
  reactions: Reaction[];
  replyTo: ReplyPreview | null;
  /** In the order they were attached; `[]` once the message was deleted. */
  attachments: Attachment[];
}

export interface Chat {
  id: number;
  type: ChatType;
  name: string | null;
  createdAt: string;
  members: ChatMember[];
  lastMessage: Message | null;
  lastReadMessageId: number | null;
  unreadCount: number;
  /** Seconds a member (not an admin) waits between two messages; 0: off. Always 0 in a direct chat. */
  slowModeSeconds: number;
  /** Messages older than this many seconds are deleted; null: kept. */
  retentionSeconds: number | null;
  /** The caller muted the chat: its messages send them no push notification. */
  muted: boolean;
}

/** A member's report of a message, as a group's admins see it (`GET /api/chats/:chatId/reports`). */
export interface Report {
  id: number;
  /** The message in its current state. */
  message: Message;
  reporter: User;
  reason: string;
  createdAt: string;
}

export interface AuthResponse {
  token: string;
  user: User;
}

export interface MessagePage {
  messages: Message[];
  hasMore: boolean;
  /** The chat's newest change id when the page was read: a `changesSince` that misses nothing after it. */
  lastChangeId: number;
}

/** `GET …/changes?after=`: the messages changed after a change id, in their current state. */
export interface ChangePage {
  messages: Message[];
  /** The change id of the last message in `messages` (or `after` when there is none). */
  lastChangeId: number;
  hasMore: boolean;
}

/** One message found by `GET /api/search`. */
export interface SearchResult {
  chatId: number;
  message: Message;
  /**
   * A window of the message's words around its first match, the matches between the markers of
   * `protocol/search.ts` (never HTML).
   */
  snippet: string;
}

/** `GET /api/search`: results newest first. */
export interface SearchPage {
  results: SearchResult[];
  hasMore: boolean;
  /** The `before` cursor of the next page (the last result's position), or null when there is none. */
  nextBefore: string | null;
}
