import { describe, expect, it } from "vitest";
import { KnownChats } from "./known-chats";

const never = () => false;

describe("KnownChats", () => {
  it("asks once for a chat that exists, and every time for one that does not", async () => {
    const known = new KnownChats();
    let asked = 0;
    const load = (found: boolean) => async () => (asked++, found);
    expect(await known.check(1, load(true), never)).toBe("exists");
    expect(await known.check(1, load(true), never)).toBe("exists");
    expect(asked).toBe(1);
    expect(await known.check(2, load(false), never)).toBe("missing");
    expect(await known.check(2, load(true), never)).toBe("exists");
    expect(asked).toBe(3);
  });

  it("says unknown when the lookup is unavailable, and rethrows anything else", async () => {
    const known = new KnownChats();
    const down = async (): Promise<boolean> => {
      throw new Error("D1 down");
    };
    expect(await known.check(3, down, () => true)).toBe("unknown");
    await expect(known.check(3, down, never)).rejects.toThrow("D1 down");
    known.add(3);
    expect(await known.check(3, down, never)).toBe("exists");
  });

  it("forgets the oldest id past its bound", async () => {
    const known = new KnownChats(2);
    known.add(1);
    known.add(2);
    known.add(3);
    let asked = 0;
    expect(await known.check(1, async () => (asked++, false), never)).toBe("missing");
    expect(await known.check(3, async () => (asked++, false), never)).toBe("exists");
    expect(asked).toBe(1);
  });
});
