/** Error codes of the wire contract and the HTTP status each one travels with. */
export const ErrorCode = {
  BadRequest: "bad_request",
  Unauthorized: "unauthorized",
  Forbidden: "forbidden",
  NotFound: "not_found",
  Conflict: "conflict",
  /** The message was deleted: it cannot be edited, reacted to or replied to. */
  Gone: "gone",
  PayloadTooLarge: "payload_too_large",
  /** An upload without Content-Length. */
  LengthRequired: "length_required",
  /** An upload whose Content-Type is not on the allow-list. */
  UnsupportedMediaType: "unsupported_media_type",
  /** A download's If-Match or If-Unmodified-Since does not hold. */
  PreconditionFailed: "precondition_failed",
  /** A download's Range starts past the end of the file. */
  RangeNotSatisfiable: "range_not_satisfiable",
  UpgradeRequired: "upgrade_required",
  RateLimited: "rate_limited",
  /** A send in a direct chat whose other member blocked the sender, or a direct chat or group add they refuse. */
  Blocked: "blocked",
  /** A send within the chat's slow-mode period after the sender's last message (with `retryAfter`). */
  SlowMode: "slow_mode",
  Internal: "internal",
  Unavailable: "unavailable",
  /** WebSocket only: a frame named a chat other than the socket's own. */
  WrongChat: "wrong_chat",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const statusOf: Record<Exclude<ErrorCode, "wrong_chat">, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  blocked: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  length_required: 411,
  precondition_failed: 412,
  payload_too_large: 413,
  unsupported_media_type: 415,
  range_not_satisfiable: 416,
  upgrade_required: 426,
  rate_limited: 429,
  slow_mode: 429,
  internal: 500,
  unavailable: 503,
};

/** Every error body, HTTP or WebSocket, has this shape. */
export interface ErrorBody {
  error: string;
  code: ErrorCode;
}

/** WebSocket close codes the server uses. */
export const CloseCode = {
  Normal: 1000,
  MessageTooBig: 1009,
  /** The socket's session ended: its token expired or was revoked (logout, password change). */
  SessionEnded: 4001,
  /** The user was removed from the chat. */
  Removed: 4003,
} as const;

/** Closes after which reconnecting cannot help: a client stops and reports why. */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([CloseCode.MessageTooBig, CloseCode.SessionEnded, CloseCode.Removed]);
