/**
 * An open chat's messages as drawn: one MessageItem per message, in id order with the ones still
 * sending below, day separators and grouping, and the "N new messages ↓" button for a reader
 * scrolled up while messages arrive below.
 */
import type { Message } from "../protocol/models";
import { h } from "./dom";
import { MessageItem, type MessageActions } from "./message-item";
import { dayLabel, joinTo } from "./timeline";

/** Within this many pixels of the end, the reader is "at the newest message": new ones scroll in. */
const NEAR_BOTTOM_PX = 80;

/** A stored message's key: ids are a per-chat sequence, so the chat is part of it. */
const storedKey = (chatId: number, id: number) => `${chatId}:${id}`;
/** A message still sending has no id yet: its clientId names it. */
const pendingKey = (clientId: string) => `client:${clientId}`;

export class MessageList {
  private readonly list = h("div", { class: "messages", tabindex: 0, role: "region", "aria-label": "Messages", "data-testid": "messages" });
  /** "N new messages ↓": shown while the reader is scrolled up and messages arrive below. */
  private readonly jump: HTMLButtonElement;
  readonly element: HTMLElement;
  /**
   * Drawn messages by key: `<chatId>:<id>` for stored ones (ids are per chat: only the pair names
   * a message), `client:<clientId>` for ones still sending.
   */
  private readonly rendered = new Map<string, MessageItem>();
  /** The item drawn in each timeline row, to find a message's neighbours. */
  private readonly byRow = new WeakMap<Element, MessageItem>();
  /** Messages that arrived below while the reader was scrolled up: counted, and the newest of them. */
  private newBelow = 0;
  private newestBelow = 0;
  /** The oldest message drawn: older ones (scrolling back) go on top. */
  oldestId: number | undefined;

  constructor(
    private readonly chatId: number,
    private readonly actions: MessageActions,
    private readonly hooks: {
      /** Scrolled near the top: time for an older page. */
      nearTop(): void;
      /** The reader reached the newest message: what arrived below, up to `newest`, is read now. */
      caughtUp(newest: number): void;
      /** The "new messages" button was pressed (after scrolling to the newest). */
      jumped(): void;
    },
  ) {
    this.jump = h("button", { type: "button", class: "jump", hidden: true, "data-testid": "new-messages", onclick: () => this.jumpToNewest() });
    this.element = h("div", { class: "timeline" }, this.list, this.jump);
    this.list.addEventListener("scroll", () => {
      if (this.list.scrollTop < 40) hooks.nearTop();
      if (this.newBelow && this.nearBottom()) this.caughtUp();
    });
  }

  /** Every drawn message, stored or still sending. */
  items(): IterableIterator<MessageItem> {
    return this.rendered.values();
  }

  /** A stored message of this chat, if drawn. */
  find(id: number): MessageItem | undefined {
    return this.rendered.get(storedKey(this.chatId, id));
  }

  /** Draws a stored message in its place (once: a message already drawn is left as it is). */
  show(message: Message): void {
    const key = storedKey(message.chatId, message.id);
    if (this.rendered.has(key)) return;
    const item = this.add(key, message, false);
    if (this.oldestId !== undefined && message.id < this.oldestId) this.list.prepend(item.row);
    else this.place(item.row, message.id);
    this.arrange(item);
  }

  /** Retention deleted every message up to `id`: they go (messages still sending stay). */
  removeThrough(id: number): void {
    for (const [key, item] of this.rendered) {
      if (item.message.id === 0 || item.message.id > id || item.message.chatId !== this.chatId) continue;
      this.rendered.delete(key);
      const below = this.byRow.get(item.row.nextElementSibling!);
      item.row.remove();
      this.arrange(below);
    }
    if (this.oldestId !== undefined && this.oldestId <= id) this.oldestId = id + 1;
  }

  /** Draws the reader's own message, still sending, at the end. */
  showSending(message: Message, clientId: string): void {
    const item = this.add(pendingKey(clientId), message, true);
    this.list.append(item.row);
    this.arrange(item);
  }

