/**
 * One message of the open chat, drawn from its current state: its reply quote, its text (or
 * "message deleted", line breaks kept, links clickable), "edited", its reactions and the actions the
 * reader may take on it. The chat view owns the state and calls `update` whenever it changes; the
 * item only draws and reports clicks. Everything a message shows is drawn here (`element`, the
 * bubble); `row` is its place in the timeline, with the day separator above it when it starts a day.
 */
import { limits } from "../protocol/limits";
import type { Message, User } from "../protocol/models";
import { h, replace } from "./dom";
import { linkify } from "./linkify";
import type { TimelineEntry } from "./timeline";

/** The picker's emoji: a handful of common ones (each is one RGI emoji, as the contract asks). */
export const REACTION_CHOICES = ["👍", "❤️", "😂", "😮", "😢", "🎉"] as const;


export interface MessageActions {
  readonly me: User;
  /** The sender, or any admin of a group. */
  canDelete(message: Message): boolean;
  reply(message: Message): void;
  edit(message: Message, content: string): void;
  remove(message: Message): void;
  toggleReaction(message: Message, emoji: string): void;
  showOriginal(id: number): void;
  /** The message's attachments drawn (thumbnails, links), or null for none. */
  files(message: Message): HTMLElement | null;
  /** Whether the reader blocks this sender: their messages are collapsed until clicked. */
  isBlocked(senderId: number): boolean;
  /** Reports the message to the group's admins. */
  report(message: Message, reason: string): void;
}

// Formatters made once: a long history formats thousands of times.
const briefFormat = new Intl.DateTimeFormat([], { hour: "2-digit", minute: "2-digit" });
const fullFormat = new Intl.DateTimeFormat([], { dateStyle: "full", timeStyle: "medium" });
const clock = (at: Date) => briefFormat.format(at);
const fullTime = (at: Date) => fullFormat.format(at);

/** The text with its links as `<a>` nodes (built, never parsed: the text cannot inject markup). */
function richText(content: string): (Node | string)[] {
  return linkify(content).map((s) => (s.href ? h("a", { href: s.href, target: "_blank", rel: "noopener noreferrer" }, s.text) : s.text));
}

/** A multi-line text field where Enter submits its form and Shift+Enter starts a new line. */
export function enterSubmits(field: HTMLTextAreaElement): HTMLTextAreaElement {
  field.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" || e.shiftKey || e.isComposing) return;
    e.preventDefault();
    field.form?.requestSubmit();
  });
  // It grows with its text by CSS (field-sizing), not by measuring on each key: a measurement forces
  // a layout, which costs a long timeline on every keystroke.
  return field;
}

export class MessageItem {
  /** The message itself (focusable, so "show the original" can move a screen reader there). */
  readonly element: HTMLElement;
  /** Its place in the timeline: the day separator when it starts a day, then the message. */
  readonly row: HTMLElement;
  private readonly day = h("div", { class: "day", hidden: true, "data-testid": "day-separator" });
  private readonly meta = h("div", { class: "meta" });
  private readonly quote = h("div");
  private body: HTMLElement = h("div");
  /** Drawn once (attachments never change, except that a delete removes them): images do not reload on repaints. */
  private readonly files = h("div");
  private readonly reactions = h("div", { class: "reactions" });
  private readonly actions = h("div", { class: "actions" });
  private readonly seen = h("div", { class: "seen", hidden: true, "data-testid": "seen-by" });
  /** Open while the reader edits: kept across repaints, so a reaction arriving meanwhile keeps what they typed. */
  private editor: { form: HTMLFormElement; input: HTMLTextAreaElement } | null = null;
  private pickerOpen = false;
  private confirmingDelete = false;
  private reporting = false;
  /** The reader chose to see this message although they block its sender. */
  private revealed = false;
  /** Instead of the time: "sending…", or why it was not sent. */
  private status: string | null;
  /** When a message still sending was typed: its place in the timeline until the ack's timestamp. */
  private readonly typedAt = new Date();

  constructor(
    public message: Message,
    private readonly act: MessageActions,
    /** Still waiting for its ack: shown, but nothing can be done to it yet. */
    private pending = false,
  ) {
    this.status = pending ? "sending…" : null;
    const mine = message.sender.id === act.me.id;
    this.element = h("div", { class: `msg${mine ? " mine" : ""}`, tabindex: -1, "data-testid": "message" });
    this.element.append(this.meta, this.quote, this.body, this.files, this.reactions, this.actions, this.seen);
    this.row = h("div", { class: `entry${mine ? " mine" : ""}` }, this.day, this.element);
    this.paint();
  }

  /** What the timeline's day separators and grouping go by. */
  get entry(): TimelineEntry {
    return { senderId: this.message.sender.id, at: this.message.timestamp ? new Date(this.message.timestamp) : this.typedAt };
  }

