/** One open chat: history with scroll-back, live messages, typing, presence, and group admin. */
import { ApiClient } from "../client/api";
import { ChatConnection } from "../client/chat-connection";
import { browserEnvironment } from "../client/socket";
import { CloseCode } from "../protocol/errors";
import { ServerEvent } from "../protocol/events";
import type { Chat, Message, User } from "../protocol/models";
import { chatTitle } from "./chat-list";
import { h, replace } from "./dom";

const TYPING_IDLE_MS = 3000;

export class ChatView {
  readonly element = h("section", { class: "chat", "data-testid": "chat-view" });
  private readonly list = h("div", { class: "messages", "data-testid": "messages" });
  private readonly typingLine = h("div", { class: "typing", "data-testid": "typing" });
  private readonly banner = h("div", { "data-testid": "banner" });
  private readonly onlineLine = h("span", { class: "muted", "data-testid": "online" });
  private readonly panel = h("div", { class: "panel", hidden: true, "data-testid": "admin-panel" });
  private readonly input = h("input", { placeholder: "Message", maxLength: 4000, "data-testid": "composer" });
  /** Created at once so a message typed before the room is reached simply waits in its outbox. */
  private readonly connection: ChatConnection;
  private readonly rendered = new Map<string, HTMLElement>();
  private oldestId: number | undefined;
  private hasOlder = false;
  private loadingOlder = false;
  private readonly online = new Map<number, User>();
  private readonly typing = new Map<number, User>();
  private typingSent = 0;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private chat: Chat;

  constructor(
    private readonly api: ApiClient,
    private readonly me: User,
    chat: Chat,
    private readonly hooks: { onRead(chatId: number, messageId: number): void; onLeft(chatId: number): void; onBack(): void },
  ) {
    this.chat = chat;
    this.connection = new ChatConnection({ baseUrl: location.origin, token: api.token!, chatId: chat.id, env: browserEnvironment() });
    this.list.addEventListener("scroll", () => {
      if (this.list.scrollTop < 40) void this.loadOlder();
    });
    this.input.addEventListener("input", () => this.typed());
    const form = h("form", { class: "composer", onsubmit: (e) => (e.preventDefault(), this.send()) }, this.input, h("button", { class: "primary", type: "submit" }, "Send"));
    this.element.append(this.header(), this.banner, this.panel, this.list, this.typingLine, form);
  }

  private header(): HTMLElement {
    const title = h("span", { class: "title", "data-testid": "chat-title" }, chatTitle(this.chat, this.me));
    return h(
      "header",
      {},
      h("button", { class: "back", onclick: () => this.hooks.onBack() }, "←"),
      h("div", { class: "title" }, title, h("br"), this.onlineLine),
      this.chat.type === "group" ? h("button", { onclick: () => this.togglePanel(), "data-testid": "admin-toggle" }, "Members") : null,
    );
  }

  async open(): Promise<void> {
    const page = await this.api.history(this.chat.id);
    this.hasOlder = page.hasMore;
    this.oldestId = page.messages[0]?.id;
    for (const message of page.messages) this.show(message);
    this.scrollToBottom();
    const conn = this.connection;
    // Live frames resume right after the newest message the history gave us (0: from the start),
    // so nothing posted between the history request and the socket is missed.
    conn.lastMessageId = page.messages.at(-1)?.id ?? 0;
    conn.on("state", ({ state, closeCode }) => this.showState(state, closeCode));
    conn.on(ServerEvent.JoinedChat, ({ online }) => {
      this.online.clear();
      for (const u of online) this.online.set(u.id, u);
      this.renderOnline();
    });
    conn.on(ServerEvent.ReceiveMessage, (m) => {
      this.typing.delete(m.sender.id);
      this.renderTyping();
      this.show(m);
      this.scrollToBottom();
      if (!document.hidden) this.hooks.onRead(this.chat.id, m.id);
    });
    conn.on(ServerEvent.UserOnline, ({ user }) => (this.online.set(user.id, user), this.renderOnline()));
    conn.on(ServerEvent.UserOffline, ({ user }) => (this.online.delete(user.id), this.renderOnline()));
    conn.on(ServerEvent.UserTyping, ({ user }) => (this.typing.set(user.id, user), this.renderTyping()));
    conn.on(ServerEvent.UserStoppedTyping, ({ user }) => (this.typing.delete(user.id), this.renderTyping()));
    conn.on(ServerEvent.ChatUpdated, ({ name }) => this.refresh({ ...this.chat, name }));
    for (const event of [ServerEvent.MemberAdded, ServerEvent.MemberUpdated, ServerEvent.MemberRemoved] as const) {
      conn.on(event, () => void this.api.getChat(this.chat.id).then((c) => this.refresh(c), () => {}));
    }
    conn.connect();
    const newest = page.messages.at(-1);
    if (newest) this.hooks.onRead(this.chat.id, newest.id);
  }

  close(): void {
    this.connection.close();
    clearTimeout(this.typingTimer);
  }

  private refresh(chat: Chat) {
    this.chat = chat;
    this.element.replaceChild(this.header(), this.element.firstChild!);
    if (!this.panel.hidden) this.renderPanel();
  }

