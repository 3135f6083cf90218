import { describe, expect, it } from "vitest";
import { decodeSearchCursor, encodeSearchCursor, MARK_END, MARK_START, snippetParts } from "./search";

describe("snippetParts", () => {
  it("splits a snippet into text runs, matches flagged", () => {
    expect(snippetParts(`a ${MARK_START}b${MARK_END} c${MARK_START}d${MARK_END}`)).toEqual([
      { text: "a ", match: false },
      { text: "b", match: true },
      { text: " c", match: false },
      { text: "d", match: true },
    ]);
    expect(snippetParts("")).toEqual([]);
  });
});

describe("search cursor", () => {
  it("round-trips, and anything else is no cursor", () => {
    const cursor = { createdAt: 1769000000000, chatId: 15, messageId: 99 };
    expect(encodeSearchCursor(cursor)).toBe("1769000000000.15.99");
    expect(decodeSearchCursor("1769000000000.15.99")).toEqual(cursor);
    for (const bad of ["", "1.2", "1.2.3.4", "a.b.c", "1.0.3", "-1.2.3", "01.2.3", "1.2.99999999999999999", " 1.2.3"]) expect(decodeSearchCursor(bad), bad).toBeNull();
  });
});
