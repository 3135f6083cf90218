import { describe, expect, it } from "vitest";
import { chunkByBytes, chunkMessages, SEARCH_BLOCK_SPAN, type CopiedMessage } from "./room-copy";

const row = (i: number, c: string): CopiedMessage => ({ i, s: 1, c, k: null, t: 0 });
const bytes = (s: string) => new TextEncoder().encode(s).length;

describe("chunkByBytes", () => {
  it("keeps every chunk under the byte limit, counting multi-byte characters, and loses or reorders nothing", () => {
    const rows = Array.from({ length: 300 }, (_, i) => row(i + 1, (i % 3 === 0 ? "€" : i % 3 === 1 ? "😀" : "a").repeat(4000)));
    const chunks = chunkByBytes(rows, 90_000);
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks) expect(bytes(chunk)).toBeLessThanOrEqual(90_000);
    expect(chunks.flatMap((c) => JSON.parse(c) as CopiedMessage[])).toEqual(rows);
  });

  it("puts small rows together and a single row alone when it is all there is", () => {
    expect(chunkByBytes([row(1, "x"), row(2, "y")], 1000)).toHaveLength(1);
    expect(chunkByBytes([row(1, "x".repeat(500)), row(2, "y".repeat(500))], 1000)).toHaveLength(2);
    expect(chunkByBytes([])).toEqual([]);
  });
});

describe("chunkMessages", () => {
  it("orders by id and keeps each chunk within a search block's span of its first row", () => {
    const rows = [row(300, "c"), row(1, "a"), row(256, "b"), row(257, "d"), row(600, "e")];
    const chunks = chunkMessages(rows).map((c) => (JSON.parse(c) as CopiedMessage[]).map((r) => r.i));
    expect(chunks).toEqual([[1, 256], [257, 300], [600]]);
    expect(SEARCH_BLOCK_SPAN).toBe(256);
  });

  it("still splits a span by bytes", () => {
    const rows = Array.from({ length: 40 }, (_, i) => row(i + 1, "x".repeat(4000)));
    const chunks = chunkMessages(rows, 90_000);
    expect(chunks.length).toBe(2);
    for (const chunk of chunks) expect(bytes(chunk)).toBeLessThanOrEqual(90_000);
    expect(chunks.flatMap((c) => JSON.parse(c) as CopiedMessage[])).toEqual(rows);
  });
});
