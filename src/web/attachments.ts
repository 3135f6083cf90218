/**
 * Files in the web app: the tray of uploads for the next message (attach button, drag and drop,
 * progress), and how a message shows its attachments (images as thumbnails that open full size,
 * other files as a named link with the size). Images load through short-lived signed URLs: an
 * `<img>` cannot send the token, and the token never goes in a URL.
 */
import type { ApiClient } from "../client/api";
import { limits } from "../protocol/limits";
import type { Attachment, Message, Upload } from "../protocol/models";
import { h, replace } from "./dom";

/** Shown as pictures; the server serves exactly these inline. */
const IMAGE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

/** "12 KB", "3.4 MB": a file's size for people. */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** A message's one-line summary in the chat list: its text, or its files when it has none. */
export function summary(content: string, attachments: readonly Attachment[]): string {
  if (content.trim() || attachments.length === 0) return content;
  return `📎 ${attachments.map((a) => a.name).join(", ")}`;
}

/** A message's one line in a notification or read aloud: its text, its files, or that it was deleted. */
export const messageSummary = (m: Pick<Message, "content" | "attachments" | "deleted">): string => (m.deleted ? "message deleted" : summary(m.content, m.attachments));

/** Signed URLs, reused until shortly before they expire, so a repaint signs nothing again. */
class SignedUrls {
  private readonly cache = new Map<string, Promise<{ url: string; expiresAt: string }>>();

  constructor(private readonly api: ApiClient) {}

  async get(id: string): Promise<string> {
    let signed = this.cache.get(id);
    if (signed) {
      const fresh = await signed.then((s) => Date.parse(s.expiresAt) - Date.now() > 30_000).catch(() => false);
      if (!fresh) signed = undefined;
    }
    if (!signed) this.cache.set(id, (signed = this.api.attachmentUrl(id)));
    return (await signed).url;
  }
}

export interface TrayItem {
  file: File;
  element: HTMLElement;
  upload: Upload | null;
  failed: boolean;
  abort: AbortController;
}

/**
 * The uploads for the next message, under the composer. Files start uploading as soon as they are
 * picked or dropped; the message can be sent once they are all done.
 */
export class AttachmentTray {
  readonly element = h("div", { class: "tray", hidden: true, "data-testid": "attachment-tray", "aria-live": "polite" });
  private readonly picker = h("input", { type: "file", multiple: true, hidden: true, "data-testid": "attach-input" });
  readonly button = h("button", { type: "button", class: "attach", "aria-label": "Attach files", title: "Attach files", "data-testid": "attach" }, "📎");
  private readonly items: TrayItem[] = [];

  constructor(
    private readonly api: ApiClient,
    private readonly chatId: number,
  ) {
    this.button.addEventListener("click", () => this.picker.click());
    this.picker.addEventListener("change", () => {
      this.add([...(this.picker.files ?? [])]);
      this.picker.value = "";
    });
  }

  /** The hidden file input, to put beside the button. */
  get input(): HTMLInputElement {
    return this.picker;
  }

