/**
 * Finds the web links in a message's text. Only http(s) URLs and bare `www.` hosts become links:
 * anything else (javascript:, data:, vbscript:, mailto:, …) stays text, whatever it looks like.
 * The result is plain data; the message item builds the DOM from it (text nodes and `<a>`), never HTML.
 */
export type Segment = { text: string; href?: undefined } | { text: string; href: string };

// A link starts at a word edge that is not part of a longer scheme or path ("javascript://www.x"
// has no link in it), and runs to the next space or a character that cannot be in a bare URL.
const CANDIDATE = /(?<![\w@./:-])(?:https?:\/\/|www\.)[^\s<>"]+/gi;
const TRAILING = /[.,;:!?'"*_]$/;
const PAIRS: Record<string, string> = { ")": "(", "]": "[", "}": "{" };

/** Sentence punctuation after a URL is not part of it; a closing bracket is only if it closes one inside. */
function trimEnd(url: string): string {
  for (;;) {
    const last = url.at(-1) ?? "";
    const open = PAIRS[last];
    if (TRAILING.test(last)) url = url.slice(0, -1);
    else if (open && url.split(open).length <= url.split(last).length - 1) url = url.slice(0, -1);
    else return url;
  }
}

/** The address a link goes to, or null when it is not a well-formed http(s) URL with a host. */
export function safeHref(url: string): string | null {
  const candidate = /^www\./i.test(url) ? `https://${url}` : url;
  try {
    const parsed = new URL(candidate);
    return (parsed.protocol === "https:" || parsed.protocol === "http:") && parsed.hostname.includes(".") ? parsed.href : null;
  } catch {
    return null;
  }
}

export function linkify(text: string): Segment[] {
  const segments: Segment[] = [];
  let plain = "";
  let at = 0;
  for (const match of text.matchAll(CANDIDATE)) {
    const url = trimEnd(match[0]);
    const href = safeHref(url);
    if (!href) continue;
    plain += text.slice(at, match.index);
    if (plain) segments.push({ text: plain });
    segments.push({ text: url, href });
    plain = "";
    at = match.index + url.length;
  }
  plain += text.slice(at);
  if (plain) segments.push({ text: plain });
  return segments;
}
