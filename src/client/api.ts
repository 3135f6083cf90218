/** REST helpers for every HTTP route of the contract, typed with the protocol's models. */
import { statusOf, type ErrorCode } from "../protocol/errors";
import type { PushSettings, PushSubscriptionJson, VapidPublicKey } from "../protocol/push";
import { attachmentPath, type AuthResponse, type ChangePage, type Chat, type ChatType, type Member, type Message, type MessagePage, type Report, type Role, type SearchPage, type Upload, type User } from "../protocol/models";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    /**
     * Whether the body was the API's own `{ error, code }`; false when something in between (a proxy,
     * a load balancer, a server still starting) answered with a page of its own.
     */
    readonly fromApi = true,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

/** The general code of each status (the first listed: `forbidden` for 403, not `blocked`). */
const codeByStatus = new Map<number, ErrorCode>();
for (const [code, status] of Object.entries(statusOf)) if (!codeByStatus.has(status)) codeByStatus.set(status, code as ErrorCode);

/** The contract's code for an HTTP status (`internal` for statuses it does not name, e.g. 502). */
export function codeForStatus(status: number): ErrorCode {
  return codeByStatus.get(status) ?? "internal";
}

/** What a new message may carry besides its content (`clientId`: idempotent resends; `replyToId`: the message it answers). */
export interface SendOptions {
  clientId?: string;
  replyToId?: number;
  /** Uploads of the sender's to this chat (`uploadAttachment`), at most 10; content may then be "". */
  attachmentIds?: string[];
}

/** The options of a send, from either form: the options, or (as before replies existed) just the clientId. */
export const sendOptions = (options: string | SendOptions): SendOptions => (typeof options === "string" ? { clientId: options } : options);

/**
 * A new message as it goes out, over HTTP or the socket (which adds the chat): options left out
 * are not sent at all, and no attachments is the same as none listed.
 */
export function messageDraft(content: string, { clientId, replyToId, attachmentIds }: SendOptions): { content: string } & SendOptions {
  return {
    content,
    ...(clientId ? { clientId } : {}),
    ...(replyToId !== undefined ? { replyToId } : {}),
    ...(attachmentIds?.length ? { attachmentIds } : {}),
  };
}

export interface UploadOptions {
  /** The file's name; a File's own name when left out. */
  name?: string;
  /** Bytes sent so far and the total, as the upload goes (browsers only: it needs XMLHttpRequest). */
  onProgress?: (sent: number, total: number) => void;
  /** Cancels the upload. */
  signal?: AbortSignal;
}

/** The part of XMLHttpRequest an upload uses (the client compiles without the DOM's types). */
interface XhrLike {
  open(method: string, url: string): void;
  setRequestHeader(name: string, value: string): void;
  send(body: Blob): void;
  abort(): void;
  upload: { onprogress: ((e: { loaded: number; total: number; lengthComputable: boolean }) => void) | null };
  onload: (() => void) | null;
  onerror: (() => void) | null;
  onabort: (() => void) | null;
  getResponseHeader?(name: string): string | null;
  readonly status: number;
  readonly statusText: string;
  readonly responseText: string;
}

/** `PATCH /api/chats/:chatId`: any of a group's name and settings. */
export type ChatUpdate = Partial<Pick<Chat, "slowModeSeconds" | "retentionSeconds">> & { name?: string };

export type NewChat = { type: Extract<ChatType, "direct">; userId: number } | { type: Extract<ChatType, "group">; name: string; memberIds?: number[] };

/** The header that carries D1's read-replication bookmark both ways (docs/PROTOCOL.md). */
export const BOOKMARK_HEADER = "X-D1-Bookmark";

export class ApiClient {
  /**
   * The latest D1 bookmark the server answered, sent with every request so that a D1 replica that
   * serves the next read (sign-in, user search) already has what this client wrote. Opaque; they
   * compare as strings, so an answer that arrives late never replaces a newer one.
   */
  bookmark: string | null = null;