  /**
   * A message still sending was stored as `id`: it becomes that message, or goes when the `since`
   * replay already drew it (stored before a drop, acknowledged only after the reconnect). Returns
   * whether it stayed.
   */
  stored(clientId: string, id: number, timestamp: string): boolean {
    const key = pendingKey(clientId);
    const item = this.rendered.get(key)!;
    this.rendered.delete(key);
    if (this.rendered.has(storedKey(this.chatId, id))) {
      const below = this.byRow.get(item.row.nextElementSibling!);
      item.row.remove();
      this.arrange(below);
      return false;
    }
    item.update({ ...item.message, id, timestamp }, false);
    this.arrange(item);
    this.rendered.set(storedKey(this.chatId, id), item);
    return true;
  }

  /** A message still sending was refused: it stays, saying why. */
  failed(clientId: string, reason: string): void {
    this.rendered.get(pendingKey(clientId))?.failed(reason);
  }

  /**
   * Call before drawing an older page on top; the returned function, called after, scrolls by
   * what the page added so the reader stays on what they were reading.
   */
  keepPosition(): () => void {
    const before = this.list.scrollHeight;
    return () => {
      this.list.scrollTop += this.list.scrollHeight - before;
    };
  }

  scrollToBottom(): void {
    this.list.scrollTop = this.list.scrollHeight;
    if (this.newBelow) this.caughtUp();
  }

  nearBottom(): boolean {
    return this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < NEAR_BOTTOM_PX;
  }

  arrivedBelow(id: number, count = 1): void {
    this.newBelow += count;
    this.newestBelow = Math.max(this.newestBelow, id);
    this.jump.hidden = false;
    this.jump.textContent = `${this.newBelow} new message${this.newBelow === 1 ? "" : "s"} ↓`;
  }

  /**
   * After a catch-up the reader did not follow (scrolled up, or opened at a search result): the
   * others' messages it brought below what they saw (`readSeen`) are counted as arrived, not read.
   */
  unseenBelow(readSeen: number): void {
    const seen = Math.max(readSeen, this.newestBelow);
    let count = 0;
    let newest = 0;
    for (const item of this.rendered.values()) {
      const id = item.message.id;
      if (id > seen && !item.mine) (count++, (newest = Math.max(newest, id)));
    }
    if (count) this.arrivedBelow(newest, count);
  }

  private add(key: string, message: Message, sending: boolean): MessageItem {
    const item = new MessageItem(message, this.actions, sending);
    this.rendered.set(key, item);
    this.byRow.set(item.row, item);
    return item;
  }

  /** Day separator and grouping for a message and the one below it (the only ones its arrival changes). */
  private arrange(item: MessageItem | undefined): void {
    if (!item) return;
    for (const it of [item, this.byRow.get(item.row.nextElementSibling!)]) {
      if (!it) continue;
      const above = it.row.previousElementSibling;
      const { newDay, grouped } = joinTo(above ? (this.byRow.get(above)?.entry ?? null) : null, it.entry);
      it.place(newDay ? dayLabel(it.entry.at) : null, grouped);
    }
  }

  /**
   * In id order among stored messages, and above the ones still sending: a message paged in after
   * the user's own newer one (acked while the connection caught up) still lands where it belongs.
   */
  private place(el: HTMLElement, id: number): void {
    let before: Element | null = this.list.lastElementChild;
    while (before) {
      const other = Number((before as HTMLElement).dataset["messageId"]);
      if (other > 0 && other < id) break;
      before = before.previousElementSibling;
    }
    if (before) before.after(el);
    else this.list.prepend(el);
  }

  /** The reader reached the newest message: what arrived below is read now. */
  private caughtUp(): void {
    const newest = this.newestBelow;
    this.newBelow = this.newestBelow = 0;
    this.jump.hidden = true;
    if (newest) this.hooks.caughtUp(newest);
  }

  private jumpToNewest(): void {
    this.scrollToBottom();
    this.hooks.jumped();
  }
}
