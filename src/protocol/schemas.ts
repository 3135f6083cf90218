/**
 * Runtime validation of everything a client sends, HTTP and WebSocket alike.
 * Types in `events.ts`/`models.ts` are the contract; these schemas enforce it at the edge.
 */
import { z } from "zod";
import { ClientEvent } from "./events";
import { limits } from "./limits";
import { decodeSearchCursor } from "./search";

/** Ids are positive integers; in a path or query they are plain decimal digits only. */
export const id = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
export const idString = z
  .string()
  .regex(/^[1-9][0-9]{0,15}$/, "must be a positive integer")
  .transform(Number)
  .pipe(id);

export const username = z
  .string()
  .min(limits.usernameMin)
  .max(limits.usernameMax)
  .regex(/^[A-Za-z0-9_.-]+$/, "may contain only letters, digits, '_', '.' and '-'");
export const password = z.string().min(limits.passwordMin).max(limits.passwordMax);

/**
 * Content is checked after trimming but stored exactly as sent. Lone UTF-16 surrogates (possible
 * through JSON escapes, impossible to store as UTF-8) become U+FFFD here, so what is acknowledged
 * is exactly what is stored.
 */
const contentText = z
  .string()
  .transform((s) => s.toWellFormed())
  .refine((s) => s.trim().length <= limits.contentMax, `must be at most ${limits.contentMax} characters`);
export const content = contentText.refine((s) => s.trim().length >= 1, "must not be empty");

export const clientId = z.string().min(1).max(limits.clientIdMax);
/**
 * An attachment id: `<chatId>-<22 characters of base64url>` (128 random bits). The chat in it is
 * how a download finds the chat's room without asking D1.
 */
export const attachmentId = z
  .string()
  .regex(/^[1-9][0-9]{0,15}-[A-Za-z0-9_-]{22}$/, "must be an attachment id")
  // Sixteen digits reach past the largest chat id: the chat part takes the bound of every id.
  .refine((s) => id.safeParse(Number(s.slice(0, s.indexOf("-")))).success, "must be an attachment id");
const attachmentIds = z
  .array(attachmentId)
  .max(limits.attachmentsPerMessageMax)
  .refine((ids) => new Set(ids).size === ids.length, "must not repeat an id");

/**
 * What a new message says, over HTTP and on the socket: content (may be "" or absent only when the
 * message carries attachments), the attachments, the clientId, the message it answers.
 */
const messageDraft = {
  content: contentText.default(""),
  attachmentIds: attachmentIds.optional(),
  clientId: clientId.optional(),
  replyToId: id.optional(),
};
const hasContentOrFiles = (d: { content: string; attachmentIds?: string[] | undefined }) => d.content.trim().length >= 1 || (d.attachmentIds?.length ?? 0) > 0;
const contentOrFiles = { message: "must not be empty (unless the message has attachments)", path: ["content"] };

export const chatName = z
  .string()
  .refine((s) => s.trim().length >= 1 && s.length <= limits.chatNameMax, `must be 1-${limits.chatNameMax} characters`);
export const role = z.enum(["admin", "member"]);
/**
 * One emoji: a single grapheme that is an RGI emoji (skin tones, ZWJ sequences, flags and keycaps
 * included). Anything else, text or two emoji, is refused.
 */
const RGI_EMOJI = new RegExp("^\\p{RGI_Emoji}$", "v");
export const emoji = z
  .string()
  .max(32)
  .refine((s) => RGI_EMOJI.test(s), "must be exactly one emoji");

// ---- HTTP bodies ----
export const credentialsBody = z.object({ username, password });
export const changePasswordBody = z.object({ currentPassword: password, newPassword: password });
export const createChatBody = z.discriminatedUnion("type", [
  z.object({ type: z.literal("direct"), userId: id }),
  z.object({ type: z.literal("group"), name: chatName, memberIds: z.array(id).max(1000).default([]) }),
]);
/**
 * `PATCH /api/chats/:chatId`: any of the group's name and settings, at least one. Retention's floor
 * of 60 s is checked by the route against the deployment's `RETENTION_MIN_SECONDS` (test-only).
 */
export const updateChatBody = z
  .object({
    name: chatName.optional(),
    slowModeSeconds: z.number().int().min(0).max(limits.slowModeMaxSeconds).optional(),
    retentionSeconds: z
      .number()
      .int()
      .min(1)
      .max(limits.retentionMaxSeconds)
      .nullable()
      .optional()
      .meta({ description: `null (keep messages), or ${limits.retentionMinSeconds}–${limits.retentionMaxSeconds} seconds` }),
  })
  .refine((b) => b.name !== undefined || b.slowModeSeconds !== undefined || b.retentionSeconds !== undefined, "give name, slowModeSeconds or retentionSeconds");
export const reportBody = z.object({
  reason: z
    .string()
    .max(limits.reportReasonMax)
    .refine((s) => s.trim().length >= 1, "must not be empty"),
});
export const addMemberBody = z.object({ userId: id });
export const updateMemberBody = z.object({ role });
export const sendMessageBody = z.object(messageDraft).refine(hasContentOrFiles, contentOrFiles);
export const editMessageBody = z.object({ content });
export const readMarkerBody = z.object({ messageId: id });

// ---- HTTP params and queries ----
export const chatParams = z.object({ chatId: idString });
export const memberParams = z.object({ chatId: idString, userId: idString });
export const userParams = z.object({ userId: idString });
export const messageParams = z.object({ chatId: idString, messageId: idString });
export const reactionParams = z.object({ chatId: idString, messageId: idString, emoji });
export const attachmentParams = z.object({ id: attachmentId });
/**
 * A signed download URL's query: all three or none. Not checked here: a malformed value is a forged
 * URL (401, not 400), which the download route decides (src/http/routes/attachments.ts).
 */