  /** Where it sits: under a day separator (its label) or not, and grouped under the previous message's name or not. */
  place(day: string | null, grouped: boolean): void {
    this.day.hidden = day === null;
    this.day.textContent = day ?? "";
    this.row.classList.toggle("grouped", grouped);
  }

  get mine(): boolean {
    return this.message.sender.id === this.act.me.id;
  }

  update(message: Message, pending = this.pending): void {
    this.message = message;
    this.pending = pending;
    if (!pending && this.status === "sending…") this.status = null;
    this.paint();
  }

  /** The message could not be sent: say why where its time would be. */
  failed(reason: string): void {
    this.status = `not sent: ${reason}`;
    this.paint();
  }

  /** "Seen by …" under this message, or nothing. */
  setSeen(names: string[]): void {
    this.seen.hidden = names.length === 0;
    this.seen.textContent = names.length ? `Seen by ${names.join(", ")}` : "";
  }

  /** Draws attention after a jump to it. */
  flash(): void {
    this.element.classList.remove("flash");
    void this.element.offsetWidth; // restart the animation
    this.element.classList.add("flash");
  }

  /** Repaints everything from the current state (after a role change, say). */
  paint(): void {
    const m = this.message;
    this.element.classList.toggle("pending", this.pending);
    this.element.classList.toggle("deleted", m.deleted);
    if (m.id) this.element.dataset["messageId"] = this.row.dataset["messageId"] = String(m.id);
    if (m.deleted) {
      this.editor = null;
      this.pickerOpen = false;
      this.confirmingDelete = false;
    }
    const at = m.timestamp ? new Date(m.timestamp) : null;
    const collapsed = !this.mine && !m.deleted && !this.revealed && this.act.isBlocked(m.sender.id);
    this.element.classList.toggle("collapsed", collapsed);
    if (collapsed) return this.paintCollapsed();
    replace(
      this.meta,
      h("span", { class: "who" }, this.mine ? "You" : m.sender.username),
      // Brief; the full date and time on hover (title) and while the message has focus (.full).
      this.status !== null || !at
        ? h("span", { class: "when" }, this.status ?? "")
        : h("time", { class: "when", dateTime: m.timestamp, title: fullTime(at), "data-testid": "time" }, clock(at), h("span", { class: "full", "data-testid": "full-time" }, ` (${fullTime(at)})`)),
      m.editedAt && !m.deleted ? h("span", { class: "edited", title: `edited ${fullTime(new Date(m.editedAt))}`, "data-testid": "edited" }, " · edited") : null,
    );
    replace(this.quote, m.replyTo && !m.deleted ? this.quoteButton(m.replyTo) : null);
    if (!this.editor) {
      // A message of files alone has no text to show.
      const body = h(
        "div",
        { class: m.deleted ? "text deleted" : "text", hidden: !m.deleted && m.content === "" && m.attachments.length > 0 },
        ...(m.deleted ? ["message deleted"] : richText(m.content)),
      );
      this.body.replaceWith(body);
      this.body = body;
    }
    if (m.deleted || m.attachments.length === 0) this.files.replaceChildren();
    else if (!this.files.hasChildNodes()) replace(this.files, this.act.files(m));
    replace(this.reactions, ...m.reactions.map((r) => this.reactionButton(r.emoji, r.count, r.userIds.includes(this.act.me.id))));
    replace(this.actions, ...(this.pending || m.deleted ? [] : this.actionButtons()));
  }

  /** A blocked user's message: one button that says so and shows it when clicked. */
  private paintCollapsed(): void {
    this.editor = null;
    replace(this.meta);
    replace(this.quote);
    this.files.replaceChildren();
    replace(this.reactions);
    replace(this.actions);
    const body = h(
      "button",
      {
        type: "button",
        class: "collapsed-note",
        "data-testid": "blocked-message",
        "aria-label": "Message from a blocked user: show it",
        onclick: () => {
          this.revealed = true;
          this.paint();
        },
      },
      "Message from a blocked user (show)",
    );
    this.body.replaceWith(body);
    this.body = body;
  }

  private quoteButton(replyTo: NonNullable<Message["replyTo"]>): HTMLElement {
    const who = replyTo.sender.id === this.act.me.id ? "You" : replyTo.sender.username;
    // A blank excerpt means the original was deleted (content is never blank otherwise).
    const gone = replyTo.excerpt.trim() === "";
    return h(
      "button",
      {
        type: "button",
        class: "quote",
        "data-testid": "quote",
        "data-reply-to": replyTo.id,
        "aria-label": `Show the message from ${who} this replies to`,
        onclick: () => this.act.showOriginal(replyTo.id),
      },
      h("span", { class: "who" }, who),
      h("span", { class: gone ? "excerpt deleted" : "excerpt" }, gone ? "message deleted" : replyTo.excerpt),
    );
  }

