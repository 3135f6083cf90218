/**
 * How a chat is reached from outside the page: its link (`/#chat=<id>`, what a new tab opened from a
 * notification loads, and what the address bar shows while the chat is open), and the message the
 * service worker posts to a tab that is already open. No DOM: the service worker imports it too.
 */

/** The app's page: the only path a tab of the app has (the API and attachments live under /api). */
export const APP_PATH = "/";

export const chatLink = (chatId: number) => `${APP_PATH}#chat=${chatId}`;

/** The chat a link's fragment names (`#chat=12`), or null. */
export function linkedChatId(hash: string): number | null {
  const match = /^#chat=([1-9][0-9]{0,15})$/.exec(hash);
  const id = match ? Number(match[1]) : NaN;
  return Number.isSafeInteger(id) ? id : null;
}

/** What the service worker posts to a tab: open this chat. */
export const SwMessage = { OpenChat: "open_chat" } as const;
export interface OpenChatMessage {
  type: typeof SwMessage.OpenChat;
  chatId: number;
}

export const openChatMessage = (chatId: number): OpenChatMessage => ({ type: SwMessage.OpenChat, chatId });

export function isOpenChatMessage(data: unknown): data is OpenChatMessage {
  const m = data as Partial<OpenChatMessage> | null;
  return typeof m === "object" && m !== null && m.type === SwMessage.OpenChat && Number.isSafeInteger(m.chatId) && m.chatId! > 0;
}

/** What the service worker knows of an open tab (a WindowClient). */
export interface TabLike {
  url: string;
  focused: boolean;
  visibilityState: string;
}

/**
 * The tab a click on a chat's notification goes to: one of the app's tabs already at that chat, else
 * the focused one, else a visible one, else any; undefined when no tab of the app is open (then a
 * new one opens at the chat's link). Other pages of the origin (an attachment opened in a tab) are
 * not the app.
 */
export function pickTab<T extends TabLike>(tabs: readonly T[], chatId: number | null): T | undefined {
  const app = tabs.filter((t) => URL.canParse(t.url) && new URL(t.url).pathname === APP_PATH);
  const atChat = (t: T) => chatId !== null && linkedChatId(new URL(t.url).hash) === chatId;
  return app.find(atChat) ?? app.find((t) => t.focused) ?? app.find((t) => t.visibilityState === "visible") ?? app[0];
}
