/**
 * A group's settings in its members panel: slow mode and retention. Its admins change them (one
 * form, `PATCH /api/chats/:chatId`); everyone else sees what they are.
 */
import type { ApiClient } from "../client/api";
import { limits } from "../protocol/limits";
import type { Chat } from "../protocol/models";
import { h } from "./dom";

/** The retention periods offered (seconds; null: keep messages). */
export const RETENTION_CHOICES: readonly { label: string; seconds: number | null }[] = [
  { label: "Never", seconds: null },
  { label: "1 minute", seconds: 60 },
  { label: "1 hour", seconds: 3600 },
  { label: "1 day", seconds: 86_400 },
  { label: "1 week", seconds: 7 * 86_400 },
  { label: "30 days", seconds: 30 * 86_400 },
  { label: "1 year", seconds: 365 * 86_400 },
];

/** "1 day", or the seconds when it is not one of the choices (another client set it). */
export function retentionLabel(seconds: number | null): string {
  return RETENTION_CHOICES.find((c) => c.seconds === seconds)?.label ?? `${seconds} seconds`;
}

/** What members who cannot change them are told (null: neither is on). */
export function settingsSummary(chat: Pick<Chat, "slowModeSeconds" | "retentionSeconds">): string | null {
  const parts = [
    chat.slowModeSeconds > 0 ? `Slow mode: one message every ${chat.slowModeSeconds} s` : null,
    chat.retentionSeconds !== null ? `Messages are deleted after ${retentionLabel(chat.retentionSeconds)}` : null,
  ].filter((p) => p !== null);
  return parts.length ? parts.join(" · ") : null;
}

/** The admins' form, or the members' summary; `saved` gets the chat as the server has it after a change. */
export function chatSettings(api: ApiClient, chat: Chat, admin: boolean, saved: (chat: Chat) => void, error: HTMLElement): HTMLElement | null {
  if (!admin) {
    const summary = settingsSummary(chat);
    return summary ? h("p", { class: "muted", "data-testid": "settings-summary" }, summary) : null;
  }
  const slow = h("input", { type: "number", min: 0, max: limits.slowModeMaxSeconds, step: 1, value: String(chat.slowModeSeconds), id: "slow-mode", "data-testid": "slow-mode-input" });
  const retention = h("select", { id: "retention", "data-testid": "retention-select" });
  const choices = RETENTION_CHOICES.some((c) => c.seconds === chat.retentionSeconds) ? RETENTION_CHOICES : [...RETENTION_CHOICES, { label: retentionLabel(chat.retentionSeconds), seconds: chat.retentionSeconds }];
  for (const c of choices) retention.append(h("option", { value: c.seconds === null ? "" : String(c.seconds), selected: c.seconds === chat.retentionSeconds }, c.label));
  const save = async () => {
    error.textContent = "";
    try {
      saved(await api.updateChat(chat.id, { slowModeSeconds: Number(slow.value), retentionSeconds: retention.value === "" ? null : Number(retention.value) }));
    } catch (err) {
      error.textContent = (err as Error).message;
    }
  };
  return h(
    "form",
    { class: "settings", "data-testid": "chat-settings", onsubmit: (e) => (e.preventDefault(), void save()) },
    h("label", { htmlFor: "slow-mode" }, "Slow mode (seconds between a member's messages, 0: off)"),
    slow,
    h("label", { htmlFor: "retention" }, "Delete messages after"),
    retention,
    h("button", { type: "submit", "data-testid": "save-settings" }, "Save settings"),
  );
}
