/**
 * One open chat: history with scroll-back, live messages, typing, presence, group admin, and
 * messages that live: edits, deletes, reactions, replies and "seen by". Every message is drawn from
 * its current state (history pages are current; the socket's change events, and the connection's
 * `message_changed` after a long absence, keep it so), never optimistically: what the server says is
 * what shows.
 */
import { ApiClient } from "../client/api";
import { ChatConnection, ConnectionEvent } from "../client/chat-connection";
import { browserEnvironment, type ConnectionError } from "../client/socket";
import { CloseCode, ErrorCode } from "../protocol/errors";
import { ClientEvent, ServerEvent, type ErrorPayload } from "../protocol/events";
import { limits } from "../protocol/limits";
import { attachmentPath, type Chat, type Message, type User } from "../protocol/models";
import { excerptOf } from "../protocol/replies";
import { chatTitle } from "./chat-list";
import { h, replace } from "./dom";
import { AttachmentTray, AttachmentViews, messageSummary } from "./attachments";
import type { BlockList } from "./blocks";
import { MembersPanel } from "./members-panel";
import { enterSubmits, MessageItem, type MessageActions } from "./message-item";
import { MessageList } from "./message-list";

const TYPING_IDLE_MS = 3000;

/** How many recent announcements the live region keeps (older ones are dropped). */
const ANNOUNCED_MAX = 5;

/** At most one read marker a second per open chat. */
const READ_INTERVAL_MS = 1000;

/** What a refused change was, for the notice that says so. */
const CHANGE_WHAT: Partial<Record<string, string>> = {
  [ClientEvent.EditMessage]: "edit",
  [ClientEvent.DeleteMessage]: "delete",
  [ClientEvent.AddReaction]: "reaction",
  [ClientEvent.RemoveReaction]: "reaction",
};

export class ChatView {
  readonly element = h("section", { class: "chat", "data-testid": "chat-view" });
  private readonly messages: MessageList;
  /** Incoming messages, read out by screen readers without taking focus. */
  private readonly announcer = h("div", { class: "sr-only", "aria-live": "polite", "aria-relevant": "additions", "data-testid": "announcer" });
  private readonly typingLine = h("div", { class: "typing", "data-testid": "typing" });
  private readonly banner = h("div", { "data-testid": "banner" });
  private readonly onlineLine = h("span", { class: "muted", "data-testid": "online" });
  private readonly members: MembersPanel;
  private readonly input = enterSubmits(h("textarea", { placeholder: "Message (Shift+Enter for a new line)", rows: 1, maxLength: limits.contentMax, "aria-label": "Message", "data-testid": "composer" }));
  /** The header's "Members" button, when the chat is a group. */
  private panelToggle: HTMLButtonElement | null = null;
  /** The header's "Mute"/"Unmute" button (pushes and notifications of this chat). */
  private muteToggle: HTMLButtonElement | null = null;
  private readonly replyBar = h("div", { class: "reply-bar", hidden: true, "data-testid": "reply-bar" });
  /** Why a change did not happen (refused by the server), until the next action. */
  private readonly notice = h("div", { class: "notice", role: "status", "data-testid": "notice" });
  /**
   * Created at once, so a message typed before the room is reached simply waits among its unsent
   * ones. Public so the app can keep its token fresh (TokenRefresher).
   */
  readonly connection: ChatConnection;
  /**
   * Whether the reader was at the newest message when a catch-up (the `since` replay and what is
   * paged after it) began: measured once, at its first message, not once a message (layout each time).
   */
  private followingAtCatchUp: boolean | undefined;
  /** The message the composer answers, if any. */
  private replyingTo: Message | null = null;
  /** Other members' read markers (never moved back), for "seen by". */
  private readonly markers = new Map<number, { user: User; id: number }>();
  private seenOn: MessageItem | null = null;
  /**
   * While an older page loads, changes to messages not shown yet wait here and are applied after
   * it: the page may have been read before them.
   */
  private changesForOlder: (() => void)[] | null = null;
  private readonly actions: MessageActions;
  /** The newest message the reader has seen here, and the newest marker sent for it (each is sent once). */
  private readSeen = 0;
  private readReported = 0;
  private readSentAt = 0;
  private readTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly onVisible = () => {
    if (!document.hidden) this.reportRead();
  };
  private closed = false;
  private hasOlder = false;
  private loadingOlder = false;
  private readonly online = new Map<number, User>();
  /** In a large chat: how many are online (the server sends no names there). */
  private onlineCount: number | undefined;
  private readonly typing = new Map<number, User>();
  private typingSent = 0;
  private typingTimer: ReturnType<typeof setTimeout> | undefined;
  private chat: Chat;
  /** Uploads for the next message (attach button, drag and drop). */
  private readonly tray: AttachmentTray;
  private readonly files: AttachmentViews;

