/**
 * Browser notifications, opt-in: the permission is asked for only when the user clicks the button
 * (never on load), and the choice is remembered on this device. While the app is open a message
 * shows one notification per chat, replaced (same tag) rather than stacked; clicking it opens that
 * chat. When to notify is `shouldNotify`. Turned on, this browser is also subscribed to Web Push,
 * so the service worker notifies while the app is closed; where push is unavailable the in-tab
 * notifications go on, and a quiet line says so. The previews setting (the user's, on the server)
 * sits beside the button.
 */
import type { ApiClient } from "../client/api";
import type { Chat, Message, User } from "../protocol/models";
import { messageSummary } from "./attachments";
import { notificationTag, shouldNotify } from "./attention";
import { chatTitle } from "./chat-list";
import { h } from "./dom";
import { notificationBody } from "./push-payload";
import { closePushed, pushSupported, subscribe, unsubscribe } from "./push";

const KEY = "edge-chat-notifications";

/** What the quiet line under the button says of push, by its state. */
const PUSH_LINE = {
  off: "",
  subscribing: "Setting up notifications for when the app is closed…",
  on: "Also while the app is closed.",
  unavailable: "Only while the app is open: this browser could not subscribe to push.",
  unsupported: "Only while the app is open: this browser has no push.",
} as const;
export type PushState = keyof typeof PUSH_LINE;

export class Notifications {
  readonly button = h("button", { type: "button", class: "notify", "data-testid": "notifications" });
  private readonly previewsBox = h("input", { type: "checkbox", "data-testid": "push-previews" });
  private readonly previewsLabel = h("label", { class: "previews" }, this.previewsBox, " Show message text in notifications");
  private readonly pushLine = h("p", { class: "muted", role: "status", "data-testid": "push-state" });
  /** The button, the previews setting and the push line, for the sidebar. */
  readonly element = h("div", { class: "notify-settings" }, this.button, this.previewsLabel, this.pushLine);
  /** The newest message notified (or already known) per chat, so a repeated state is not notified twice. */
  private readonly lastNotified = new Map<number, number>();
  private readonly shown = new Map<number, Notification>();
  /** The user's setting (the server's copy rules): whether notifications show the message's text. */
  private previews = true;
  private push: PushState = "off";
  /** Subscribing and unsubscribing one after the other: a quick on-off-on ends as the last click said. */
  private pushSteps: Promise<void> = Promise.resolve();

  constructor(
    private readonly me: User,
    private readonly api: ApiClient,
    private readonly open: (chatId: number) => void,
  ) {
    this.button.addEventListener("click", () => void this.toggle());
    this.previewsBox.addEventListener("change", () => void this.setPreviews(this.previewsBox.checked));
    this.render();
  }

  private get supported(): boolean {
    return typeof Notification === "function";
  }

  get enabled(): boolean {
    return this.supported && Notification.permission === "granted" && localStorage.getItem(KEY) === "on";
  }

  /**
   * The app started (signed in): when notifications are on here, this browser's subscription is
   * sent again (the server replaces it; it may be another user's session than the last) and the
   * previews setting is read.
   */
  start(): void {
    if (!this.enabled) return;
    this.syncPush(true);
    void this.loadPreviews();
  }

  /**
   * Signing out: this browser's subscription ends (at the server while the token still works), so
   * the next user of this browser gets none of this one's pushes. Never slower than `ms`.
   */
  stop(ms = 3000): Promise<void> {
    this.syncPush(false);
    return Promise.race([this.pushSteps, new Promise<void>((resolve) => setTimeout(resolve, ms))]);
  }

  /** Messages the list already shows are not news. */
  known(chats: Iterable<Chat>): void {
    for (const chat of chats) if (chat.lastMessage) this.seen(chat.id, chat.lastMessage.id);
  }

  /** A chat's newest message, as the inbox reported it: notified if it deserves it. */
  arrived(chat: Chat, message: Message, openChatId: number | null): void {
    const arrival = { chatId: chat.id, messageId: message.id, senderId: message.sender.id, deleted: message.deleted };
    const due = shouldNotify(arrival, { me: this.me.id, openChatId, hidden: document.hidden, enabled: this.enabled, muted: chat.muted, lastNotified: this.lastNotified.get(chat.id) });
    this.seen(chat.id, message.id);
    if (!due) return;
    const body = notificationBody({ isGroup: chat.type === "group", sender: message.sender.username, count: 1, preview: this.previews ? messageSummary(message) : undefined });
    this.shown.get(chat.id)?.close();
    const notification = new Notification(chatTitle(chat, this.me), { body, tag: notificationTag(chat.id) });
    notification.addEventListener("click", () => {
      window.focus();
      this.open(chat.id);
      notification.close();
    });
    this.shown.set(chat.id, notification);
  }

  /** The chat was opened: its notification (the tab's or a push's) has done its job. */
  dismiss(chatId: number): void {
    this.shown.get(chatId)?.close();
    this.shown.delete(chatId);
    void closePushed(chatId).catch(() => {});
  }

  private seen(chatId: number, messageId: number): void {
    this.lastNotified.set(chatId, Math.max(messageId, this.lastNotified.get(chatId) ?? 0));
  }

  private async toggle(): Promise<void> {
    if (this.enabled) {
      localStorage.removeItem(KEY);
      this.syncPush(false);
    } else if ((await Notification.requestPermission()) === "granted") {
      localStorage.setItem(KEY, "on");
      this.syncPush(true);
      void this.loadPreviews();
    }
    this.render();
  }

  /** Subscribes or unsubscribes this browser, after whatever step is under way. */
  private syncPush(on: boolean): void {
    this.pushSteps = this.pushSteps.then(async () => {
      if (!pushSupported()) return this.setPush(on ? "unsupported" : "off");
      if (!on) {
        this.setPush("off");
        return unsubscribe(this.api).catch(() => {});
      }
      this.setPush("subscribing");
      try {
        await subscribe(this.api);
        this.setPush("on");
      } catch (err) {
        // No push service reachable, refused by the browser, or the server said no: the in-tab
        // notifications go on; the reason is there for whoever looks.
        this.setPush("unavailable");
        this.pushLine.title = (err as Error).message;
      }
    });
  }

  private setPush(state: PushState): void {
    this.push = state;
    this.pushLine.title = "";
    this.render();
  }

  private async loadPreviews(): Promise<void> {
    try {
      this.previews = (await this.api.pushSettings()).previews;
    } catch {
      // Kept as it was; the box says what is known.
    }
    this.render();
  }

  private async setPreviews(on: boolean): Promise<void> {
    this.previewsBox.disabled = true;
    try {
      this.previews = (await this.api.setPushPreviews(on)).previews;
    } catch {
      // Not saved: the box goes back to what the server has.
    }
    this.previewsBox.disabled = false;
    this.render();
  }

  private render(): void {
    this.element.hidden = !this.supported;
    if (!this.supported) return;
    const denied = Notification.permission === "denied";
    const enabled = this.enabled;
    this.button.disabled = denied;
    this.button.textContent = denied ? "Notifications blocked" : enabled ? "Notifications on" : "Turn on notifications";
    this.button.title = denied ? "Allow notifications for this site in the browser's settings" : "";
    this.previewsLabel.hidden = !enabled;
    this.previewsBox.checked = this.previews;
    this.pushLine.textContent = enabled ? PUSH_LINE[this.push] : "";
    this.pushLine.hidden = !this.pushLine.textContent;
  }
}
