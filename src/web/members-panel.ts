/**
 * A group's members panel: who is in it, and for its admins renaming, adding, promoting and
 * removing, the group's settings (slow mode, retention) and its reports; anyone may leave, and block
 * or unblock another member. Opened by the "Members" button in the chat's header.
 */
import type { ApiClient } from "../client/api";
import { limits } from "../protocol/limits";
import type { Chat, User } from "../protocol/models";
import type { BlockList } from "./blocks";
import { chatSettings } from "./chat-settings";
import { h, replace } from "./dom";
import { ReportsView } from "./reports-view";

export class MembersPanel {
  readonly element = h("div", { class: "panel", id: "members-panel", role: "region", "aria-label": "Members", hidden: true, "data-testid": "admin-panel" });
  private toggle: HTMLButtonElement | null = null;
  /** Kept across redraws, so what was typed in them survives a change to the chat. */
  private readonly nameInput = h("input", { maxLength: limits.chatNameMax, "aria-label": "Group name", "data-testid": "rename-input" });
  private readonly addInput = h("input", { placeholder: "username to add", "aria-label": "Username to add", "data-testid": "add-member-input" });
  /** Kept across redraws, with its count of reports not seen yet. */
  private readonly reports: ReportsView;

  constructor(
    private readonly api: ApiClient,
    private readonly me: User,
    private chat: Chat,
    private readonly blocks: BlockList,
    private readonly hooks: {
      /** The chat as the server has it now, after a change made here. */
      refresh(chat: Chat): void;
      onLeft(chatId: number): void;
    },
  ) {
    this.nameInput.value = chat.name ?? "";
    this.reports = new ReportsView(api, chat.id, () => this.labelToggle());
    // Escape closes the panel from anywhere in it, and focus goes back to its button.
    this.element.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.setOpen(false);
    });
  }

  /** The header's "Members" button (groups only); a header drawn again gets a new one. */
  button(): HTMLButtonElement | null {
    this.toggle =
      this.chat.type === "group"
        ? h("button", { type: "button", "aria-expanded": String(!this.element.hidden), "aria-controls": "members-panel", onclick: () => this.setOpen(), "data-testid": "admin-toggle" }, "Members")
        : null;
    this.labelToggle();
    return this.toggle;
  }

  /** A member reported a message (`report_filed`, which only admins get). */
  reportFiled(): void {
    this.reports.filed();
  }

  /** "Members", with the reports an admin has not seen yet. */
  private labelToggle(): void {
    const unseen = this.reports.unseenCount;
    if (this.toggle) this.toggle.textContent = unseen > 0 ? `Members (${unseen} new report${unseen === 1 ? "" : "s"})` : "Members";
  }

  /** The chat changed (a member joined, someone renamed it): redrawn if open, the name field kept while in use. */
  update(chat: Chat): void {
    this.chat = chat;
    if (document.activeElement !== this.nameInput) this.nameInput.value = chat.name ?? "";
  }

  /** Redraws an open panel after `update` (the header it belongs to is drawn in between). */
  redraw(): void {
    if (!this.element.hidden) this.render();
  }

  private setOpen(open = this.element.hidden): void {
    const wasOpen = !this.element.hidden;
    this.element.hidden = !open;
    this.toggle?.setAttribute("aria-expanded", String(open));
    if (open) {
      this.render();
      this.element.querySelector<HTMLElement>("input, button")?.focus();
    } else if (wasOpen) this.toggle?.focus();
  }

  /** "Block" or "Unblock" for another user (here, and in a direct chat's header). */
  blockButton(user: User, after: () => void): HTMLButtonElement {
    const blocked = this.blocks.has(user.id);
    const label = blocked ? "Unblock" : "Block";
    const button: HTMLButtonElement = h(
      "button",
      {
        type: "button",
        "data-testid": `${blocked ? "unblock" : "block"}-${user.username}`,
        "aria-label": `${label} ${user.username}`,
        onclick: () => void this.blocks.set(user.id, !blocked).then(after, (err: Error) => (button.textContent = `${label} (failed: ${err.message})`)),
      },
      label,
    );
    return button;
  }

  private render(): void {
    const panel = this.element;
    const meAdmin = this.chat.members.some((m) => m.id === this.me.id && m.role === "admin");
    const act = (fn: () => Promise<unknown>) => () =>
      void fn().then(
        () => this.api.getChat(this.chat.id).then((c) => this.hooks.refresh(c), () => {}),
        (err: Error) => (error.textContent = err.message),
      );
    const error = h("div", { class: "error" });
    const { nameInput, addInput } = this;
    // Redrawn whenever the chat changes (a member joins, someone else renames it): the fields are
    // kept, with what was typed in them and the focus.
    const hadFocus = panel.contains(document.activeElement);
    const focused = hadFocus ? (document.activeElement as HTMLElement).dataset["testid"] : undefined;
    const addMember = async () => {
      const [user] = await this.api.searchUsers(addInput.value.trim());
      if (!user || user.username.toLowerCase() !== addInput.value.trim().toLowerCase()) throw new Error("no such user");
      await this.api.addMember(this.chat.id, user.id);
    };
    replace(
      panel,
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
            m.id !== this.me.id ? this.blockButton(m, () => this.render()) : null,
          ),
        ),
      ),
      meAdmin ? h("form", { onsubmit: (e) => (e.preventDefault(), act(addMember)()) }, addInput, h("button", { type: "submit" }, "Add")) : null,
      chatSettings(this.api, this.chat, meAdmin, (c) => this.hooks.refresh(c), error),
      meAdmin ? this.reports.element : null,
      h("button", { onclick: () => void this.api.removeMember(this.chat.id, this.me.id).then(() => this.hooks.onLeft(this.chat.id)), "data-testid": "leave" }, "Leave group"),
      error,
    );
    if (hadFocus) (panel.querySelector<HTMLElement>(focused ? `[data-testid="${focused}"]` : "input, button") ?? panel.querySelector<HTMLElement>("input, button"))?.focus();
  }
}