  /** Stops listening to the block list (on close). */
  private readonly unlistenBlocks: () => void;

  constructor(
    private readonly api: ApiClient,
    private readonly me: User,
    chat: Chat,
    private readonly blocks: BlockList,
    private readonly hooks: {
      onRead(chatId: number, messageId: number): void;
      onLeft(chatId: number): void;
      onBack(): void;
      /** The token was refused (expired or revoked): the user must log in again. */
      onSessionEnded?(): void;
      /** The user muted or unmuted this chat. */
      onMuted?(chatId: number, muted: boolean): void;
    },
  ) {
    this.chat = chat;
    this.members = new MembersPanel(api, me, chat, blocks, { refresh: (c) => this.refresh(c), onLeft: (chatId) => hooks.onLeft(chatId) });
    // Blocking or unblocking someone (here or elsewhere) collapses or shows their messages at once.
    this.unlistenBlocks = blocks.onChange(() => {
      for (const item of this.messages.items()) item.paint();
      this.refresh(this.chat);
    });
    this.takeMarkers(chat);
    this.tray = new AttachmentTray(api, chat.id);
    this.files = new AttachmentViews(api);
    this.actions = {
      me,
      canDelete: (m) => m.sender.id === this.me.id || this.isAdmin(),
      reply: (m) => {
        this.setReplying(m);
        this.input.focus();
      },
      edit: (m, content) => this.request(() => this.connection.editMessage(m.id, content)),
      remove: (m) => this.request(() => this.connection.deleteMessage(m.id)),
      toggleReaction: (m, emoji) => {
        const mine = m.reactions.some((r) => r.emoji === emoji && r.userIds.includes(this.me.id));
        this.request(() => (mine ? this.connection.removeReaction(m.id, emoji) : this.connection.addReaction(m.id, emoji)));
      },
      showOriginal: (id) => this.showOriginal(id),
      files: (m) => this.files.render(m.attachments),
      isBlocked: (senderId) => this.blocks.has(senderId),
      report: (m, reason) =>
        void this.api.reportMessage(this.chat.id, m.id, reason).then(
          () => (this.notice.textContent = this.chat.type === "group" ? "Reported to the group's admins." : "Reported."),
          (err: Error) => (this.notice.textContent = `The report was not sent: ${err.message}`),
        ),
    };
    this.messages = new MessageList(chat.id, this.actions, {
      nearTop: () => void this.loadOlder(),
      caughtUp: (newest) => this.markRead(newest),
      jumped: () => this.input.focus(),
    });
    this.connection = new ChatConnection({ baseUrl: location.origin, token: api.token!, chatId: chat.id, env: browserEnvironment() });
    this.input.addEventListener("input", () => this.typed());
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.setReplying(null);
    });
    const form = h("form", { class: "composer", onsubmit: (e) => (e.preventDefault(), this.send()) }, this.tray.button, this.tray.input, this.input, h("button", { class: "primary", type: "submit" }, "Send"));
    this.element.append(this.header(), this.banner, this.members.element, this.messages.element, this.typingLine, this.notice, this.replyBar, this.tray.element, form, this.files.viewer, this.announcer);
    this.tray.acceptDrops(this.element);
  }

  /** Where typing goes: focus moves here when a chat opens. */
  focusComposer(): void {
    this.input.focus();
  }

  private header(): HTMLElement {
    const title = h("h2", { class: "title", "data-testid": "chat-title" }, chatTitle(this.chat, this.me));
    this.panelToggle = this.members.button();
    // In a direct chat, the other person can be blocked from its header (in a group: the members panel).
    const other = this.chat.type === "direct" ? this.chat.members.find((m) => m.id !== this.me.id) : undefined;
    this.muteToggle = h("button", { type: "button", onclick: () => void this.toggleMute(), "data-testid": "mute" });
    this.paintMute();
    return h(
      "header",
      {},
      h("button", { type: "button", class: "back", "aria-label": "Back to the chat list", onclick: () => this.hooks.onBack() }, "←"),
      h("div", { class: "title" }, title, this.onlineLine),
      this.muteToggle,
      this.panelToggle,
      other ? this.members.blockButton(other, () => {}) : null,
    );
  }

  private paintMute(): void {
    const muted = this.chat.muted;
    this.muteToggle!.textContent = muted ? "Unmute" : "Mute";
    this.muteToggle!.title = muted ? "Notify me of this chat's messages again" : "No notifications for this chat, in this tab or pushed";
  }

  /** Mutes or unmutes the chat; the button says so once the server has it. */
  private async toggleMute(): Promise<void> {
    const muted = !this.chat.muted;
    try {
      await (muted ? this.api.muteChat(this.chat.id) : this.api.unmuteChat(this.chat.id));
    } catch (err) {
      this.notice.textContent = `The chat was not ${muted ? "muted" : "unmuted"}: ${(err as Error).message}`;
      return;
    }
    this.chat = { ...this.chat, muted };
    this.paintMute();
    this.hooks.onMuted?.(this.chat.id, muted);
  }

  /**
   * Loads the history and connects. With `focusId` (a search result), the page ends at that message
   * (older ones above it, scroll back as usual), the socket's `since` replay brings everything newer
   * below it, and the view rests on that message, highlighted, instead of the newest.
   */
  async open(focusId?: number): Promise<void> {
    const page = await this.api.history(this.chat.id, focusId === undefined ? {} : { before: focusId + 1 });
    // Closed (another chat opened) while the history loaded: never connect, or this chat's socket
    // would live on in the background and mark its messages read.
    if (this.closed) return;
    this.hasOlder = page.hasMore;
    this.messages.oldestId = page.messages[0]?.id;
    for (const message of page.messages) this.messages.show(message);
    this.renderSeen();
    if (focusId === undefined) this.messages.scrollToBottom();
    else this.showOriginal(focusId);
    const conn = this.connection;
    // Live frames resume right after the newest message the history gave us (0: from the start),
    // and changes right after the page's newest change, so nothing that happened between the
    // history request and the socket is missed.
    conn.lastMessageId = page.messages.at(-1)?.id ?? 0;
    conn.lastChangeId = page.lastChangeId;
    conn.on("state", ({ state, closeCode, error }) => this.showState(state, closeCode, error));
    conn.on(ServerEvent.JoinedChat, ({ online, onlineCount }) => {
      this.online.clear();
      for (const u of online) this.online.set(u.id, u);
      // A large chat counts who is online instead of naming them (PROTOCOL.md, "Large chats").
      this.onlineCount = onlineCount;
      this.renderOnline();
      // Markers that moved before this socket opened never come as receipts: ask once per
      // connection (the chat object is the room's own, current).
      void this.api.getChat(this.chat.id).then((c) => this.refresh(c), () => {});
    });
    // After a long absence the connection pages what the replay left out: those arrive here as
    // receive_message too, in id order, and the chat counts as read once it is synced.
    conn.on(ServerEvent.ReceiveMessage, (m) => {
      if (m.chatId !== this.chat.id) return;
      // Whoever wrote has stopped typing (redrawn only when they were shown typing).
      if (this.typing.delete(m.sender.id)) this.renderTyping();
      if (!conn.isSynced) {
        // Catching up: drawn, but what it means for scrolling, reading and "seen by" is decided
        // once, at synced (per message it cost a layout and a walk over every message).
        this.followingAtCatchUp ??= this.messages.nearBottom();
        this.messages.show(m);
        if (m.sender.id !== this.me.id) this.moveMarker(m.sender, m.id, false);
        return;
      }
      // Measured before it is drawn: a reader at the newest message follows along; one scrolled up
      // stays where they are, told how many arrived below (and those are not read yet).
      const following = this.messages.nearBottom();
      this.messages.show(m);
      // A member's own message counts as read by them (the server moves their marker, unannounced).
      if (m.sender.id !== this.me.id) this.moveMarker(m.sender, m.id);
      if (m.sender.id !== this.me.id) this.announce(m);
      if (following || m.sender.id === this.me.id) {
        this.messages.scrollToBottom();
        this.markRead(m.id);
      } else this.messages.arrivedBelow(m.id);
    });
    let focus = focusId;
    conn.on(ConnectionEvent.Synced, ({ lastId }) => {
      const following = focus === undefined && (this.followingAtCatchUp ?? this.messages.nearBottom());
      this.followingAtCatchUp = undefined;
      this.renderSeen();
      if (focus !== undefined) this.showOriginal(focus);
      focus = undefined;
      if (following) {
        this.messages.scrollToBottom();
        if (lastId) this.markRead(lastId);
      } else this.messages.unseenBelow(this.readSeen);
    });
    conn.on(ServerEvent.MessageEdited, (e) => e.chatId === this.chat.id && this.change(e.messageId, (m) => ({ ...m, content: e.content, editedAt: e.editedAt })));
    conn.on(ServerEvent.MessageDeleted, (e) => e.chatId === this.chat.id && this.change(e.messageId, (m) => ({ ...m, deleted: true, content: "", reactions: [] })));
    conn.on(ServerEvent.ReactionsUpdated, (e) => e.chatId === this.chat.id && this.change(e.messageId, (m) => ({ ...m, reactions: e.reactions })));
    conn.on(ConnectionEvent.MessageChanged, ({ chatId, message }) => chatId === this.chat.id && this.change(message.id, () => message));
    // A window's receipts in one frame: "seen by" is drawn once for all of them.
    conn.on(ServerEvent.ReadsUpdated, ({ chatId, reads }) => {
      if (chatId !== this.chat.id) return;
      for (const { user, lastReadMessageId } of reads) if (user.id !== this.me.id) this.moveMarker(user, lastReadMessageId, false);
      this.renderSeen();
    });
    conn.on(ServerEvent.Error, (e) => this.refused(e));
    // Retention deleted them everywhere: they go from the view too.
    conn.on(ServerEvent.MessagesExpired, ({ chatId, throughId }) => {
      if (chatId !== this.chat.id) return;
      this.messages.removeThrough(throughId);
      if (this.replyingTo !== null && this.replyingTo.id <= throughId) this.setReplying(null);
      this.renderSeen();
    });
    conn.on(ServerEvent.UserOnline, ({ user }) => (this.online.set(user.id, user), this.renderOnline()));
    conn.on(ServerEvent.UserOffline, ({ user }) => (this.online.delete(user.id), this.renderOnline()));
    conn.on(ServerEvent.Occupancy, ({ online }) => ((this.onlineCount = online), this.renderOnline()));
    conn.on(ServerEvent.UserTyping, ({ user }) => (this.typing.set(user.id, user), this.renderTyping()));
    conn.on(ServerEvent.UserStoppedTyping, ({ user }) => (this.typing.delete(user.id), this.renderTyping()));
    conn.on(ServerEvent.ReportFiled, () => this.members.reportFiled());
    conn.on(ServerEvent.ChatUpdated, ({ name, slowModeSeconds, retentionSeconds }) => this.refresh({ ...this.chat, name, slowModeSeconds, retentionSeconds }));
    for (const event of [ServerEvent.MemberAdded, ServerEvent.MemberUpdated, ServerEvent.MemberRemoved] as const) {
      conn.on(event, () => void this.api.getChat(this.chat.id).then((c) => this.refresh(c), () => {}));
    }
    document.addEventListener("visibilitychange", this.onVisible);
    conn.connect();
    const newest = page.messages.at(-1);
    if (newest) this.markRead(newest.id);
  }

  close(): void {
    // A marker still waiting for its once-a-second slot goes now: leaving the chat must not leave
    // what was read counted as unread in the list.
    if (this.readTimer !== undefined) this.reportRead();
    this.closed = true;
    clearTimeout(this.readTimer);
    document.removeEventListener("visibilitychange", this.onVisible);
    this.connection.close();
    this.unlistenBlocks();
    clearTimeout(this.typingTimer);
  }

  private refresh(chat: Chat) {
    const wasAdmin = this.isAdmin();
    this.chat = chat;
    this.members.update(chat);
    this.takeMarkers(chat);
    const old = this.element.firstElementChild!;
    const hadFocus = old.contains(document.activeElement);
    this.element.replaceChild(this.header(), old);
    if (hadFocus) (this.panelToggle ?? this.input).focus();
    this.members.redraw();
    // Who may delete what follows the reader's role.
    if (this.isAdmin() !== wasAdmin) for (const item of this.messages.items()) item.paint();
    this.renderSeen();
  }

  private isAdmin(): boolean {
    return this.chat.type === "group" && this.chat.members.some((m) => m.id === this.me.id && m.role === "admin");
  }

  /** The other members' markers from a chat object: forward only, and only for current members. */
  private takeMarkers(chat: Chat): void {
    const others = chat.members.filter((m) => m.id !== this.me.id);
    for (const userId of this.markers.keys()) if (!others.some((m) => m.id === userId)) this.markers.delete(userId);
    for (const m of others) if (m.lastReadMessageId !== null) this.moveMarker(m, m.lastReadMessageId, false);
  }

  private moveMarker(user: User, id: number, render = true): void {
    const known = this.markers.get(user.id);
    if (known && known.id >= id) return;
    this.markers.set(user.id, { user: { id: user.id, username: user.username }, id });
    if (render) this.renderSeen();
  }

  /**
   * "Seen by …" goes under the reader's newest message that another member has read (and that still
   * says something: not a deleted one), naming every member whose marker reached it.
   */
  private renderSeen(): void {
    const newestRead = Math.max(0, ...[...this.markers.values()].map((m) => m.id));
    let target: MessageItem | null = null;
    for (const item of this.messages.items()) {
      const id = item.message.id;
      if (item.mine && !item.message.deleted && id > 0 && id <= newestRead && (!target || id > target.message.id)) target = item;
    }
    const names = target ? [...this.markers.values()].filter((m) => m.id >= target.message.id).map((m) => m.user.username) : [];
    if (this.seenOn && this.seenOn !== target) this.seenOn.setSeen([]);
    target?.setSeen(names);
    this.seenOn = target;
  }

  /**
   * Applies a change to a shown message, and to what the replies to it quote. A change to a message
   * not shown is dropped (an older page brings it in its current state), unless that page is on its
   * way: then it waits for it.
   */
  private change(id: number, apply: (message: Message) => Message): void {
    const item = this.messages.find(id);
    if (!item) {
      if (this.changesForOlder && (this.messages.oldestId === undefined || id < this.messages.oldestId)) this.changesForOlder.push(() => this.change(id, apply));
      return;
    }
    const before = item.message;
    const message = apply(before);
    item.update(message);
    // A reaction changes neither what replies quote nor "seen by": no walk over every message.
    if (message.content === before.content && message.deleted === before.deleted) return;
    if (message.deleted) this.renderSeen();
    const excerpt = message.deleted ? "" : excerptOf(message.content);
    for (const other of this.messages.items()) {
      const quoted = other.message.replyTo;
      if (quoted?.id === id && quoted.excerpt !== excerpt) other.update({ ...other.message, replyTo: { ...quoted, excerpt } });
    }
    if (this.replyingTo?.id === id) {
      if (message.deleted) {
        this.setReplying(null);
        this.notice.textContent = "The message you were replying to was deleted.";
      } else this.setReplying(message);
    }
  }

  /** A change goes out now or when the connection is back; either way it shows once the server says so. */
  private request(send: () => boolean): void {
    this.notice.textContent = send() ? "" : "Not connected: the change will be sent when the connection is back.";
  }

  /** A refused change (a refused message says so on the message itself). */
  private refused(error: ErrorPayload): void {
    // The connection resends it by itself once the period is over.
    if (error.code === ErrorCode.SlowMode && error.event === ClientEvent.SendMessage) {
      this.notice.textContent = `Slow mode: your message goes out in ${error.retryAfter ?? 1} s.`;
      return;
    }
    const what = error.event === undefined ? undefined : CHANGE_WHAT[error.event];
    if (!what) return;
    this.notice.textContent =
      error.code === ErrorCode.Gone
        ? `That message was deleted: the ${what} was not made.`
        : error.code === ErrorCode.Forbidden
          ? `You may not make that ${what}.`
          : `The ${what} was not made: ${error.error}`;
  }

  private setReplying(message: Message | null): void {
    this.replyingTo = message;
    this.replyBar.hidden = message === null;
    if (!message) return replace(this.replyBar);
    const who = message.sender.id === this.me.id ? "yourself" : message.sender.username;
    replace(
      this.replyBar,
      h("span", { class: "label" }, `Replying to ${who}: `),
      h("span", { class: "excerpt", "data-testid": "reply-excerpt" }, excerptOf(message.content)),
      h("button", { type: "button", "data-testid": "cancel-reply", "aria-label": "Cancel the reply", onclick: () => this.setReplying(null) }, "×"),
    );
  }

  /** Scrolls to the message a reply quotes, when it is loaded. */
  private showOriginal(id: number): void {
    const item = this.messages.find(id);
    if (!item) {
      this.notice.textContent = "That message is further up: scroll up to load it.";
      return;
    }
    item.element.scrollIntoView({ block: "center" });
    item.element.focus({ preventScroll: true });
    item.flash();
  }

  /**
   * Read markers go out at most once a second per open chat (the newest seen wins), and at once when
   * the tab becomes visible again; never while it is hidden. Over the chat socket when it is open
   * (no HTTP request, no D1 write: the room copies markers to D1 in batches), else over HTTP.
   */
  private markRead(messageId: number): void {
    this.readSeen = Math.max(this.readSeen, messageId);
    if (this.readTimer === undefined) this.readTimer = setTimeout(() => this.reportRead(), Math.max(0, this.readSentAt + READ_INTERVAL_MS - Date.now()));
  }

  private reportRead(): void {
    clearTimeout(this.readTimer);
    this.readTimer = undefined;
    if (this.closed || document.hidden || this.readSeen <= this.readReported) return;
    this.readReported = this.readSeen;
    this.readSentAt = Date.now();
    if (!this.connection.markRead(this.readSeen)) this.hooks.onRead(this.chat.id, this.readSeen);
  }

  private async send(): Promise<void> {
    const content = this.input.value;
    if (this.tray.busy) {
      this.notice.textContent = "Wait for the files to finish uploading.";
      return;
    }
    const uploads = this.tray.uploads;
    if (!content.trim() && uploads.length === 0) return;
    // Out of the tray while sending (the next message starts empty), back in it if the send fails.
    const taken = this.tray.take();
    const attachments = uploads.map((u) => ({ ...u, url: attachmentPath(u.id) }));
    this.input.value = "";
    this.notice.textContent = "";
    this.stopTyping();
    const clientId = crypto.randomUUID();
    const original = this.replyingTo;
    this.setReplying(null);
    const replyTo = original ? { id: original.id, sender: original.sender, excerpt: excerptOf(original.content) } : null;
    // Shown at once as pending, marked sent on the ack.
    this.messages.showSending({ id: 0, chatId: this.chat.id, sender: this.me, content, timestamp: "", editedAt: null, deleted: false, reactions: [], replyTo, attachments }, clientId);
    this.messages.scrollToBottom();
    try {
      const ack = await this.connection.sendMessage(content, { clientId, replyToId: replyTo?.id, attachmentIds: uploads.map((u) => u.id) });
      if (this.messages.stored(clientId, ack.messageId, ack.timestamp)) this.renderSeen();
    } catch (err) {
      this.messages.failed(clientId, (err as Error).message);
      this.tray.restore(taken);
    }
  }

  private async loadOlder(): Promise<void> {
    if (!this.hasOlder || this.loadingOlder || this.messages.oldestId === undefined) return;
    this.loadingOlder = true;
    this.changesForOlder = [];
    const keepPosition = this.messages.keepPosition();
    try {
      // Full pages: half the requests of the default size when scrolling far back.
      const page = await this.api.history(this.chat.id, { before: this.messages.oldestId, limit: limits.historyMaxLimit });
      for (const message of [...page.messages].reverse()) this.messages.show(message);
      this.messages.oldestId = page.messages[0]?.id ?? this.messages.oldestId;
      this.hasOlder = page.hasMore;
      keepPosition();
    } finally {
      this.loadingOlder = false;
      const waiting = this.changesForOlder;
      this.changesForOlder = null;
      for (const apply of waiting) apply();
      this.renderSeen();
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

  private showState(state: string, closeCode?: number, error?: ConnectionError): void {
    if (state === "closed" && (closeCode === CloseCode.Removed || error)) {
      // Stopped for good: removed (4003 or a 403 when reconnecting), the chat is gone (404), the
      // session ended (401) or the server refused a frame (1009).
      const code = error?.code ?? ErrorCode.Forbidden;
      this.banner.className = "banner bad";
      this.banner.textContent =
        code === ErrorCode.Forbidden
          ? "You were removed from this chat."
          : code === ErrorCode.NotFound
            ? "This chat no longer exists."
            : code === ErrorCode.Unauthorized
              ? "Your session has ended. Log in again."
              : `Disconnected: ${error?.message ?? "the server closed the connection"}`;
      this.input.disabled = true;
      if (code === ErrorCode.Forbidden || code === ErrorCode.NotFound) this.hooks.onLeft(this.chat.id);
      if (code === ErrorCode.Unauthorized) this.hooks.onSessionEnded?.();
      return;
    }
    this.banner.className = state === "reconnecting" ? "banner" : "";
    this.banner.textContent = state === "reconnecting" ? "Reconnecting… messages you send will go out when the connection is back." : "";
  }

  private renderOnline(): void {
    if (this.onlineCount !== undefined) {
      this.onlineLine.textContent = `${this.onlineCount} online`;
      return;
    }
    const names = [...this.online.values()].filter((u) => u.id !== this.me.id).map((u) => u.username);
    this.onlineLine.textContent = names.length ? `online: ${names.join(", ")}` : "nobody else online";
  }

  private renderTyping(): void {
    const names = [...this.typing.values()].map((u) => u.username);
    this.typingLine.textContent = names.length === 0 ? "" : `${names.join(", ")} ${names.length === 1 ? "is" : "are"} typing…`;
  }

  /** Says who wrote what through the polite live region (a screen reader reads it when idle). */
  private announce(m: Message): void {
    this.announcer.append(h("p", {}, `${m.sender.username}: ${messageSummary(m)}`));
    while (this.announcer.childElementCount > ANNOUNCED_MAX) this.announcer.firstElementChild!.remove();
  }
}
