// The reply excerpt, as both the server and the web app build it.
import { describe, expect, it } from "vitest";
import { limits } from "./limits";
import { excerptOf } from "./replies";

describe("excerptOf", () => {
  it("keeps the first replyExcerptMax code points: short text whole, an emoji never cut in half", () => {
    expect(excerptOf("short")).toBe("short");
    const long = "😀".repeat(limits.replyExcerptMax + 5);
    expect(excerptOf(long)).toBe("😀".repeat(limits.replyExcerptMax));
    expect(excerptOf(long).length).toBe(2 * limits.replyExcerptMax);
  });
});
