/**
 * The one classification of D1 failure: whatever the binding throws, or a deadline it misses, is
 * `DatabaseUnavailable` to the code that decides what to do next; only a statement that broke a rule
 * (a constraint) or carried a value D1 cannot bind stays what it is.
 */
import { env } from "cloudflare:test";
import { sql } from "drizzle-orm";
import { describe, expect, it } from "vitest";
import { brokenD1 } from "../../test/workers/helpers";
import { database } from "./client";
import { classify, DatabaseUnavailable, isUnavailable, withDeadline } from "./deadline";
import { findTokenVersion } from "./users";
import { createApp } from "../http/app";

/** Messages D1 and its local emulation fail with, as they reach the Worker. */
const D1_FAILURES: [string, () => unknown][] = [
  ["a locked local file", () => Object.assign(new Error("D1_ERROR: database is locked: SQLITE_BUSY"), { name: "Error" })],
  ["a lost connection", () => new Error("D1_ERROR: Network connection lost.")],
  ["an overloaded database", () => new Error("D1 DB is overloaded. Too many requests queued.")],
  ["an internal error", () => new Error("D1_ERROR: internal error")],
  ["a D1_ERROR of words nobody listed", () => new Error("D1_ERROR: something new went wrong: SQLITE_IOERR")],
  ["a TypeError from the binding", () => new TypeError("Cannot read properties of undefined (reading 'fetch')")],
  ["a thrown non-Error", () => "a string"],
];

describe("classify", () => {
  it.each(D1_FAILURES)("turns %s into DatabaseUnavailable, keeping the cause", (_, fault) => {
    const err = fault();
    const classified = classify(err);
    expect(classified).toBeInstanceOf(DatabaseUnavailable);
    expect((classified as Error).cause).toBe(err);
    expect(isUnavailable(classified)).toBe(true);
  });

  it("leaves a constraint violation and a value D1 cannot bind as they are", () => {
    for (const message of [
      "D1_ERROR: UNIQUE constraint failed: users.username_key: SQLITE_CONSTRAINT",
      "D1_ERROR: FOREIGN KEY constraint failed: SQLITE_CONSTRAINT",
      "D1_TYPE_ERROR: Type 'object' not supported for value '[object Object]'",
    ]) {
      const err = new Error(message);
      expect(classify(err)).toBe(err);
      expect(isUnavailable(err)).toBe(false);
    }
  });

  it("is decided by the wrapper alone: an error that never came through it is not the database's", () => {
    expect(isUnavailable(new Error("D1_ERROR: Network connection lost."))).toBe(false);
    expect(isUnavailable(new Error("timeout somewhere else"))).toBe(false);
    expect(isUnavailable(undefined)).toBe(false);
  });
});

describe("withDeadline", () => {
  it.each(D1_FAILURES)("fails every kind of call with DatabaseUnavailable when the binding fails with %s", async (_, fault) => {
    for (const mode of ["fail", "throw"] as const) {
      const d1 = withDeadline(brokenD1(mode, fault), 1000);
      // A synchronous throw (`prepare`, `bind`) is classified as it is thrown; `attempt` collects both kinds.
      const attempt = (call: () => Promise<unknown>) => Promise.resolve().then(call);
      await expect(attempt(() => d1.prepare("SELECT 1").first())).rejects.toBeInstanceOf(DatabaseUnavailable);
      await expect(attempt(() => d1.prepare("SELECT ?").bind(1).all())).rejects.toBeInstanceOf(DatabaseUnavailable);
      await expect(attempt(() => d1.prepare("SELECT 1").run())).rejects.toBeInstanceOf(DatabaseUnavailable);
      await expect(attempt(() => d1.prepare("SELECT 1").raw())).rejects.toBeInstanceOf(DatabaseUnavailable);
      await expect(attempt(() => d1.exec("SELECT 1"))).rejects.toBeInstanceOf(DatabaseUnavailable);
      await expect(attempt(() => d1.batch(mode === "fail" ? [d1.prepare("SELECT 1")] : []))).rejects.toBeInstanceOf(DatabaseUnavailable);
    }
  });

  it("turns a hang into DatabaseUnavailable at the deadline", async () => {
    const slow = withDeadline(brokenD1("hang"), 50);
    await expect(slow.prepare("SELECT 1").all()).rejects.toBeInstanceOf(DatabaseUnavailable);
    await expect(slow.batch([slow.prepare("SELECT 1")])).rejects.toBeInstanceOf(DatabaseUnavailable);
  });

  it("through Drizzle: its 'Failed query' wrapper is unavailable by its cause, for every kind of failure", async () => {
    for (const [, fault] of D1_FAILURES) {
      for (const mode of ["fail", "throw", "hang"] as const) {
        const db = database(withDeadline(brokenD1(mode, fault), 50));
        const err = await findTokenVersion(db, 1).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(Error);
        expect(isUnavailable(err)).toBe(true);
      }
    }
  });

  it("wraps a read-replication session alike: its failures, hangs and answers, and its bookmark passes through", async () => {
    for (const mode of ["fail", "hang"] as const) {
      const session = withDeadline(brokenD1(mode).withSession("first-unconstrained"), 50);
      await expect(session.prepare("SELECT 1").first()).rejects.toBeInstanceOf(DatabaseUnavailable);
      await expect(session.batch([session.prepare("SELECT 1")])).rejects.toBeInstanceOf(DatabaseUnavailable);
      expect(isUnavailable(await findTokenVersion(database(session), 1).catch((e: unknown) => e))).toBe(true);
    }
    const real = withDeadline(env.DB.withSession("first-primary"), 5000);
    expect(await real.prepare("SELECT ?1 AS x").bind(3).first()).toEqual({ x: 3 });
    expect(real.getBookmark()).toMatch(/^[0-9a-f]{8}-/);
  });

  it("a session that cannot be started is a 503, not a 500", async () => {
    const throwing = { ...env, DB: brokenD1("throw"), D1_TIMEOUT_MS: "100" };
    const res = await createApp().request("https://chat.test/api/auth/login", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ username: "nobody", password: "long enough" }) }, throwing);
    expect(res.status).toBe(503);
  });

  it("passes answers through, and a real constraint violation stays a constraint violation", async () => {
    const d1 = withDeadline(env.DB, 5000);
    expect(await d1.prepare("SELECT ?1 AS x").bind(7).first()).toEqual({ x: 7 });
    const [a, b] = await d1.batch([d1.prepare("SELECT 1 AS one"), d1.prepare("SELECT 2 AS two").bind()]);
    expect([a!.results, b!.results]).toEqual([[{ one: 1 }], [{ two: 2 }]]);

    await d1.exec("CREATE TABLE IF NOT EXISTS deadline_test (k TEXT PRIMARY KEY)");
    const key = crypto.randomUUID();
    await d1.prepare("INSERT INTO deadline_test (k) VALUES (?)").bind(key).run();
    const duplicate = await d1.prepare("INSERT INTO deadline_test (k) VALUES (?)").bind(key).run().then(
      () => null,
      (e: unknown) => e,
    );
    expect(String(duplicate)).toMatch(/UNIQUE constraint failed/);
    expect(isUnavailable(duplicate)).toBe(false);
    // And through Drizzle too.
    const db = database(d1);
    const wrapped = await db.run(sql`INSERT INTO deadline_test (k) VALUES (${key})`).then(
      () => null,
      (e: unknown) => e,
    );
    expect(wrapped).toBeInstanceOf(Error);
    expect(isUnavailable(wrapped)).toBe(false);
  });
});
