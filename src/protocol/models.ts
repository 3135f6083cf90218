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

export interface Message {
  id: number;
  chatId: number;
  sender: User;
  content: string;
  /** ISO-8601 UTC with milliseconds. */
  timestamp: string;
}

export interface Chat {
  id: number;
  type: ChatType;
  name: string | null;
  createdAt: string;
  members: Member[];
  lastMessage: Message | null;
  lastReadMessageId: number | null;
  unreadCount: number;
}

export interface AuthResponse {
  token: string;
  user: User;
}

export interface MessagePage {
  messages: Message[];
  hasMore: boolean;
}