  private show(message: Message, pendingKey?: string): void {
    const key = pendingKey ?? `id:${message.id}`;
    if (this.rendered.has(`id:${message.id}`)) return;
    const mine = message.sender.id === this.me.id;
    const time = message.timestamp ? new Date(message.timestamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }) : "sending…";
    const el = h(
      "div",
      { class: `msg${mine ? " mine" : ""}${pendingKey ? " pending" : ""}`, "data-testid": "message", "data-message-id": message.id || undefined },
      h("div", { class: "meta" }, `${mine ? "You" : message.sender.username} · `, h("span", { class: "when" }, time)),
      h("div", { class: "text" }, message.content),
    );
    this.rendered.set(key, el);
    if (this.oldestId !== undefined && message.id && message.id < this.oldestId) this.list.prepend(el);
    else this.list.append(el);
  }

  private async send(): Promise<void> {
    const content = this.input.value;
    if (!content.trim()) return;
    this.input.value = "";
    this.stopTyping();
    const clientId = crypto.randomUUID();
    // Shown at once as pending, marked sent on the ack.
    this.show({ id: 0, chatId: this.chat.id, sender: this.me, content, timestamp: "" }, `client:${clientId}`);
    this.scrollToBottom();
    try {
      const ack = await this.connection.sendMessage(content, clientId);
      const el = this.rendered.get(`client:${clientId}`)!;
      // Stored before a drop but acked only after the reconnect: the `since` replay already showed it.
      if (this.rendered.has(`id:${ack.messageId}`)) {
        el.remove();
        this.rendered.delete(`client:${clientId}`);
        return;
      }
      el.classList.remove("pending");
      el.dataset["messageId"] = String(ack.messageId);
      el.querySelector(".when")!.textContent = new Date(ack.timestamp).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      this.rendered.set(`id:${ack.messageId}`, el);
    } catch (err) {
      const el = this.rendered.get(`client:${clientId}`);
      if (el) el.querySelector(".when")!.textContent = `not sent: ${(err as Error).message}`;
    }
  }

  private async loadOlder(): Promise<void> {
    if (!this.hasOlder || this.loadingOlder || this.oldestId === undefined) return;
    this.loadingOlder = true;
    const before = this.list.scrollHeight;
    try {
      const page = await this.api.history(this.chat.id, { before: this.oldestId });
      for (const message of [...page.messages].reverse()) this.show(message);
      this.oldestId = page.messages[0]?.id ?? this.oldestId;
      this.hasOlder = page.hasMore;
      this.list.scrollTop += this.list.scrollHeight - before;
    } finally {
      this.loadingOlder = false;
    }
  }

  private typed(): void {
    const now = Date.now();
    if (now - this.typingSent > TYPING_IDLE_MS) {
      this.connection.startTyping();
      this.typingSent = now;
    }
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  private stopTyping(): void {
    clearTimeout(this.typingTimer);
    if (this.typingSent) this.connection.stopTyping();
    this.typingSent = 0;
  }

  private showState(state: string, closeCode?: number): void {
    if (closeCode === CloseCode.Removed) {
      this.banner.className = "banner bad";
      this.banner.textContent = "You were removed from this chat.";
      this.input.disabled = true;
      this.hooks.onLeft(this.chat.id);
      return;
    }
    this.banner.className = state === "reconnecting" ? "banner" : "";
    this.banner.textContent = state === "reconnecting" ? "Reconnecting… messages you send will go out when the connection is back." : "";
  }

  private renderOnline(): void {
    const names = [...this.online.values()].filter((u) => u.id !== this.me.id).map((u) => u.username);
    this.onlineLine.textContent = names.length ? `online: ${names.join(", ")}` : "nobody else online";
  }

  private renderTyping(): void {
    const names = [...this.typing.values()].map((u) => u.username);
    this.typingLine.textContent = names.length === 0 ? "" : `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`;
  }

  private scrollToBottom(): void {
    this.list.scrollTop = this.list.scrollHeight;
  }

  private togglePanel(): void {
    this.panel.hidden = !this.panel.hidden;
    if (!this.panel.hidden) this.renderPanel();
  }

  private renderPanel(): void {
    const meAdmin = this.chat.members.some((m) => m.id === this.me.id && m.role === "admin");
    const act = (fn: () => Promise<unknown>) => () =>
      void fn().then(
        () => this.api.getChat(this.chat.id).then((c) => this.refresh(c), () => {}),
        (err: Error) => (error.textContent = err.message),
      );
    const error = h("div", { class: "error" });
    const nameInput = h("input", { value: this.chat.name ?? "", maxLength: 100, "data-testid": "rename-input" });
    const addInput = h("input", { placeholder: "username to add", "data-testid": "add-member-input" });
    const addMember = async () => {
      const [user] = await this.api.searchUsers(addInput.value.trim());
      if (!user || user.username.toLowerCase() !== addInput.value.trim().toLowerCase()) throw new Error("no such user");
      await this.api.addMember(this.chat.id, user.id);
    };
    replace(
      this.panel,
      meAdmin
        ? h("form", { class: "row", onsubmit: (e) => (e.preventDefault(), act(() => this.api.renameChat(this.chat.id, nameInput.value))()) }, nameInput, h("button", { type: "submit" }, "Rename"))
        : null,
      h(
        "ul",
        {},
        ...this.chat.members.map((m) =>
          h(
            "li",
            { "data-member-id": m.id },
            h("span", {}, `${m.username}${m.role === "admin" ? " (admin)" : ""}`),
            meAdmin && m.id !== this.me.id && m.role === "member" ? h("button", { onclick: act(() => this.api.setRole(this.chat.id, m.id, "admin")) }, "Promote") : null,
            meAdmin && m.id !== this.me.id ? h("button", { onclick: act(() => this.api.removeMember(this.chat.id, m.id)), "data-testid": `remove-${m.username}` }, "Remove") : null,
          ),
        ),
      ),
      meAdmin ? h("form", { onsubmit: (e) => (e.preventDefault(), act(addMember)()) }, addInput, h("button", { type: "submit" }, "Add")) : null,
      h("button", { onclick: () => void this.api.removeMember(this.chat.id, this.me.id).then(() => this.hooks.onLeft(this.chat.id)), "data-testid": "leave" }, "Leave group"),
      error,
    );
  }
}
