/**
 * Message search on the wire: the markers a snippet's matches sit between, and the paging cursor.
 * Server, typed client and web app share these; nothing else names the characters.
 */

/**
 * A match in a snippet starts after MARK_START and ends before MARK_END: two private-use code points
 * (U+E000, U+E001), which no text means anything by and which the server strips from message text
 * before it builds a snippet, so a message cannot forge a highlight. Clients split on them and build
 * text nodes, never HTML.
 */
export const MARK_START = "\uE000";
export const MARK_END = "\uE001";
const MARKERS = /[\uE000\uE001]/g;

/** Text with the marker characters taken out: what may go into a snippet, or into a query. */
export const withoutMarkers = (text: string) => text.replace(MARKERS, "");

export interface SnippetPart {
  text: string;
  match: boolean;
}

/** A snippet as plain text runs, each a match or not, in order (empty runs left out). */
export function snippetParts(snippet: string): SnippetPart[] {
  const parts: SnippetPart[] = [];
  let match = false;
  let text = "";
  const flush = () => {
    if (text) parts.push({ text, match });
    text = "";
  };
  for (const ch of snippet) {
    if (ch === MARK_START || ch === MARK_END) {
      flush();
      match = ch === MARK_START;
    } else text += ch;
  }
  flush();
  return parts;
}

/**
 * Where a page of results ended: the last result's time (ms since the epoch), chat and message id.
 * Results are ordered by that triple, newest first; the next page has everything strictly older.
 */
export interface SearchCursor {
  createdAt: number;
  chatId: number;
  messageId: number;
}

/** `<ms>.<chatId>.<messageId>`, e.g. `1769000000000.15.99`. */
export const SEARCH_CURSOR_PATTERN = /^(0|[1-9][0-9]{0,14})\.([1-9][0-9]{0,15})\.([1-9][0-9]{0,15})$/;

export const encodeSearchCursor = (c: SearchCursor) => `${c.createdAt}.${c.chatId}.${c.messageId}`;

/** The cursor a string names, or null when it is not one. */
export function decodeSearchCursor(text: string): SearchCursor | null {
  const parts = SEARCH_CURSOR_PATTERN.exec(text);
  if (!parts) return null;
  const [createdAt, chatId, messageId] = parts.slice(1).map(Number) as [number, number, number];
  return Number.isSafeInteger(chatId) && Number.isSafeInteger(messageId) ? { createdAt, chatId, messageId } : null;
}
