/** The sidebar's chat list, kept live by the inbox socket; `GET /api/chats` stays the truth. */
import { messageSummary } from "./attachments";
import type { Chat, User } from "../protocol/models";
import { h, replace } from "./dom";
import { replayHints, type ListHint } from "./list-hints";

export function chatTitle(chat: Chat, me: User): string {
  if (chat.type === "group") return chat.name ?? "Group";
  return chat.members.find((m) => m.id !== me.id)?.username ?? "Direct chat";
}

const activity = (c: Chat) => Date.parse(c.lastMessage?.timestamp ?? c.createdAt);

export class ChatList {
  readonly chats = new Map<number, Chat>();
  readonly element = h("ul", { class: "chats", "aria-label": "Chats", "data-testid": "chat-list" });
  activeId: number | null = null;
  /** One hint log per list fetch on its way. */
  private readonly pending = new Set<ListHint[]>();
  /** Called after every change (the page title counts the unread messages). */
  onChange: () => void = () => {};

  constructor(
    private readonly me: User,
    private readonly onSelect: (chat: Chat) => void,
  ) {}

  /**
   * Fetches the list and shows it, with what changed while it was on its way replayed onto it
   * (list-hints.ts): an answer read before a chat was added must not take that chat off again.
   */
  async load(fetchList: () => Promise<Chat[]>): Promise<Chat[]> {
    const hints: ListHint[] = [];
    this.pending.add(hints);
    try {
      const chats = replayHints(await fetchList(), hints);
      this.show(chats);
      return chats;
    } finally {
      this.pending.delete(hints);
    }
  }

  /** An inbox hint or the user's own change: shown now, and kept for any list answer on its way. */
  apply(hint: ListHint): void {
    for (const hints of this.pending) hints.push(hint);
    this.show(replayHints([...this.chats.values()], [hint]));
  }

  /** Marks the open chat (highlighted, and drawn without an unread badge). */
  select(chatId: number): void {
    this.activeId = chatId;
    this.render();
  }

  private show(chats: Chat[]): void {
    this.chats.clear();
    for (const chat of chats) this.chats.set(chat.id, chat);
    this.render();
  }

  render(): void {
    const sorted = [...this.chats.values()].sort((a, b) => activity(b) - activity(a) || b.id - a.id);
    // Redrawn from scratch: keep the keyboard's place on the chat that had focus.
    const focused = (document.activeElement?.closest("[data-chat-id]") as HTMLElement | null)?.dataset["chatId"];
    replace(
      this.element,
      ...sorted.map((chat) => {
        const unread = chat.unreadCount > 0 && chat.id !== this.activeId;
        return h(
          "li",
          { class: chat.id === this.activeId ? "active" : "", "data-chat-id": chat.id, "data-muted": chat.muted || undefined },
          // One button per chat: reachable with Tab, opened with Enter or Space.
          h(
            "button",
            { type: "button", class: "open", "aria-current": chat.id === this.activeId ? "true" : undefined, onclick: () => this.onSelect(chat) },
            h("span", { class: "name" }, chatTitle(chat, this.me)),
            chat.muted ? h("span", { class: "sr-only" }, "(muted)") : null,
            unread ? h("span", { class: "sr-only" }, "unread messages:") : null,
            unread ? h("span", { class: "badge", "data-testid": "unread" }, String(chat.unreadCount)) : null,
            h("span", { class: "last" }, chat.lastMessage ? `${chat.lastMessage.sender.username}: ${messageSummary(chat.lastMessage)}` : "No messages yet"),
          ),
        );
      }),
    );
    if (focused) this.focus(Number(focused));
    this.onChange();
  }

  /** Moves focus to a chat's entry (back from an open chat, say). */
  focus(chatId: number | null): void {
    (this.element.querySelector(`[data-chat-id="${chatId}"] button`) as HTMLElement | null)?.focus();
  }
}
