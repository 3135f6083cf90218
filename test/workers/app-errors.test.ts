/** The HTTP layer's last line of defence: bugs and misconfiguration become the contract's body. */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/http/app";
import { ErrorCode } from "../../src/protocol/errors";

afterEach(() => vi.restoreAllMocks());

describe("unexpected failures", () => {
  it("answers a thrown bug with 500 internal, logs it, and leaks no stack or SQL", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const app = createApp();
    app.get("/boom", () => {
      throw new Error("D1_ERROR: no such column: password_hash in SELECT * FROM users");
    });
    const res = await app.request("/boom", {}, env);
    expect(res.status).toBe(500);
    const body = await res.json();
    expect(body).toEqual({ error: "internal error", code: ErrorCode.Internal });
    expect(JSON.stringify(body)).not.toMatch(/SELECT|D1_ERROR|at /);
    expect(logged.mock.calls.flat().join(" ")).toContain("no such column");
  });

  it("refuses to serve with a missing or short JWT_SECRET and says why in the log only", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    for (const secret of [undefined, "short-secret"]) {
      const res = await createApp().request("/api/me", {}, { ...env, JWT_SECRET: secret });
      expect(res.status).toBe(500);
      expect(await res.json()).toEqual({ error: "server misconfigured", code: ErrorCode.Internal });
    }
    const log = logged.mock.calls.flat().join(" ");
    expect(log).toContain("JWT_SECRET must be set to at least 32 bytes");
    expect(log).not.toContain("short-secret");
  });
});
