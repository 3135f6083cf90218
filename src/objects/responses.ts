import { ErrorCode, statusOf, type ErrorBody } from "../protocol/errors";

export type HttpErrorCode = Exclude<ErrorCode, typeof ErrorCode.WrongChat>;

/** The contract's `{ error, code }` body with the status that code travels with. */
export function errorResponse(code: HttpErrorCode, message: string, headers: Record<string, string> = {}): Response {
  const body: ErrorBody = { error: message, code };
  return Response.json(body, { status: statusOf[code], headers });
}
