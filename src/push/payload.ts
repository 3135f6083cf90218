/** The push payload of a message (docs/PROTOCOL.md, "Push notifications"): what a notification shows. */
import type { Message } from "../protocol/models";
import { pushLimits, PushPayloadType, type PushPayload } from "../protocol/push";

const encoder = new TextEncoder();

/**
 * At most `max` UTF-16 code units of `text`, cut between code points (never inside a surrogate
 * pair), ending in "…" when something was cut.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  let out = "";
  for (const ch of text) {
    if (out.length + ch.length > max - 1) break;
    out += ch;
  }
  return `${out}…`;
}

/**
 * What a notification previews of a message: its text on one line, or the names of its files when
 * it has no text; undefined when there is nothing (never for a message that can be sent).
 */
export function previewOf(message: Pick<Message, "content" | "attachments">): string | undefined {
  const text = message.content.replace(/\s+/g, " ").trim();
  const shown = text || (message.attachments.length > 0 ? `📎 ${message.attachments.map((a) => a.name).join(", ")}` : "");
  return shown ? truncate(shown, pushLimits.previewMax) : undefined;
}

/** The payload of a push for `count` messages of `chat`, the newest being `message`. */
export function messagePayload(chat: { id: number; type: "direct" | "group"; name: string | null }, message: Message, count: number): PushPayload {
  const preview = previewOf(message);
  return {
    type: PushPayloadType.Message,
    chatId: chat.id,
    chatName: chat.type === "group" ? chat.name : null,
    isGroup: chat.type === "group",
    sender: message.sender,
    count,
    messageId: message.id,
    sentAt: message.timestamp,
    ...(preview !== undefined ? { preview } : {}),
  };
}

/** The payload for a user who turned previews off. */
export function withoutPreview({ preview: _, ...payload }: PushPayload): PushPayload {
  return payload;
}

/** The payload's bytes as the push carries them (JSON, UTF-8); never more than the contract's 4 KB. */
export function encodePayload(payload: PushPayload): Uint8Array {
  const bytes = encoder.encode(JSON.stringify(payload));
  if (bytes.length > pushLimits.payloadMaxBytes) throw new Error(`push payload of ${bytes.length} bytes is over ${pushLimits.payloadMaxBytes}`);
  return bytes;
}