  /** Files dropped on `target` join the tray. */
  acceptDrops(target: HTMLElement): void {
    const hasFiles = (e: DragEvent) => e.dataTransfer?.types.includes("Files") ?? false;
    target.addEventListener("dragover", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      target.classList.add("dropping");
    });
    target.addEventListener("dragleave", (e) => {
      if (e.target === target) target.classList.remove("dropping");
    });
    target.addEventListener("drop", (e) => {
      target.classList.remove("dropping");
      if (!hasFiles(e)) return;
      e.preventDefault();
      this.add([...(e.dataTransfer?.files ?? [])]);
    });
  }

  add(files: File[]): void {
    for (const file of files) {
      if (this.items.length >= limits.attachmentsPerMessageMax) break;
      const progress = h("progress", { max: Math.max(file.size, 1), value: 0, "aria-label": `Uploading ${file.name}` });
      const status = h("span", { class: "status" }, "0 %");
      const item: TrayItem = { file, element: h("div", { class: "tray-item", "data-testid": "tray-item" }), upload: null, failed: false, abort: new AbortController() };
      const remove = h("button", { type: "button", "aria-label": `Remove ${file.name}`, "data-testid": "tray-remove", onclick: () => this.remove(item) }, "✕");
      replace(item.element, h("span", { class: "name" }, file.name), progress, status, remove);
      this.items.push(item);
      this.element.append(item.element);
      this.element.hidden = false;
      this.api
        .uploadAttachment(this.chatId, file, {
          name: file.name,
          signal: item.abort.signal,
          onProgress: (sent, total) => {
            progress.value = sent;
            status.textContent = `${Math.floor((100 * sent) / Math.max(total, 1))} %`;
          },
        })
        .then((upload) => {
          item.upload = upload;
          progress.value = file.size;
          status.textContent = formatSize(upload.size);
          item.element.dataset["uploaded"] = "true";
        })
        .catch((err: Error) => {
          if (err.name === "AbortError") return;
          item.failed = true;
          progress.remove();
          status.textContent = `not uploaded: ${err.message}`;
          item.element.classList.add("failed");
        });
    }
  }

  private remove(item: TrayItem): void {
    item.abort.abort();
    item.element.remove();
    this.items.splice(this.items.indexOf(item), 1);
    this.element.hidden = this.items.length === 0;
  }

  /** Still uploading: the message must wait. */
  get busy(): boolean {
    return this.items.some((i) => !i.upload && !i.failed);
  }

  /** The finished uploads, for the next message. */
  get uploads(): Upload[] {
    return this.items.flatMap((i) => (i.upload ? [i.upload] : []));
  }

  /** For a send: empties the tray and hands back what was in it, for `restore` if the send fails. */
  take(): TrayItem[] {
    const taken = this.items.splice(0);
    this.element.replaceChildren();
    this.element.hidden = true;
    return taken;
  }

  /** A send failed: its files go back, ahead of any picked since, so nothing has to be uploaded again. */
  restore(items: readonly TrayItem[]): void {
    this.items.unshift(...items);
    this.element.prepend(...items.map((i) => i.element));
    this.element.hidden = this.items.length === 0;
  }
}

/** Draws messages' attachments; one per chat view, so signed URLs are shared between messages. */
export class AttachmentViews {
  private readonly urls: SignedUrls;
  /** Where an image opens full size: put it in the page once. */
  readonly viewer = h("dialog", { class: "viewer", "data-testid": "image-viewer", "aria-label": "Image" });

  constructor(api: ApiClient) {
    this.urls = new SignedUrls(api);
    // A click on the backdrop (the dialog itself, outside the image) closes it.
    this.viewer.addEventListener("click", (e) => {
      if (e.target === this.viewer) this.viewer.close();
    });
  }

  /** The attachments of one message, or null when it has none. */
  render(attachments: readonly Attachment[]): HTMLElement | null {
    if (attachments.length === 0) return null;
    return h("div", { class: "files", "data-testid": "attachments" }, ...attachments.map((a) => (IMAGE_TYPES.has(a.contentType) ? this.thumbnail(a) : this.link(a))));
  }

  private thumbnail(a: Attachment): HTMLElement {
    const img = h("img", { alt: a.name, class: "thumb", "data-testid": "attachment-image", "data-attachment-id": a.id });
    void this.urls.get(a.id).then((url) => (img.src = url), () => img.classList.add("broken"));
    return h("button", { type: "button", class: "thumb-button", "aria-label": `Open ${a.name} full size (${formatSize(a.size)})`, onclick: () => void this.open(a) }, img);
  }

  private async open(a: Attachment): Promise<void> {
    const full = h("img", { alt: a.name, src: await this.urls.get(a.id), "data-testid": "full-image" });
    const close = h("button", { type: "button", class: "close", "aria-label": "Close", onclick: () => this.viewer.close() }, "✕");
    replace(this.viewer, close, full, h("div", { class: "caption" }, `${a.name} · ${formatSize(a.size)}`));
    this.viewer.showModal();
  }

  private link(a: Attachment): HTMLElement {
    return h(
      "a",
      {
        class: "file",
        href: a.url,
        "data-testid": "attachment-file",
        // The plain URL needs the token, which a link cannot send: a signed one is fetched on click.
        onclick: (e) => {
          e.preventDefault();
          void this.urls.get(a.id).then((url) => location.assign(url));
        },
      },
      h("span", { class: "file-name" }, a.name),
      h("span", { class: "file-size" }, ` (${formatSize(a.size)})`),
    );
  }
}
