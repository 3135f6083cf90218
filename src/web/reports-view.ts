/**
 * A group's reports, for its admins: opened from the members panel, newest first. A report filed
 * while the chat is open (`report_filed`) is counted on the button, or listed at once when the list
 * is open.
 */
import type { ApiClient } from "../client/api";
import type { Report } from "../protocol/models";
import { excerptOf } from "../protocol/replies";
import { h, replace } from "./dom";

export class ReportsView {
  private readonly list = h("ul", { class: "reports", "data-testid": "reports", hidden: true });
  private readonly button = h("button", { type: "button", "data-testid": "show-reports", onclick: () => void this.show() }, "Reports");
  readonly element = h("div", {}, this.button, this.list);
  /** Reports filed since the list was last shown. */
  private unseen = 0;

  constructor(
    private readonly api: ApiClient,
    private readonly chatId: number,
    /** The count of reports not seen yet changed (the panel's button says it too). */
    private readonly onUnseen: (count: number) => void,
  ) {}

  get unseenCount(): number {
    return this.unseen;
  }

  /** A member reported a message just now. */
  filed(): void {
    if (!this.list.hidden) {
      void this.show();
      return;
    }
    this.setUnseen(this.unseen + 1);
  }

  private async show(): Promise<void> {
    let reports: Report[];
    try {
      ({ reports } = await this.api.reports(this.chatId));
    } catch (err) {
      replace(this.list, h("li", { class: "error" }, (err as Error).message));
      this.list.hidden = false;
      return;
    }
    replace(
      this.list,
      ...(reports.length === 0
        ? [h("li", { class: "muted" }, "No reports.")]
        : reports.map((r) =>
            h(
              "li",
              { "data-testid": "report" },
              h("span", { class: "who" }, `${r.reporter.username} reported ${r.message.sender.username}: `),
              h("span", { class: "reason" }, r.reason),
              h("span", { class: "muted" }, ` — “${r.message.deleted ? "message deleted" : excerptOf(r.message.content)}”`),
            ),
          )),
    );
    this.list.hidden = false;
    this.setUnseen(0);
  }

  private setUnseen(count: number): void {
    this.unseen = count;
    this.button.textContent = count > 0 ? `Reports (${count} new)` : "Reports";
    this.onUnseen(count);
  }
}