  constructor(
    readonly baseUrl: string,
    public token: string | null = null,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  private url(path: string): string {
    return this.baseUrl.replace(/\/$/, "") + path;
  }

  private withBookmark(headers: Record<string, string>): Record<string, string> {
    if (this.bookmark !== null) headers[BOOKMARK_HEADER] = this.bookmark;
    return headers;
  }

  private keepBookmark(answered: string | null | undefined): void {
    if (answered && (this.bookmark === null || answered > this.bookmark)) this.bookmark = answered;
  }

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await this.fetchImpl(this.url(path), {
      method,
      headers: this.withBookmark(headers),
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    this.keepBookmark(res.headers?.get(BOOKMARK_HEADER));
    return this.answer<T>(method, path, res.status, res.statusText, res.ok, await res.text());
  }

  /** The API's answer, or its `{ error, code }` as an ApiError (also for answers from something in between). */
  private answer<T>(method: string, path: string, status: number, statusText: string, ok: boolean, text: string): T {
    const res = { status, statusText, ok };
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON: a proxy's or load balancer's page (an HTML 502, say), not the API's answer.
      const what = res.ok ? "the server answered with something other than JSON" : `HTTP ${res.status}${res.statusText ? ` ${res.statusText}` : ""}`;
      throw new ApiError(res.status, codeForStatus(res.status), `${what} (${method} ${path})`, false);
    }
    if (!res.ok) {
      const body = (json && typeof json === "object" ? json : {}) as { code?: unknown; error?: unknown };
      const fromApi = typeof body.code === "string";
      const code = fromApi ? (body.code as ErrorCode) : codeForStatus(res.status);
      throw new ApiError(res.status, code, typeof body.error === "string" ? body.error : res.statusText || `HTTP ${res.status}`, fromApi);
    }
    return json as T;
  }

  async register(username: string, password: string): Promise<AuthResponse> {
    const auth = await this.request<AuthResponse>("POST", "/api/auth/register", { username, password });
    this.token = auth.token;
    return auth;
  }

  async login(username: string, password: string): Promise<AuthResponse> {
    const auth = await this.request<AuthResponse>("POST", "/api/auth/login", { username, password });
    this.token = auth.token;
    return auth;
  }

  /** A fresh token for the current one (same user, later expiry); the client uses it from now on. */
  async refresh(): Promise<AuthResponse> {
    const auth = await this.request<AuthResponse>("POST", "/api/auth/refresh");
    this.token = auth.token;
    return auth;
  }

  /** Revokes every token of the user (all devices; their open sockets close with 4001). */
  logout = () => this.request<null>("POST", "/api/auth/logout");
  me = () => this.request<User>("GET", "/api/me");
  searchUsers = async (prefix: string) => (await this.request<{ users: User[] }>("GET", `/api/users?${new URLSearchParams({ q: prefix })}`)).users;
  listChats = async () => (await this.request<{ chats: Chat[] }>("GET", "/api/chats")).chats;
  getChat = (chatId: number) => this.request<Chat>("GET", `/api/chats/${chatId}`);
  createChat = (chat: NewChat) => this.request<Chat>("POST", "/api/chats", chat);
  renameChat = (chatId: number, name: string) => this.request<Chat>("PATCH", `/api/chats/${chatId}`, { name });
  /** A group's name and settings (admins): any of them, at least one. */
  updateChat = (chatId: number, settings: ChatUpdate) => this.request<Chat>("PATCH", `/api/chats/${chatId}`, settings);
  /** Blocks a user (per direction): they can no longer write to the caller in a direct chat, nor add them to groups. */
  blockUser = (userId: number) => this.request<null>("PUT", `/api/users/${userId}/block`);
  unblockUser = (userId: number) => this.request<null>("DELETE", `/api/users/${userId}/block`);
  blockedUsers = async () => (await this.request<{ users: User[] }>("GET", "/api/users/me/blocked")).users;
  /** Reports a message to the group's admins (`reason`: 1–500 characters). */
  reportMessage = (chatId: number, messageId: number, reason: string) => this.request<null>("POST", `/api/chats/${chatId}/messages/${messageId}/report`, { reason });
  /** A group's reports, newest first (its admins only); the next page: `before` the last id. */
  reports = (chatId: number, cursor: { before?: number; limit?: number } = {}) => this.request<{ reports: Report[]; hasMore: boolean }>("GET", `/api/chats/${chatId}/reports${queryString(cursor)}`);
  addMember = (chatId: number, userId: number) => this.request<Member>("POST", `/api/chats/${chatId}/members`, { userId });
  setRole = (chatId: number, userId: number, role: Role) => this.request<Member>("PATCH", `/api/chats/${chatId}/members/${userId}`, { role });
  removeMember = (chatId: number, userId: number) => this.request<null>("DELETE", `/api/chats/${chatId}/members/${userId}`);
  markRead = (chatId: number, messageId: number) => this.request<null>("POST", `/api/chats/${chatId}/read`, { messageId });
  /** The third argument is the options, or (as before replies existed) just the clientId. */
  postMessage = (chatId: number, content: string, options: string | SendOptions = {}) => this.request<Message>("POST", `/api/chats/${chatId}/messages`, messageDraft(content, sendOptions(options)));
  /** For clients without a socket: a socket sends `edit_message` and the like instead (see ChatConnection). */
  editMessage = (chatId: number, messageId: number, content: string) => this.request<Message>("PATCH", `/api/chats/${chatId}/messages/${messageId}`, { content });
  deleteMessage = (chatId: number, messageId: number) => this.request<null>("DELETE", `/api/chats/${chatId}/messages/${messageId}`);
  addReaction = (chatId: number, messageId: number, emoji: string) => this.request<null>("PUT", reactionPath(chatId, messageId, emoji));
  removeReaction = (chatId: number, messageId: number, emoji: string) => this.request<null>("DELETE", reactionPath(chatId, messageId, emoji));
  /** Stops (`muteChat`) or resumes push notifications for one chat; the chat's `muted` says which. */
  muteChat = (chatId: number) => this.request<null>("PUT", mutePath(chatId));
  unmuteChat = (chatId: number) => this.request<null>("DELETE", mutePath(chatId));

  /** The server's VAPID public key (base64url), for `pushManager.subscribe({ applicationServerKey })`; needs no token. */
  vapidPublicKey = async () => (await this.request<VapidPublicKey>("GET", "/api/push/vapid-public-key")).key;
  /**
   * Registers a push subscription for the signed-in user: a browser's PushSubscription (sent as its
   * `toJSON()`) or that JSON. The same endpoint again replaces it.
   */
  subscribePush = async (subscription: PushSubscriptionJson | { toJSON(): unknown }) => {
    await this.request<unknown>("POST", "/api/push/subscriptions", "toJSON" in subscription ? subscription.toJSON() : subscription);
  };
  /** Ends a push subscription (also one already gone). */
  unsubscribePush = (endpoint: string) => this.request<null>("DELETE", "/api/push/subscriptions", { endpoint });
  pushSettings = () => this.request<PushSettings>("GET", "/api/push/settings");
  /** Whether pushes carry the message's text (`preview`). */
  setPushPreviews = (previews: boolean) => this.request<PushSettings>("PATCH", "/api/push/settings", { previews });

  /** Messages changed after change id `after` (0: all), in their current state, in change order, at most 100. */
  changes = (chatId: number, after: number) => this.request<ChangePage>("GET", `/api/chats/${chatId}/changes?${new URLSearchParams({ after: String(after) })}`);

  /**
   * Uploads a file (a File or Blob) to a chat; attach the answer's `id` to a message with
   * `sendMessage(content, { attachmentIds })`. With `onProgress` in a browser it goes through
   * XMLHttpRequest, whose upload events fetch does not have.
   */
  async uploadAttachment(chatId: number, file: Blob, options: UploadOptions = {}): Promise<Upload> {
    const path = `/api/chats/${chatId}/attachments`;
    const name = options.name ?? (file as Blob & { name?: string }).name ?? "file";
    const headers: Record<string, string> = { "Content-Type": file.type || "application/octet-stream", "X-File-Name": encodeURIComponent(name) };
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    this.withBookmark(headers);
    const Xhr = (globalThis as { XMLHttpRequest?: new () => XhrLike }).XMLHttpRequest;
    if (options.onProgress && Xhr) {
      const { signal } = options;
      // As fetch does: a signal aborted before the call never starts the upload.
      if (signal?.aborted) throw new DOMException("upload cancelled", "AbortError");
      const abort = () => xhr.abort();
      const xhr = new Xhr();
      try {
        const { status, statusText, text } = await new Promise<{ status: number; statusText: string; text: string }>((resolve, reject) => {
          xhr.open("POST", this.url(path));
          for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
          xhr.upload.onprogress = (e) => options.onProgress!(e.loaded, e.lengthComputable ? e.total : file.size);
          xhr.onload = () => {
            this.keepBookmark(xhr.getResponseHeader?.(BOOKMARK_HEADER));
            resolve({ status: xhr.status, statusText: xhr.statusText, text: xhr.responseText });
          };
          xhr.onerror = () => reject(new TypeError("upload failed"));
          xhr.onabort = () => reject(new DOMException("upload cancelled", "AbortError"));
          signal?.addEventListener("abort", abort, { once: true });
          xhr.send(file);
        });
        return this.answer<Upload>("POST", path, status, statusText, status >= 200 && status < 300, text);
      } finally {
        // A long-lived signal (one per tray) would otherwise keep every finished XHR alive.
        signal?.removeEventListener("abort", abort);
      }
    }
    const res = await this.fetchImpl(this.url(path), { method: "POST", headers, body: file, ...(options.signal ? { signal: options.signal } : {}) });
    this.keepBookmark(res.headers?.get(BOOKMARK_HEADER));
    const answer = this.answer<Upload>("POST", path, res.status, res.statusText, res.ok, await res.text());
    options.onProgress?.(file.size, file.size);
    return answer;
  }

  /** A short-lived URL (a few minutes) for an attachment that needs no token: for `<img src>` and links. */
  async attachmentUrl(attachmentId: string): Promise<{ url: string; expiresAt: string }> {
    const signed = await this.request<{ url: string; expiresAt: string }>("GET", `${attachmentPath(attachmentId)}/url`);
    return { url: this.url(signed.url), expiresAt: signed.expiresAt };
  }

  history(chatId: number, cursor: { before?: number; after?: number; limit?: number } = {}): Promise<MessagePage> {
    return this.request<MessagePage>("GET", `/api/chats/${chatId}/messages${queryString(cursor)}`);
  }

  /**
   * Messages of the caller's chats (or one chat) matching every word of `q`, the last as a prefix,
   * newest first. The next page: `before: page.nextBefore`.
   */
  search(q: string, options: { chatId?: number; limit?: number; before?: string } = {}): Promise<SearchPage> {
    return this.request<SearchPage>("GET", `/api/search${queryString({ q, ...options })}`);
  }
}

/** `?a=1&b=2` of the options given (none: ""). */
function queryString(options: Record<string, string | number | undefined>): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(options)) if (value !== undefined) params.set(key, String(value));
  return params.size ? `?${params}` : "";
}

const mutePath = (chatId: number) => `/api/chats/${chatId}/mute`;

/** An emoji is a path segment: percent-encoded (its UTF-8 bytes), as the contract asks. */
const reactionPath = (chatId: number, messageId: number, emoji: string) => `/api/chats/${chatId}/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
