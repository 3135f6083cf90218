import { describe, expect, it } from "vitest";
import { chunkByBytes, type CopiedMessage } from "./room-copy";

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
