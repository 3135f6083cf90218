import { describe, expect, it } from "vitest";
import { ServerEvent } from "../protocol/events";
import { limits } from "../protocol/limits";
import { ReadReceipts, type ReceiptFrames } from "./read-receipts";

const ann = { id: 1, username: "ann" };
const bob = { id: 2, username: "bob" };

function receipts() {
  const sent: ReceiptFrames[] = [];
  const timers: { fn: () => void; ms: number }[] = [];
  const r = new ReadReceipts(7, (f) => sent.push(f), (fn, ms) => timers.push({ fn, ms }));
  const fire = () => timers.shift()!.fn();
  return { r, sent, timers, fire };
}

describe("ReadReceipts", () => {
  it("sends every marker that moved in a window once, at its end, newest per member", () => {
    const { r, sent, timers, fire } = receipts();
    r.move({ user: ann, lastReadMessageId: 3 });
    r.move({ user: bob, lastReadMessageId: 4 });
    r.move({ user: ann, lastReadMessageId: 5 });
    expect(timers).toHaveLength(1);
    expect(timers[0]!.ms).toBe(limits.readReceiptWindowMs);
    expect(sent).toEqual([]);
    fire();
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0]!.batched)).toEqual({
      event: ServerEvent.ReadsUpdated,
      data: { chatId: 7, reads: [{ user: ann, lastReadMessageId: 5 }, { user: bob, lastReadMessageId: 4 }] },
    });
    expect(sent[0]!.oneByOne.map((f) => JSON.parse(f))).toEqual([
      { event: ServerEvent.ReadUpdated, data: { chatId: 7, user: ann, lastReadMessageId: 5 } },
      { event: ServerEvent.ReadUpdated, data: { chatId: 7, user: bob, lastReadMessageId: 4 } },
    ]);
  });

  it("opens a new window for a move after a flush, and sends nothing for a window left empty", () => {
    const { r, sent, timers, fire } = receipts();
    r.move({ user: ann, lastReadMessageId: 1 });
    fire();
    r.move({ user: bob, lastReadMessageId: 2 });
    expect(timers).toHaveLength(1);
    r.forget(bob.id);
    fire();
    expect(sent).toHaveLength(1);
  });
});
