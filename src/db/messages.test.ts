import { describe, expect, it } from "vitest";
import { matchInserted } from "./messages";

const ann = { id: 1, username: "ann" };
const bob = { id: 2, username: "bob" };
const row = (id: number, sender: number, clientId: string | null) => ({ id, sender_id: sender, client_id: clientId });

describe("matchInserted", () => {
  it("pairs rows with drafts in insertion order, whatever order RETURNING used", () => {
    const drafts = [{ sender: ann, clientId: "a" }, { sender: bob }, { sender: ann }];
    expect(matchInserted(drafts, [row(12, 1, null), row(10, 1, "a"), row(11, 2, null)])).toEqual([10, 11, 12]);
  });

  it("marks drafts the unique index turned away, including a clientId repeated within the batch", () => {
    const drafts = [
      { sender: ann, clientId: "old" },
      { sender: ann, clientId: "x" },
      { sender: bob, clientId: "x" },
      { sender: ann, clientId: "x" },
      { sender: ann },
    ];
    expect(matchInserted(drafts, [row(20, 1, "x"), row(21, 2, "x"), row(22, 1, null)])).toEqual([null, 20, 21, null, 22]);
  });

  it("refuses to guess when a draft without clientId has no row", () => {
    expect(() => matchInserted([{ sender: ann }], [])).toThrow();
  });
});
