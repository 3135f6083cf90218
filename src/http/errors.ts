import { ErrorCode, statusOf } from "../protocol/errors";
import type { HttpErrorCode } from "../objects/responses";

export { errorResponse } from "../objects/responses";

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

export const badRequest = (message: string) => new ApiError(ErrorCode.BadRequest, message);
export const notFound = (message: string) => new ApiError(ErrorCode.NotFound, message);
export const forbidden = (message: string) => new ApiError(ErrorCode.Forbidden, message);
