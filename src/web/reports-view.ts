/** A group's reports, for its admins: opened from the members panel, newest first. */
import type { ApiClient } from "../client/api";
import type { Report } from "../protocol/models";
import { excerptOf } from "../protocol/replies";
import { h, replace } from "./dom";

export function reportsButton(api: ApiClient, chatId: number): HTMLElement {
  const list = h("ul", { class: "reports", "data-testid": "reports", hidden: true });
  const show = async () => {
    let reports: Report[];
    try {
      ({ reports } = await api.reports(chatId));
    } catch (err) {
      replace(list, h("li", { class: "error" }, (err as Error).message));
      list.hidden = false;
      return;
    }
    replace(
      list,
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
    list.hidden = false;
  };
  return h("div", {}, h("button", { type: "button", "data-testid": "show-reports", onclick: () => void show() }, "Reports"), list);
}
