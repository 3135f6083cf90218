/**
 * Verified tokens are remembered per key: the same token again costs no signature check, yet it
 * still expires exactly when jose says, a changed token or another key never hits, and the memory
 * is bounded.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import { secretKey, signToken, verifyToken } from "./token";

afterEach(() => vi.restoreAllMocks());

const SECRET = "token-cache-test-secret-0123456789abcdef";
const user = { id: 42, username: "ann" };

describe("verifyToken's memory of verified tokens", () => {
  it("checks a token's signature once: the same token again is answered from memory, with the same claims", async () => {
    const key = secretKey(SECRET);
    const token = await signToken(user, 3, key);
    const verify = vi.spyOn(crypto.subtle, "verify");
    const first = await verifyToken(token, key);
    const second = await verifyToken(token, key);
    expect(first).toEqual({ user, version: 3, expiresAt: expect.any(Number) });
    expect(second).toEqual(first);
    expect(verify).toHaveBeenCalledTimes(1);
    // What a caller does with its answer does not change the next one.
    second!.user.username = "mallory";
    expect((await verifyToken(token, key))!.user.username).toBe("ann");
  });

  it("expires a remembered token at the same moment a fresh check does", async () => {
    const issuedAt = Date.UTC(2026, 0, 1, 12, 0, 0, 500);
    const remembering = secretKey(SECRET);
    const token = await signToken(user, 0, remembering, 60, issuedAt);
    const valid = await verifyToken(token, remembering, issuedAt);
    const expiresAt = valid!.expiresAt;
    expect(expiresAt).toBe(Date.UTC(2026, 0, 1, 12, 1, 0));
    for (const now of [expiresAt - 1001, expiresAt - 1, expiresAt, expiresAt + 1]) {
      // A key object of its own has no memory: jose decides.
      const fresh = await verifyToken(token, secretKey(SECRET), now);
      const remembered = await verifyToken(token, remembering, now);
      expect(remembered === null, `at exp ${now - expiresAt} ms`).toBe(fresh === null);
    }
  });

  it("never answers a changed token or another key's check from memory", async () => {
    const key = secretKey(SECRET);
    const token = await signToken(user, 0, key);
    expect(await verifyToken(token, key)).not.toBeNull();
    const [header, payload, signature] = token.split(".") as [string, string, string];
    const forgedPayload = btoa(JSON.stringify({ sub: "1", username: "root", ver: 0, exp: 4_000_000_000 })).replace(/=+$/, "");
    expect(await verifyToken(`${header}.${forgedPayload}.${signature}`, key)).toBeNull();
    expect(await verifyToken(`${header}.${payload}.${signature.slice(0, -2)}AA`, key)).toBeNull();
    expect(await verifyToken(token, secretKey("another-secret-another-secret-another-secret"))).toBeNull();
  });

  it("remembers at most a thousand tokens per key, forgetting the oldest first", async () => {
    const key = secretKey(SECRET);
    const tokens = await Promise.all(Array.from({ length: 1001 }, (_, i) => signToken({ id: i + 1, username: `u${i}` }, 0, key)));
    for (const token of tokens) expect(await verifyToken(token, key)).not.toBeNull();
    const verify = vi.spyOn(crypto.subtle, "verify");
    expect(await verifyToken(tokens[1000]!, key)).not.toBeNull();
    expect(verify).toHaveBeenCalledTimes(0);
    expect(await verifyToken(tokens[0]!, key)).not.toBeNull();
    expect(verify).toHaveBeenCalledTimes(1);
  });
});
