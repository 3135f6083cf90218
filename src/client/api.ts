/** REST helpers for every HTTP route of the contract, typed with the protocol's models. */
import { statusOf, type ErrorCode } from "../protocol/errors";
import type { AuthResponse, ChangePage, Chat, ChatType, Member, Message, MessagePage, Role, SearchPage, User } from "../protocol/models";

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

const codeByStatus = new Map<number, ErrorCode>(Object.entries(statusOf).map(([code, status]) => [status, code as ErrorCode]));

/** The contract's code for an HTTP status (`internal` for statuses it does not name, e.g. 502). */
export function codeForStatus(status: number): ErrorCode {
  return codeByStatus.get(status) ?? "internal";
}

/** What a new message may carry besides its content (`clientId`: idempotent resends; `replyToId`: the message it answers). */
export interface SendOptions {
  clientId?: string;
  replyToId?: number;
}

export type NewChat = { type: Extract<ChatType, "direct">; userId: number } | { type: Extract<ChatType, "group">; name: string; memberIds?: number[] };

export class ApiClient {
  constructor(
    readonly baseUrl: string,
    public token: string | null = null,
    private readonly fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  ) {}

  private async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (this.token) headers["Authorization"] = `Bearer ${this.token}`;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await this.fetchImpl(this.baseUrl.replace(/\/$/, "") + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
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
  addMember = (chatId: number, userId: number) => this.request<Member>("POST", `/api/chats/${chatId}/members`, { userId });
  setRole = (chatId: number, userId: number, role: Role) => this.request<Member>("PATCH", `/api/chats/${chatId}/members/${userId}`, { role });
  removeMember = (chatId: number, userId: number) => this.request<null>("DELETE", `/api/chats/${chatId}/members/${userId}`);
  markRead = (chatId: number, messageId: number) => this.request<null>("POST", `/api/chats/${chatId}/read`, { messageId });
  /** The third argument is the options, or (as before replies existed) just the clientId. */
  postMessage = (chatId: number, content: string, options: string | SendOptions = {}) => {
    const { clientId, replyToId } = typeof options === "string" ? { clientId: options, replyToId: undefined } : options;
    return this.request<Message>("POST", `/api/chats/${chatId}/messages`, { content, ...(clientId ? { clientId } : {}), ...(replyToId !== undefined ? { replyToId } : {}) });
  };
  /** For clients without a socket: a socket sends `edit_message` and the like instead (see ChatConnection). */
  editMessage = (chatId: number, messageId: number, content: string) => this.request<Message>("PATCH", `/api/chats/${chatId}/messages/${messageId}`, { content });
  deleteMessage = (chatId: number, messageId: number) => this.request<null>("DELETE", `/api/chats/${chatId}/messages/${messageId}`);
  addReaction = (chatId: number, messageId: number, emoji: string) => this.request<null>("PUT", reactionPath(chatId, messageId, emoji));
  removeReaction = (chatId: number, messageId: number, emoji: string) => this.request<null>("DELETE", reactionPath(chatId, messageId, emoji));
  /** Messages changed after change id `after` (0: all), in their current state, in change order, at most 100. */
  changes = (chatId: number, after: number) => this.request<ChangePage>("GET", `/api/chats/${chatId}/changes?${new URLSearchParams({ after: String(after) })}`);

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

/** An emoji is a path segment: percent-encoded (its UTF-8 bytes), as the contract asks. */
const reactionPath = (chatId: number, messageId: number, emoji: string) => `/api/chats/${chatId}/messages/${messageId}/reactions/${encodeURIComponent(emoji)}`;
