/** Limits written in the wire contract; server, client and tests share them. */
export const limits = {
  usernameMin: 3,
  usernameMax: 32,
  passwordMin: 8,
  passwordMax: 128,
  chatNameMax: 100,
  contentMax: 4000,
  clientIdMax: 64,
  /**
   * A resent clientId is recognised while its first message is at most this old, however many
   * messages came after it; after that it would be a new message.
   */
  clientIdWindowMs: 24 * 60 * 60 * 1000,
  /**
   * Not a bound of the contract: how many of a chat's newest messages the room keeps the clientIds
   * of in memory. A busier day's older clientIds are found through Bloom-filtered blocks of the log.
   */
  clientIdWindowMessages: 20_000,
  /** Largest HTTP body and WebSocket frame accepted. */
  maxBodyBytes: 64 * 1024,
  historyDefaultLimit: 50,
  historyMaxLimit: 100,
  /** Messages replayed on connect with `since`; older ones are paged over HTTP. */
  replayMax: 1000,
  userSearchMax: 20,
  /** A typing state ends this long after the last `typing_start`. */
  typingTimeoutMs: 6000,
  /** Read markers that move within this window reach each socket as one frame at its end. */
  readReceiptWindowMs: 1000,
  /** A chat is large from this many active members on, when `LARGE_ROOM_MEMBERS` does not say ("Large chats"). */
  largeRoomMembersDefault: 1000,
  /** A user whose last socket closed is announced offline only if none opened again within this long. */
  presenceGraceMs: 2000,
  /** Large chats: `occupancy` at most once per this window. */
  occupancyWindowMs: 2000,
  /** Large chats: a user's typing is announced as beginning at most once per this long. */
  largeTypingIntervalMs: 3000,
  /** Large chats: at most this many users are announced as typing at once. */
  largeTypingMax: 5,
  /** Longest token an `auth` frame may carry (ours are about 200 bytes). */
  tokenMax: 2048,
  /** Distinct emoji on one message. */
  reactionsMax: 20,
  /** Characters of the original a reply shows. */
  replyExcerptMax: 100,
  /** Changed messages replayed on connect with `changesSince`; the rest are paged over HTTP. */
  changeReplayMax: 1000,
  /** Attachments on one message. */
  attachmentsPerMessageMax: 10,
  /** Characters of an attachment's file name (longer names are cut). */
  attachmentNameMax: 200,
  /** The largest upload when `ATTACHMENT_MAX_BYTES` does not say (10 MiB). */
  attachmentMaxBytesDefault: 10 * 1024 * 1024,
  /** Lifetime of a signed download URL, in seconds. */
  attachmentUrlTtlSeconds: 300,
  /** An upload not attached to a message within this long is deleted. */
  unattachedUploadTtlMs: 60 * 60 * 1000,
  /** Uploads a minute per user in a chat, when `UPLOAD_RATE_PER_MINUTE` does not say. */
  uploadRatePerMinuteDefault: 30,
  /** Bytes a user may hold in a chat in uploads not attached yet, when `UPLOAD_QUOTA_BYTES` does not say (200 MiB: two messages' worth of ten 10 MiB files). */
  uploadQuotaBytesDefault: 200 * 1024 * 1024,
  /** Message search (`GET /api/search`): the longest query, and results per page. */
  searchQueryMax: 200,
  searchDefaultLimit: 20,
  searchMaxLimit: 50,
  /** Words a search snippet shows around its first match. */
  snippetWords: 24,
  /** A group's slow mode: seconds a member waits between two messages (0: off). */
  slowModeMaxSeconds: 3600,
  /**
   * A chat's retention: messages older than this many seconds are deleted. At least a minute
   * (a deployment's test-only `RETENTION_MIN_SECONDS` may lower it), at most ten 365-day years.
   */
  retentionMinSeconds: 60,
  retentionMaxSeconds: 10 * 365 * 24 * 60 * 60,
  /** A report's reason, in characters. */
  reportReasonMax: 500,
  /** Reports per page of `GET …/reports`. */
  reportsDefaultLimit: 50,
  reportsMaxLimit: 100,
} as const;
