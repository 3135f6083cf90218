/**
 * The message search box over the chat list: results (chat, sender, time, the snippet with its
 * matches highlighted) newest first, more on demand; choosing one opens its chat at that message.
 */
import type { ApiClient } from "../client/api";
import { limits } from "../protocol/limits";
import type { SearchResult } from "../protocol/models";
import { snippetParts } from "../protocol/search";
import { h, replace } from "./dom";

/** Search as the user types, once they pause this long. */
const TYPING_PAUSE_MS = 250;

/** The snippet as text nodes and <mark> elements: message text never becomes markup. */
export function snippetNodes(snippet: string): Node[] {
  return snippetParts(snippet).map(({ text, match }) => (match ? h("mark", {}, text) : document.createTextNode(text)));
}

const when = (iso: string) => new Date(iso).toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });

export class MessageSearch {
  private readonly input = h("input", {
    type: "search",
    placeholder: "Search messages",
    maxLength: limits.searchQueryMax,
    "aria-label": "Search messages",
    "data-testid": "message-search",
  });
  private readonly results = h("ul", { class: "search-results", "aria-label": "Search results", "data-testid": "search-results" });
  private readonly status = h("div", { class: "muted", role: "status", "data-testid": "search-status" });
  readonly element = h("div", { class: "message-search", role: "search" }, this.input, this.status, this.results);
  private timer: ReturnType<typeof setTimeout> | undefined;
  /** Each search gets a number; answers to an older one are dropped. */
  private asked = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly hooks: {
      /** The chat's name as the list shows it (null when the list does not have the chat). */
      chatName(chatId: number): string | null;
      open(result: SearchResult): void;
    },
  ) {
    this.input.addEventListener("input", () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.run(), TYPING_PAUSE_MS);
    });
    this.input.addEventListener("keydown", (e) => {
      if (e.key === "Enter") (clearTimeout(this.timer), void this.run());
      if (e.key === "Escape") this.clear();
    });
  }

  clear(): void {
    clearTimeout(this.timer);
    this.asked++;
    this.input.value = "";
    this.status.textContent = "";
    replace(this.results);
  }

  private async run(before?: string): Promise<void> {
    const q = this.input.value.trim();
    const ask = ++this.asked;
    if (!q) return this.clear();
    this.status.textContent = "Searching…";
    try {
      const page = await this.api.search(q, before ? { before } : {});
      if (ask !== this.asked) return;
      if (!before) replace(this.results);
      this.results.querySelector(".more")?.remove();
      this.results.append(...page.results.map((r) => this.item(r)));
      if (page.hasMore && page.nextBefore) {
        const next = page.nextBefore;
        this.results.append(h("li", { class: "more" }, h("button", { type: "button", "data-testid": "search-more", onclick: () => void this.run(next) }, "More results")));
      }
      const shown = this.results.querySelectorAll("[data-testid=search-result]").length;
      this.status.textContent = shown === 0 ? "No messages found." : `${shown}${page.hasMore ? "+" : ""} found`;
    } catch (err) {
      if (ask === this.asked) this.status.textContent = (err as Error).message;
    }
  }

  private item(result: SearchResult): HTMLElement {
    const { message } = result;
    return h(
      "li",
      {},
      h(
        "button",
        { type: "button", class: "search-result", "data-testid": "search-result", "data-chat-id": result.chatId, "data-message-id": message.id, onclick: () => this.hooks.open(result) },
        h("span", { class: "name" }, this.hooks.chatName(result.chatId) ?? "Chat"),
        " ",
        h("span", { class: "muted" }, `${message.sender.username} · ${when(message.timestamp)}`),
        h("span", { class: "snippet" }, ...snippetNodes(result.snippet)),
      ),
    );
  }
}
