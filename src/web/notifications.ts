/**
 * Browser notifications, opt-in: the permission is asked for only when the user clicks the button
 * (never on load), and the choice is remembered on this device. One notification per chat, replaced
 * (same tag) rather than stacked; clicking it opens that chat. When to notify is `shouldNotify`.
 */
import type { Chat, Message, User } from "../protocol/models";
import { messageSummary } from "./attachments";
import { notificationTag, shouldNotify } from "./attention";
import { chatTitle } from "./chat-list";
import { h } from "./dom";

const KEY = "edge-chat-notifications";

export class Notifications {
  readonly button = h("button", { type: "button", class: "notify", "data-testid": "notifications" });
  /** The newest message notified (or already known) per chat, so a repeated state is not notified twice. */
  private readonly lastNotified = new Map<number, number>();
  private readonly shown = new Map<number, Notification>();

  constructor(
    private readonly me: User,
    private readonly open: (chatId: number) => void,
  ) {
    this.button.addEventListener("click", () => void this.toggle());
    this.render();
  }

  private get supported(): boolean {
    return typeof Notification === "function";
  }

  get enabled(): boolean {
    return this.supported && Notification.permission === "granted" && localStorage.getItem(KEY) === "on";
  }

  /** Messages the list already shows are not news. */
  known(chats: Iterable<Chat>): void {
    for (const chat of chats) if (chat.lastMessage) this.seen(chat.id, chat.lastMessage.id);
  }

  /** A chat's newest message, as the inbox reported it: notified if it deserves it. */
  arrived(chat: Chat, message: Message, openChatId: number | null): void {
    const arrival = { chatId: chat.id, messageId: message.id, senderId: message.sender.id, deleted: message.deleted };
    const due = shouldNotify(arrival, { me: this.me.id, openChatId, hidden: document.hidden, enabled: this.enabled, lastNotified: this.lastNotified.get(chat.id) });
    this.seen(chat.id, message.id);
    if (!due) return;
    const title = chatTitle(chat, this.me);
    const text = messageSummary(message);
    const body = chat.type === "group" ? `${message.sender.username}: ${text}` : text;
    this.shown.get(chat.id)?.close();
    const notification = new Notification(title, { body, tag: notificationTag(chat.id) });
    notification.addEventListener("click", () => {
      window.focus();
      this.open(chat.id);
      notification.close();
    });
    this.shown.set(chat.id, notification);
  }

  /** The chat was opened: its notification has done its job. */
  dismiss(chatId: number): void {
    this.shown.get(chatId)?.close();
    this.shown.delete(chatId);
  }

  private seen(chatId: number, messageId: number): void {
    this.lastNotified.set(chatId, Math.max(messageId, this.lastNotified.get(chatId) ?? 0));
  }

  private async toggle(): Promise<void> {
    if (this.enabled) localStorage.removeItem(KEY);
    else if ((await Notification.requestPermission()) === "granted") localStorage.setItem(KEY, "on");
    this.render();
  }

  private render(): void {
    this.button.hidden = !this.supported;
    if (!this.supported) return;
    const denied = Notification.permission === "denied";
    this.button.disabled = denied;
    this.button.textContent = denied ? "Notifications blocked" : this.enabled ? "Notifications on" : "Turn on notifications";
    this.button.title = denied ? "Allow notifications for this site in the browser's settings" : "";
  }
}
