import { describe, expect, it } from "vitest";
import { limits } from "../protocol/limits";
import { MARK_END, MARK_START } from "../protocol/search";
import { fold, makeSnippet, matchesTerms, searchTerms } from "./search-text";

describe("searchTerms", () => {
  it("quotes every word, ANDs them and makes the last a prefix", () => {
    expect(searchTerms("hello world")).toEqual({ match: '"hello" "world"*', words: ["hello", "world"], matcher: { phrases: [["hello"], ["world"]], prefix: true } });
    expect(searchTerms("  lunch  ")).toEqual({ match: '"lunch"*', words: ["lunch"], matcher: { phrases: [["lunch"]], prefix: true } });
  });

  it("turns FTS5 syntax into text: quotes doubled, operators and punctuation inside strings", () => {
    expect(searchTerms('say "hi"').match).toBe('"say" """hi"""*');
    expect(searchTerms("a OR b").match).toBe('"a" "OR" "b"*');
    expect(searchTerms("NEAR(a b)").match).toBe('"NEAR(a" "b)"*');
    expect(searchTerms("-x col:y ^z").match).toBe('"-x" "col:y" "^z"*');
    expect(searchTerms("foo* AND NOT bar").match).toBe('"foo*" "AND" "NOT" "bar"*');
  });

  it("drops pieces with no letter or digit; no words at all is no query", () => {
    expect(searchTerms("* - \" ( ) 🎉").match).toBeNull();
    expect(searchTerms('party 🎉 "').match).toBe('"party"*');
    expect(searchTerms("   ").match).toBeNull();
  });

  it("control characters separate words, and marker characters are dropped", () => {
    expect(searchTerms("a\u0000b").match).toBe('"a" "b"*');
    expect(searchTerms(`${MARK_START}x${MARK_END}`).match).toBe('"x"*');
  });

  it("folds the words for the snippet: case and diacritics gone, punctuation splits", () => {
    expect(searchTerms("Café well-known").words).toEqual(["cafe", "well", "known"]);
    expect(fold("ÅNGSTRÖM")).toBe("angstrom");
  });
});

describe("makeSnippet", () => {
  const marked = (w: string) => `${MARK_START}${w}${MARK_END}`;

  it("marks every matching word, the last query word as a prefix, ignoring case and diacritics", () => {
    const { words } = searchTerms("cafe par");
    expect(makeSnippet("Un Café à Paris, café again", words)).toBe(`Un ${marked("Café")} à ${marked("Paris")}, ${marked("café")} again`);
  });

  it("shows a bounded window of words around the first match, with ellipses", () => {
    const filler = Array.from({ length: 60 }, (_, i) => `w${i}`);
    const text = [...filler.slice(0, 30), "needle", ...filler.slice(30)].join(" ");
    const snippet = makeSnippet(text, ["needle"]);
    expect(snippet.startsWith("…w24 ")).toBe(true);
    expect(snippet.endsWith("…")).toBe(true);
    expect(snippet).toContain(marked("needle"));
    expect(snippet.split(" ")).toHaveLength(limits.snippetWords);
  });

  it("stays short when the words are very long, and never cuts a surrogate pair", () => {
    const long = "😀".repeat(1000);
    const snippet = makeSnippet(`${"x".repeat(3000)} needle ${long}`, ["needle"]);
    expect(snippet.length).toBeLessThanOrEqual(260);
    expect(snippet).toContain(marked("needle"));
    expect(snippet.isWellFormed()).toBe(true);
  });

  it("collapses white space and drops marker characters from the content", () => {
    expect(makeSnippet(`line one\n\n${MARK_START}fake${MARK_END}\tneedle`, ["needle"])).toBe(`line one fake ${marked("needle")}`);
  });

  it("without a matching word, the beginning of the message, unmarked", () => {
    expect(makeSnippet("東京に行きます", ["東京"])).toBe(`${marked("東京に行きます")}`);
    expect(makeSnippet("nothing here", ["absent"])).toBe("nothing here");
    expect(makeSnippet("🎉🎉", ["x"])).toBe("🎉🎉");
  });
});

describe("searchTerms' matcher and matchesTerms", () => {
  const terms = (q: string) => searchTerms(q).matcher;

  it("gives the query's phrases, quotes and the final prefix", () => {
    expect(terms("Hello wörld")).toEqual({ phrases: [["hello"], ["world"]], prefix: true });
    expect(terms('say "hi" well-known')).toEqual({ phrases: [["say"], ["hi"], ["well", "known"]], prefix: true });
    expect(terms("!! 🎉")).toEqual({ phrases: [], prefix: true });
  });

  it("every phrase must be in the text, in any order; a phrase's words next to each other and in order", () => {
    expect(matchesTerms("the well known fact", terms("fact well-known"))).toBe(true);
    expect(matchesTerms("well, known: fact", terms("well-known fact"))).toBe(true);
    expect(matchesTerms("known well fact", terms("well-known fact"))).toBe(false);
    expect(matchesTerms("well it is known fact", terms("well-known fact"))).toBe(false);
    expect(matchesTerms("tea or coffee", terms("tea milk"))).toBe(false);
  });

  it("only the last word of the last phrase is a prefix", () => {
    expect(matchesTerms("searching for the lighthouse", terms("sear lighth"))).toBe(false);
    expect(matchesTerms("searching for the lighthouse", terms("lighthouse sear"))).toBe(true);
    expect(matchesTerms("searching for the lighthouse", terms("for-the lig"))).toBe(true);
    expect(matchesTerms("searching for the lighthouse", terms("fo-the lighthouse"))).toBe(false);
    expect(matchesTerms("searching", { phrases: [["sear"]], prefix: false })).toBe(false);
  });

  it("case and diacritics do not matter, in the text or the query", () => {
    expect(matchesTerms("un café à Paris, naïve Ångström", terms("CAFE naive angstr"))).toBe(true);
    expect(matchesTerms("Καλημέρα κόσμε", terms("ΚΑΛΗΜΈΡΑ"))).toBe(true);
    expect(matchesTerms("cafe", terms("café"))).toBe(true);
    expect(matchesTerms("東京に行きます", terms("東京"))).toBe(true);
    expect(matchesTerms("ΚΟΣ ΜΟΣ", terms("κοσ μοσ"))).toBe(true);
  });

  it("words split across two messages of one block match neither message, nor their boundary", () => {
    const t = terms("lunch tomorrow");
    expect(matchesTerms("shall we have lunch", t)).toBe(false);
    expect(matchesTerms("tomorrow then?", t)).toBe(false);
    expect(matchesTerms("shall we have lunch tomorrow then?", t)).toBe(true);
    // A phrase cannot run from the end of one message into the next.
    expect(matchesTerms("see you at the", terms("the-door"))).toBe(false);
  });

  it("a text with no words, or marks alone, matches nothing", () => {
    expect(matchesTerms("🎉 !!", terms("party"))).toBe(false);
    expect(matchesTerms("\u0301", terms("a"))).toBe(false);
  });
});
