import { describe, expect, it } from "vitest";
import { compiledClientFrame } from "./compiled-schemas";
import { ClientEvent } from "./events";
import { limits } from "./limits";
import { clientFrame } from "./schemas";

const ATTACHMENT = "12-abcdefghijklmnopqrstuv";

/** Frames of every event, valid ones. */
const valid: unknown[] = [
  { event: ClientEvent.JoinChat, data: { chatId: 3 } },
  { event: ClientEvent.SendMessage, data: { chatId: 3, content: "hello", clientId: "c-1" } },
  { event: ClientEvent.SendMessage, data: { content: "  padded  ", replyToId: 7 } },
  { event: ClientEvent.SendMessage, data: { attachmentIds: [ATTACHMENT], clientId: "c-2" } },
  { event: ClientEvent.EditMessage, data: { messageId: 5, content: "edited" } },
  { event: ClientEvent.DeleteMessage, data: { chatId: 3, messageId: 5 } },
  { event: ClientEvent.AddReaction, data: { messageId: 5, emoji: "👍🏽" } },
  { event: ClientEvent.RemoveReaction, data: { messageId: 5, emoji: "🇫🇷" } },
  { event: ClientEvent.TypingStart, data: {} },
  { event: ClientEvent.TypingStop },
  { event: ClientEvent.MarkRead, data: { messageId: 9 } },
  { event: ClientEvent.Auth, data: { token: "a.b.c" } },
];

/** Values a field may be given instead of its own. */
const odd: unknown[] = [
  undefined, null, "", " ", "x", "x".repeat(limits.contentMax + 1), ` ${"x".repeat(limits.contentMax)} `, "a\ud800b", "12", "👍", "👍👍",
  ATTACHMENT, "0-abcdefghijklmnopqrstuv", 0, -1, 1, 1.5, 2 ** 53, Number.NaN, Infinity, true, [], [ATTACHMENT, ATTACHMENT],
  [ATTACHMENT], Array.from({ length: limits.attachmentsPerMessageMax + 1 }, (_, i) => `${i + 1}-abcdefghijklmnopqrstuv`), {}, { chatId: 1 },
];
const fields = ["event", "data", "chatId", "content", "clientId", "replyToId", "attachmentIds", "messageId", "emoji", "token", "extra"];

/** A small deterministic generator, so a failure names a case that can be run again. */
function random(seed: number) {
  return () => ((seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) | 0) >>> 0) / 2 ** 32;
}

/** A valid frame with one to three of its fields (or its data's) replaced, removed or added. */
function mutate(frame: unknown, next: () => number): unknown {
  const copy = structuredClone(frame) as Record<string, unknown>;
  for (let n = 1 + Math.floor(next() * 3); n > 0; n--) {
    const inData = next() < 0.7 && typeof copy.data === "object" && copy.data !== null;
    const target = (inData ? copy.data : copy) as Record<string, unknown>;
    const field = fields[Math.floor(next() * fields.length)]!;
    if (next() < 0.2) delete target[field];
    else target[field] = structuredClone(odd[Math.floor(next() * odd.length)]);
  }
  return copy;
}

const outcome = (result: ReturnType<typeof clientFrame.safeParse>) => (result.success ? { data: result.data } : { issues: result.error.issues });

describe("compiledClientFrame", () => {
  it("is compiled: zod hands back a schema it cannot compile unchanged", () => {
    expect(compiledClientFrame).not.toBe(clientFrame);
  });

  it("parses valid frames with the generated code: zod's interpreter runs only for invalid ones", () => {
    const interpreter = clientFrame._zod.run;
    let interpreted = 0;
    clientFrame._zod.run = (payload, ctx) => (interpreted++, interpreter(payload, ctx));
    try {
      for (const frame of valid) expect(compiledClientFrame.safeParse(frame).success).toBe(true);
      expect(interpreted).toBe(0);
      expect(compiledClientFrame.safeParse({ event: ClientEvent.SendMessage, data: { content: " " } }).success).toBe(false);
      expect(interpreted).toBe(1);
    } finally {
      clientFrame._zod.run = interpreter;
    }
  });

  it("answers exactly as the interpreter: the same data, or the same issues", () => {
    for (const frame of valid) expect(outcome(compiledClientFrame.safeParse(frame))).toEqual(outcome(clientFrame.safeParse(frame)));
    const next = random(20261205);
    let accepted = 0;
    for (let i = 0; i < 5000; i++) {
      const frame = mutate(valid[i % valid.length], next);
      const compiled = outcome(compiledClientFrame.safeParse(frame));
      expect(compiled, `case ${i}: ${JSON.stringify(frame)}`).toEqual(outcome(clientFrame.safeParse(frame)));
      if ("data" in compiled) accepted++;
    }
    // Both sides of the comparison were exercised.
    expect(accepted).toBeGreaterThan(200);
    expect(accepted).toBeLessThan(4800);
  });
});