  private reactionButton(emoji: string, count: number, mine: boolean): HTMLElement {
    return h(
      "button",
      {
        type: "button",
        class: mine ? "reaction mine" : "reaction",
        "data-testid": "reaction",
        "data-emoji": emoji,
        "aria-pressed": String(mine),
        "aria-label": `${emoji} ${count}${mine ? ", including you: remove your reaction" : ": react the same"}`,
        onclick: () => this.act.toggleReaction(this.message, emoji),
      },
      `${emoji} ${count}`,
    );
  }

  private actionButtons(): (HTMLElement | null)[] {
    const m = this.message;
    if (this.editor) return [];
    if (this.reporting) {
      const reason = h("input", { maxLength: limits.reportReasonMax, placeholder: "Why? (the group's admins read it)", "aria-label": "Why you report this message", "data-testid": "report-reason" });
      const form = h(
        "form",
        {
          class: "report-form",
          onsubmit: (e) => {
            e.preventDefault();
            if (!reason.value.trim()) return;
            this.reporting = false;
            this.act.report(m, reason.value);
            this.paint();
          },
        },
        reason,
        h("button", { type: "submit", "data-testid": "send-report" }, "Report"),
        h("button", { type: "button", onclick: () => ((this.reporting = false), this.paint()) }, "Cancel"),
      );
      queueMicrotask(() => reason.focus());
      return [form];
    }
    if (this.confirmingDelete) {
      return [
        h("span", { class: "confirm" }, "Delete this message?"),
        h("button", { type: "button", class: "danger", "data-testid": "confirm-delete", "aria-label": "Yes, delete this message", onclick: () => ((this.confirmingDelete = false), this.act.remove(m), this.paint()) }, "Delete"),
        h("button", { type: "button", "data-testid": "cancel-delete", "aria-label": "Keep this message", onclick: () => ((this.confirmingDelete = false), this.paint()) }, "Keep"),
      ];
    }
    const mineReactions = new Set(m.reactions.filter((r) => r.userIds.includes(this.act.me.id)).map((r) => r.emoji));
    const picker = this.pickerOpen
      ? h(
          "div",
          { class: "picker", role: "group", "aria-label": "Pick a reaction", "data-testid": "reaction-picker" },
          ...REACTION_CHOICES.map((emoji) =>
            h(
              "button",
              {
                type: "button",
                "data-testid": "pick-reaction",
                "data-emoji": emoji,
                "aria-pressed": String(mineReactions.has(emoji)),
                "aria-label": mineReactions.has(emoji) ? `Remove your ${emoji}` : `React with ${emoji}`,
                onclick: () => ((this.pickerOpen = false), this.act.toggleReaction(m, emoji), this.paint()),
              },
              emoji,
            ),
          ),
        )
      : null;
    const who = this.mine ? "your message" : m.sender.username;
    return [
      h("button", { type: "button", "data-testid": "reply", "aria-label": `Reply to ${who}`, onclick: () => this.act.reply(m) }, "Reply"),
      h(
        "button",
        { type: "button", "data-testid": "react", "aria-label": "Add a reaction", "aria-expanded": String(this.pickerOpen), onclick: () => ((this.pickerOpen = !this.pickerOpen), this.paint()) },
        "☺+",
      ),
      this.mine ? h("button", { type: "button", "data-testid": "edit", "aria-label": "Edit this message", onclick: () => this.openEditor() }, "Edit") : null,
      this.act.canDelete(m) ? h("button", { type: "button", "data-testid": "delete", "aria-label": "Delete this message", onclick: () => ((this.confirmingDelete = true), this.paint()) }, "Delete") : null,
      this.mine ? null : h("button", { type: "button", "data-testid": "report", "aria-label": `Report this message from ${m.sender.username}`, onclick: () => ((this.reporting = true), this.paint()) }, "Report"),
      picker,
    ];
  }

  private openEditor(): void {
    const input = enterSubmits(h("textarea", { value: this.message.content, rows: 2, maxLength: limits.contentMax, "aria-label": "Edit the message", "data-testid": "edit-input" }));
    const close = () => {
      this.editor = null;
      this.paint();
    };
    const form = h(
      "form",
      {
        class: "editor",
        onsubmit: (e) => {
          e.preventDefault();
          const content = input.value;
          // Blank is not a message: keep the editor open rather than send what the server refuses.
          if (!content.trim()) return;
          if (content !== this.message.content) this.act.edit(this.message, content);
          close();
        },
      },
      input,
      h("button", { type: "submit", class: "primary", "data-testid": "save-edit" }, "Save"),
      h("button", { type: "button", "data-testid": "cancel-edit", onclick: close }, "Cancel"),
    );
    input.addEventListener("keydown", (e) => {
      if (e.key === "Escape") close();
    });
    this.editor = { form, input };
    this.body.replaceWith(form);
    this.body = form;
    this.paint();
    input.focus();
  }
}
