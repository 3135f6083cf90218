import { ErrorCode, statusOf, type ErrorBody } from "../protocol/errors";

export type HttpErrorCode = Exclude<ErrorCode, typeof ErrorCode.WrongChat>;

/** Seconds a client waits before retrying a `503 unavailable` that names no other time. */
export const UNAVAILABLE_RETRY_AFTER_SECONDS = 1;

/**
 * The contract's `{ error, code }` body with the status that code travels with. A `503 unavailable`
 * always carries `Retry-After`, whichever layer refused (the Worker, a room's RPC answer, an upgrade).
 */
export function errorResponse(code: HttpErrorCode, message: string, headers: Record<string, string> = {}): Response {
  const body: ErrorBody = { error: message, code };
  if (code === ErrorCode.Unavailable && !Object.keys(headers).some((h) => h.toLowerCase() === "retry-after")) {
    headers = { ...headers, "Retry-After": String(UNAVAILABLE_RETRY_AFTER_SECONDS) };
  }
  return Response.json(body, { status: statusOf[code], headers });
}
