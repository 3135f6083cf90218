import { describe, expect, it } from "vitest";
import { ErrorCode } from "../protocol/errors";
import { ClientEvent } from "../protocol/events";
import { limits } from "../protocol/limits";
import { parseFrame, utf8Length } from "./frames";

const frame = (event: string, data: unknown) => JSON.stringify({ event, data });

describe("parseFrame", () => {
  it("accepts every client event of the contract", () => {
    expect(parseFrame(frame(ClientEvent.JoinChat, { chatId: 3 }))).toMatchObject({ kind: "frame" });
    expect(parseFrame(frame(ClientEvent.SendMessage, { content: "hi", clientId: "a" }))).toMatchObject({ kind: "frame" });
    expect(parseFrame(frame(ClientEvent.TypingStart, {}))).toMatchObject({ kind: "frame" });
    expect(parseFrame(JSON.stringify({ event: ClientEvent.TypingStop }))).toMatchObject({ kind: "frame" });
  });

  it("names the event and clientId of a bad frame", () => {
    const result = parseFrame(frame(ClientEvent.SendMessage, { content: "   ", clientId: "c-1" }));
    expect(result).toMatchObject({ kind: "error", error: { code: ErrorCode.BadRequest, event: ClientEvent.SendMessage, clientId: "c-1" } });
  });

  it("refuses unknown events, non-JSON, wrong types and binary frames with bad_request", () => {
    for (const raw of [frame("shout", {}), "{not json", frame(ClientEvent.JoinChat, { chatId: "3" }), "null", "[]", new ArrayBuffer(8)]) {
      const result = parseFrame(raw);
      expect(result.kind).toBe("error");
      if (result.kind === "error") expect(result.error.code).toBe(ErrorCode.BadRequest);
    }
    const unknown = parseFrame(frame("shout", {}));
    expect(unknown.kind === "error" && unknown.error.error).toContain("unknown event");
  });

  it("checks content length after trimming", () => {
    const ok = "x".repeat(limits.contentMax);
    expect(parseFrame(frame(ClientEvent.SendMessage, { content: `  ${ok}  ` })).kind).toBe("frame");
    expect(parseFrame(frame(ClientEvent.SendMessage, { content: ok + "x" })).kind).toBe("error");
  });

  it("flags frames over the size limit, counted in UTF-8 bytes", () => {
    expect(parseFrame("x".repeat(limits.maxBodyBytes + 1))).toEqual({ kind: "too_big" });
    const threeByteChars = "€".repeat(Math.ceil(limits.maxBodyBytes / 3) + 1);
    expect(utf8Length(threeByteChars)).toBeGreaterThan(limits.maxBodyBytes);
    expect(parseFrame(threeByteChars)).toEqual({ kind: "too_big" });
    expect(parseFrame(new ArrayBuffer(limits.maxBodyBytes + 1))).toEqual({ kind: "too_big" });
  });
});
