/**
 * The text side of message search, pure so it is unit-tested without D1: turning what a user typed
 * into an FTS5 query that can only mean "these words", and the snippet shown for a match.
 */
import { limits } from "../protocol/limits";
import { MARK_END, MARK_START, withoutMarkers } from "../protocol/search";

/** What FTS5's unicode61 tokenizer counts as part of a word (its default categories, plus marks). */
const WORD = /[\p{L}\p{N}\p{M}\p{Co}]+/gu;
const HAS_WORD = /[\p{L}\p{N}]/u;

/**
 * A word as the index folds it: no diacritics (remove_diacritics 2), no case. A final sigma is a
 * sigma: JavaScript lowercases a word-final Σ to ς, the index always to σ.
 */
export const fold = (word: string) => word.normalize("NFKD").replace(/\p{M}/gu, "").toLowerCase().replaceAll("ς", "σ");

export interface SearchTerms {
  /**
   * The FTS5 MATCH expression, or null when the input has no word to look for (only punctuation,
   * symbols or emoji): such a search finds nothing, without asking the index.
   */
  match: string | null;
  /** The folded words, for the snippet; the last one is a prefix. */
  words: string[];
  /** The same query as phrases, for checking each candidate message alone (`matchesTerms`). */
  matcher: MatchTerms;
}

/**
 * Every white-space separated piece of the input that holds a letter or digit becomes an FTS5
 * string ("…", a `"` inside doubled), so nothing the user typed is ever read as syntax: quotes, `*`,
 * `-`, `:`, `^`, parentheses, NEAR, AND, OR and NOT are searched as text (punctuation inside a
 * string only separates words: `foo-bar` is the phrase "foo bar"). The strings are ANDed (FTS5's
 * implicit AND between strings); the last one is a prefix (`"…"*`), for search as you type.
 */
export function searchTerms(input: string): SearchTerms {
  // Control characters separate words too: a NUL would end the query string where SQLite reads it.
  const text = withoutMarkers(input).toWellFormed().normalize("NFC").replace(/\p{Cc}/gu, " ");
  const pieces = text.split(/\s+/u).filter((p) => HAS_WORD.test(p));
  if (pieces.length === 0) return { match: null, words: [], matcher: { phrases: [], prefix: true } };
  const match = pieces.map((p, i) => `"${p.replaceAll('"', '""')}"${i === pieces.length - 1 ? "*" : ""}`).join(" ");
  const words = pieces.flatMap((p) => (p.match(WORD) ?? []).map(fold));
  return { match, words, matcher: { phrases: pieces.map(tokens).filter((p) => p.length > 0), prefix: true } };
}

/** Snippets stay short whatever the message: at most this many characters of its text. */
const SNIPPET_CHARS_MAX = 240;
/** Words shown before the first match, when there are that many. */
const WORDS_BEFORE = 6;

/**
 * A window of `content` around its first matching word (at most `limits.snippetWords` words and
 * 240 characters), with every matching word in it between MARK_START and MARK_END, white space
 * collapsed, and `…` where text was left out. Marker characters in the content are dropped first,
 * so only the server's markers mark anything. A message with no word matching (the index and this
 * scan disagree on some scripts) shows its beginning, unmarked.
 */
export function makeSnippet(content: string, words: readonly string[]): string {
  const text = withoutMarkers(content);
  const prefix = words.at(-1);
  const exact = new Set(words.slice(0, -1));
  const matches = (w: string) => {
    const f = fold(w);
    return exact.has(f) || (prefix !== undefined && f.startsWith(prefix));
  };
  const found = [...text.matchAll(WORD)].map((m) => ({ start: m.index, end: m.index + m[0].length, hit: matches(m[0]) }));
  if (found.length === 0) return clip(text, 0, SNIPPET_CHARS_MAX, []) + (text.length > SNIPPET_CHARS_MAX ? "…" : "");
  const first = Math.max(0, found.findIndex((w) => w.hit));
  const from = Math.max(0, first - WORDS_BEFORE);
  const window = found.slice(from, from + limits.snippetWords);
  let start = window[0]!.start;
  let end = window.at(-1)!.end;
  // A window of very long words: keep the characters around the first match.
  if (end - start > SNIPPET_CHARS_MAX) {
    start = Math.max(start, found[first]!.start - 40);
    end = start + SNIPPET_CHARS_MAX;
  }
  const hits = window.filter((w) => w.hit && w.start >= start && w.end <= end);
  return (start > 0 ? "…" : "") + clip(text, start, end, hits) + (end < text.length ? "…" : "");
}

/** text[start, end) with the hits marked and white space collapsed (never cutting a surrogate pair). */
function clip(text: string, start: number, end: number, hits: readonly { start: number; end: number }[]): string {
  const safe = (i: number) => (i > 0 && i < text.length && /[\uDC00-\uDFFF]/.test(text[i]!) ? i - 1 : i);
  let out = "";
  let at = safe(start);
  for (const hit of hits) {
    out += text.slice(at, hit.start) + MARK_START + text.slice(hit.start, hit.end) + MARK_END;
    at = hit.end;
  }
  out += text.slice(at, safe(Math.min(end, text.length)));
  return out.replace(/\s+/gu, " ").trim();
}

/**
 * A query as the words it asks for: every phrase of folded words must be in the text, and when
 * `prefix` is set the last word of the last phrase is a prefix (as `searchTerms` makes it).
 */
export interface MatchTerms {
  phrases: string[][];
  prefix: boolean;
}

/** The tokens of `text` as the index folds them (a token of marks alone folds to nothing: dropped). */
function tokens(text: string): string[] {
  return (text.match(WORD) ?? []).map(fold).filter((t) => t !== "");
}

/**
 * Whether `content` alone has every phrase of `terms`, by the index's rules (its words in order,
 * next to each other; case and diacritics folded; the last word of the last phrase a prefix when
 * `terms.prefix`). The index holds blocks of messages, so a block can match with its words spread
 * over several of them: each candidate message is checked with this.
 */
export function matchesTerms(content: string, terms: MatchTerms): boolean {
  const words = tokens(content);
  return terms.phrases.every((phrase, p) => {
    const prefixAt = terms.prefix && p === terms.phrases.length - 1 ? phrase.length - 1 : -1;
    const at = (start: number) => phrase.every((w, j) => (j === prefixAt ? words[start + j]?.startsWith(w) : words[start + j] === w));
    for (let start = 0; start + phrase.length <= words.length; start++) if (at(start)) return true;
    return false;
  });
}
