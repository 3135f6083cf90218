import { ErrorCode, statusOf, type ErrorBody } from "../protocol/errors";

type HttpErrorCode = Exclude<ErrorCode, "wrong_chat">;

/** An error meant for the client: it becomes the contract's `{ error, code }` body. */
export class ApiError extends Error {
  constructor(
    readonly code: HttpErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }

  get status(): number {
    return statusOf[this.code];
  }
}

export function errorResponse(code: HttpErrorCode, message: string, headers: Record<string, string> = {}): Response {
  const body: ErrorBody = { error: message, code };
  return Response.json(body, { status: statusOf[code], headers });
}

export const badRequest = (message: string) => new ApiError(ErrorCode.BadRequest, message);
export const notFound = (message: string) => new ApiError(ErrorCode.NotFound, message);
export const forbidden = (message: string) => new ApiError(ErrorCode.Forbidden, message);
