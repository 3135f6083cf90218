// linkify: which parts of a message become links, and which never do.
import { describe, expect, it } from "vitest";
import { linkify, safeHref } from "./linkify";

const links = (text: string) => linkify(text).filter((s) => s.href).map((s) => [s.text, s.href]);

describe("linkify", () => {
  it("splits text around http(s) links and keeps every character", () => {
    const text = "see https://example.com/a?b=1#c and http://x.org now";
    expect(linkify(text)).toEqual([
      { text: "see " },
      { text: "https://example.com/a?b=1#c", href: "https://example.com/a?b=1#c" },
      { text: " and " },
      { text: "http://x.org", href: "http://x.org/" },
      { text: " now" },
    ]);
    expect(linkify(text).map((s) => s.text).join("")).toBe(text);
  });

  it("links bare www. hosts over https", () => {
    expect(links("go to www.example.com.")).toEqual([["www.example.com", "https://www.example.com/"]]);
  });

  it("leaves trailing punctuation out, and brackets that do not close one inside the URL", () => {
    expect(links("(see https://example.com/x), ok")).toEqual([["https://example.com/x", "https://example.com/x"]]);
    expect(links("https://en.wikipedia.org/wiki/Foo_(bar)!")).toEqual([["https://en.wikipedia.org/wiki/Foo_(bar)", "https://en.wikipedia.org/wiki/Foo_(bar)"]]);
    expect(links('"https://example.com/q?";')).toEqual([["https://example.com/q", "https://example.com/q"]]);
  });

  it("never links javascript:, data: or vbscript: URLs, even with a URL inside", () => {
    for (const text of [
      "javascript:alert(1)",
      "JavaScript:alert(document.cookie)//https://example.com",
      "javascript://www.example.com/%0aalert(1)",
      "data:text/html,<script>alert(1)</script>",
      "vbscript:msgbox(1)",
      "xhttps://example.com",
    ]) {
      expect(linkify(text), text).toEqual([{ text }]);
    }
    expect(links("javascript:alert(1) https://ok.example")).toEqual([["https://ok.example", "https://ok.example/"]]);
  });

  it("is plain text when there is nothing to link, including an empty string and hosts without a dot", () => {
    expect(linkify("hello\nworld")).toEqual([{ text: "hello\nworld" }]);
    expect(linkify("")).toEqual([]);
    expect(links("http://localhost:8787")).toEqual([]);
  });

  it("safeHref accepts only http(s) with a host", () => {
    expect(safeHref("https://a.b/c")).toBe("https://a.b/c");
    expect(safeHref("javascript:alert(1)")).toBeNull();
    expect(safeHref("https://")).toBeNull();
  });
});
