/** Turning a raw client frame into a validated event, or into the error the client is owed. */
import { ErrorCode } from "../protocol/errors";
import type { ErrorPayload } from "../protocol/events";
import { limits } from "../protocol/limits";
import type { z } from "zod";
import { compiledClientFrame } from "../protocol/compiled-schemas";
import { describeIssues, type ParsedClientFrame } from "../protocol/schemas";

export type FrameResult<F = ParsedClientFrame> =
  | { kind: "frame"; frame: F }
  | { kind: "error"; error: ErrorPayload }
  /** Over the frame size limit: the socket is closed with 1009. */
  | { kind: "too_big" };

const encoder = new TextEncoder();

/** UTF-8 size without encoding when the answer is clear from the UTF-16 length alone. */
export function utf8Length(text: string): number {
  return text.length * 3 <= limits.maxBodyBytes ? text.length : encoder.encode(text).length;
}

/** The event name and clientId of a frame, where it has them, so errors can name them. */
function context(value: unknown): Pick<ErrorPayload, "event" | "clientId"> {
  if (typeof value !== "object" || value === null) return {};
  const { event, data } = value as { event?: unknown; data?: unknown };
  const clientId = typeof data === "object" && data !== null ? (data as { clientId?: unknown }).clientId : undefined;
  return {
    ...(typeof event === "string" ? { event: event.slice(0, 64) } : {}),
    ...(typeof clientId === "string" ? { clientId: clientId.slice(0, 64) } : {}),
  };
}

/** A frame checked against `schema`: the chat socket's events by default, or the inbox's. */
export function parseFrame<S extends z.ZodType = typeof compiledClientFrame>(raw: string | ArrayBuffer, schema?: S): FrameResult<z.infer<S>> {
  if (typeof raw !== "string") {
    if (raw.byteLength > limits.maxBodyBytes) return { kind: "too_big" };
    return { kind: "error", error: { error: "binary frames are not accepted; send JSON text", code: ErrorCode.BadRequest } };
  }
  if (raw.length > limits.maxBodyBytes || utf8Length(raw) > limits.maxBodyBytes) return { kind: "too_big" };
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { kind: "error", error: { error: "frame is not valid JSON", code: ErrorCode.BadRequest } };
  }
  const parsed = (schema ?? compiledClientFrame).safeParse(value);
  if (!parsed.success) {
    const ctx = context(value);
    const unknownEvent = ctx.event !== undefined && parsed.error.issues.some((i) => i.path.length === 1 && i.path[0] === "event");
    return {
      kind: "error",
      error: {
        error: unknownEvent ? `unknown event "${ctx.event}"` : `invalid frame: ${describeIssues(parsed.error)}`,
        code: ErrorCode.BadRequest,
        ...ctx,
      },
    };
  }
  return { kind: "frame", frame: parsed.data as z.infer<S> };
}
