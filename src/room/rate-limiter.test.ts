import { describe, expect, it } from "vitest";
import { RateLimiter } from "./rate-limiter";

describe("RateLimiter", () => {
  it("allows a burst, then the sustained rate", () => {
    const limiter = new RateLimiter(10, 20);
    const t0 = 1_000_000;
    let allowed = 0;
    for (let i = 0; i < 30; i++) if (limiter.take(1, t0).ok) allowed++;
    expect(allowed).toBe(20);
    // One second later, ten more tokens.
    allowed = 0;
    for (let i = 0; i < 30; i++) if (limiter.take(1, t0 + 1000).ok) allowed++;
    expect(allowed).toBe(10);
  });

  it("says how long until the next token and keeps users apart", () => {
    const limiter = new RateLimiter(10, 1);
    expect(limiter.take(1, 0).ok).toBe(true);
    const refused = limiter.take(1, 0);
    expect(refused).toEqual({ ok: false, retryAfterMs: 100 });
    expect(limiter.take(2, 0).ok).toBe(true);
    expect(limiter.take(1, 100).ok).toBe(true);
  });

  it("prunes buckets that have refilled", () => {
    const limiter = new RateLimiter(10, 20);
    limiter.take(1, 0);
    limiter.prune(50);
    // Not yet full: still limited by what was taken.
    for (let i = 0; i < 19; i++) expect(limiter.take(1, 50).ok).toBe(true);
    expect(limiter.take(1, 50).ok).toBe(false);
    limiter.prune(10_000);
    for (let i = 0; i < 20; i++) expect(limiter.take(1, 10_000).ok).toBe(true);
  });
});
