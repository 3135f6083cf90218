import { describe, expect, it } from "vitest";
import { backoffSeconds, MAX_RETRY_DELAY_SECONDS, outcomeOf, retryAfterSeconds } from "./retry";

const NOW = Date.parse("2026-11-30T12:00:00Z");

describe("push outcomes", () => {
  it("2xx is sent; 404 and 410 end the subscription", () => {
    expect(outcomeOf(201, null, 1, NOW)).toEqual({ kind: "sent" });
    expect(outcomeOf(200, null, 1, NOW)).toEqual({ kind: "sent" });
    expect(outcomeOf(404, null, 1, NOW)).toEqual({ kind: "gone" });
    expect(outcomeOf(410, "30", 1, NOW)).toEqual({ kind: "gone" });
  });

  it("429, 5xx and no answer are retried after Retry-After, else after the backoff", () => {
    expect(outcomeOf(429, "7", 1, NOW)).toEqual({ kind: "retry", afterSeconds: 7 });
    expect(outcomeOf(503, "Mon, 30 Nov 2026 12:01:00 GMT", 1, NOW)).toEqual({ kind: "retry", afterSeconds: 60 });
    expect(outcomeOf(500, null, 3, NOW)).toEqual({ kind: "retry", afterSeconds: 20 });
    expect(outcomeOf(null, null, 1, NOW)).toEqual({ kind: "retry", afterSeconds: 5 });
    // A Retry-After of 0, or a date already past, still waits a second.
    expect(outcomeOf(503, "0", 1, NOW)).toEqual({ kind: "retry", afterSeconds: 1 });
    expect(outcomeOf(503, "Mon, 30 Nov 2026 11:00:00 GMT", 1, NOW)).toEqual({ kind: "retry", afterSeconds: 1 });
    // Within Cloudflare Queues' longest delay.
    expect(outcomeOf(429, "999999", 1, NOW)).toEqual({ kind: "retry", afterSeconds: MAX_RETRY_DELAY_SECONDS });
  });

  it("other 4xx cannot succeed by retrying", () => {
    expect(outcomeOf(400, null, 1, NOW)).toEqual({ kind: "failed", status: 400 });
    expect(outcomeOf(403, "5", 1, NOW)).toEqual({ kind: "failed", status: 403 });
    expect(outcomeOf(413, null, 1, NOW)).toEqual({ kind: "failed", status: 413 });
  });

  it("backs off 5 s, doubling, to at most 10 minutes", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8, 20].map(backoffSeconds)).toEqual([5, 10, 20, 40, 80, 160, 320, 600, 600]);
  });

  it("reads Retry-After as seconds or as a date, and nothing else", () => {
    expect(retryAfterSeconds(" 12 ", NOW)).toBe(12);
    expect(retryAfterSeconds("Mon, 30 Nov 2026 12:00:30 GMT", NOW)).toBe(30);
    expect(retryAfterSeconds("soon", NOW)).toBeNull();
    expect(retryAfterSeconds("-5", NOW)).toBeNull();
    expect(retryAfterSeconds(null, NOW)).toBeNull();
  });
});
