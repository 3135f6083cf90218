import { describe, expect, it } from "vitest";
import { FRESH_MS, STALE_IF_ERROR_MS, TokenVersions } from "./token-versions";

const unavailable = () => true;

describe("TokenVersions", () => {
  it("reads the database once per FRESH_MS, and again after", async () => {
    const cache = new TokenVersions();
    let reads = 0;
    const load = async () => (reads++, 3);
    expect(await cache.current(1, load, unavailable, 0)).toBe(3);
    expect(await cache.current(1, load, unavailable, FRESH_MS - 1)).toBe(3);
    expect(reads).toBe(1);
    expect(await cache.current(1, load, unavailable, FRESH_MS)).toBe(3);
    expect(reads).toBe(2);
  });

  it("takes a revocation it was told about at once", async () => {
    const cache = new TokenVersions();
    await cache.current(1, async () => 0, unavailable, 0);
    cache.remember(1, 1, 10);
    expect(await cache.current(1, async () => 0, unavailable, 20)).toBe(1);
  });

  it("answers from a stale entry only while the database is unreachable, and only for an hour", async () => {
    const cache = new TokenVersions();
    const down = async (): Promise<number> => {
      throw new Error("down");
    };
    await cache.current(1, async () => 2, unavailable, 0);
    expect(await cache.current(1, down, unavailable, STALE_IF_ERROR_MS - 1)).toBe(2);
    await expect(cache.current(1, down, () => false, FRESH_MS)).rejects.toThrow("down");
    await expect(cache.current(1, down, unavailable, STALE_IF_ERROR_MS)).rejects.toThrow("down");
    await expect(cache.current(2, down, unavailable, 0)).rejects.toThrow("down");
  });

  it("forgets the oldest entries past its size", async () => {
    const cache = new TokenVersions(2);
    let reads = 0;
    for (const id of [1, 2, 3]) await cache.current(id, async () => (reads++, 0), unavailable, 0);
    await cache.current(1, async () => (reads++, 0), unavailable, 1);
    expect(reads).toBe(4);
  });
});