export const downloadQuery = z.object({
  user: z.string().optional().meta({ description: "the user the URL was signed for (a signed URL has all four of `user`, `ver`, `expires`, `sig`)" }),
  ver: z.string().optional().meta({ description: "the token version of the session that signed the URL: the URL stops working when that session ends (logout, password change)" }),
  expires: z.string().optional().meta({ description: "when the URL expires, in seconds since the epoch" }),
  sig: z.string().optional().meta({ description: "the signature: 43 characters of base64url" }),
});

/** "0" as well as an id: `after=0` (like `since=0`) means from the first message. */
const idOrZero = z.union([z.literal("0").transform(() => 0), idString]);

/** A page size in a query string: 1 to `max`. */
const limitParam = (max: number) =>
  z
    .string()
    .regex(/^[0-9]{1,4}$/, "must be an integer")
    .transform(Number)
    .pipe(z.number().int().min(1).max(max));

export const historyQuery = z
  .object({
    before: idString.optional(),
    after: idOrZero.optional(),
    limit: limitParam(limits.historyMaxLimit).optional(),
  })
  .refine((q) => q.before === undefined || q.after === undefined, "use either before or after, not both");
/**
 * `GET /api/search`: `q` is 1–200 characters and not blank (it is searched as plain words, whatever
 * it contains); `before` is the cursor of the previous page's `nextBefore`.
 */
export const searchQuery = z.object({
  q: z
    .string()
    .refine((s) => s.trim().length >= 1, "must not be empty")
    .refine((s) => s.length <= limits.searchQueryMax, `must be at most ${limits.searchQueryMax} characters`),
  chatId: idString.optional(),
  limit: limitParam(limits.searchMaxLimit).optional(),
  before: z
    .string()
    .max(64)
    .transform((s, ctx) => decodeSearchCursor(s) ?? (ctx.addIssue({ code: "custom", message: "must be a cursor from nextBefore" }), z.NEVER))
    .optional(),
});
/** `GET …/reports`: newest first; `before` a report id. */
export const reportsQuery = z.object({ before: idString.optional(), limit: limitParam(limits.reportsMaxLimit).optional() });
export const userSearchQuery = z.object({ q: z.string().max(limits.usernameMax).default("") });
/** `since=0` asks for the chat from its first message: what a client with an empty history sends. */
/** `GET …/changes?after=`: a change id, 0 for all. */
export const changesQuery = z.object({ after: idOrZero.default(0) });
export const socketQuery = z.object({
  since: idOrZero.optional(),
  changesSince: idOrZero.optional(),
  /** `batched`: read receipts as one `reads_updated` per window (docs/PROTOCOL.md, "Read receipts"). */
  receipts: z.enum(["batched"]).optional(),
  /** `batched`: several events may come as one JSON array frame (docs/PROTOCOL.md, "Batched frames"). */
  frames: z.enum(["batched"]).optional(),
});

// ---- WebSocket frames from clients ----
const optionalChatId = id.optional();
const authFrame = z.object({ event: z.literal(ClientEvent.Auth), data: z.object({ token: z.string().min(1).max(limits.tokenMax) }) });
/** The inbox socket only listens; `auth` is the one event it takes. */
export const inboxClientFrame = z.discriminatedUnion("event", [authFrame]);
export const clientFrame = z.discriminatedUnion("event", [
  z.object({ event: z.literal(ClientEvent.JoinChat), data: z.object({ chatId: id }) }),
  z.object({
    event: z.literal(ClientEvent.SendMessage),
    data: z.object({ chatId: optionalChatId, ...messageDraft }).refine(hasContentOrFiles, contentOrFiles),
  }),
  z.object({ event: z.literal(ClientEvent.EditMessage), data: z.object({ chatId: optionalChatId, messageId: id, content }) }),
  z.object({ event: z.literal(ClientEvent.DeleteMessage), data: z.object({ chatId: optionalChatId, messageId: id }) }),
  z.object({ event: z.literal(ClientEvent.AddReaction), data: z.object({ chatId: optionalChatId, messageId: id, emoji }) }),
  z.object({ event: z.literal(ClientEvent.RemoveReaction), data: z.object({ chatId: optionalChatId, messageId: id, emoji }) }),
  z.object({ event: z.literal(ClientEvent.TypingStart), data: z.object({ chatId: optionalChatId }).default({}) }),
  z.object({ event: z.literal(ClientEvent.TypingStop), data: z.object({ chatId: optionalChatId }).default({}) }),
  z.object({ event: z.literal(ClientEvent.MarkRead), data: z.object({ chatId: optionalChatId, messageId: id }) }),
  authFrame,
]);
export type ParsedClientFrame = z.infer<typeof clientFrame>;

/** A readable one-line summary of a validation failure, for the `error` field. */
export function describeIssues(error: { issues: readonly { path: readonly PropertyKey[]; message: string }[] }): string {
  const first = error.issues[0];
  if (!first) return "invalid input";
  const where = first.path.length ? first.path.map(String).join(".") + ": " : "";
  return `${where}${first.message}`;
}
// ---- WebSocket frames from the server that clients check before acting on them ----
/** `messages_expired`: a client deletes what it holds up to `throughId`, so it checks the frame first. */
export const messagesExpiredPayload = z.object({ chatId: id, throughId: id });

export type InboxClientFrame = z.infer<typeof inboxClientFrame>;
