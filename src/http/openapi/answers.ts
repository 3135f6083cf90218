/**
 * What the HTTP routes answer, as zod schemas for the OpenAPI document only: nothing parses answers
 * at run time. Each is pinned to its interface in `protocol/models.ts` below, so a field added to a
 * model and not here (or the other way round) fails `tsc`.
 */
import { z } from "zod";
import type { HttpErrorCode } from "../../objects/responses";
import { statusOf, type ErrorBody } from "../../protocol/errors";
import type { SignedDownload } from "../../auth/download-urls";
import type { Attachment, AuthResponse, ChangePage, Chat, ChatMember, Member, Message, MessagePage, Report, SearchPage, Upload, User } from "../../protocol/models";
import type { PushSettings, VapidPublicKey } from "../../protocol/push";
import { attachmentId, id, role } from "../../protocol/schemas";
import { limits } from "../../protocol/limits";

// A format, not zod's ISO pattern: the answers are the server's own, and the pattern is unreadable.
const timestamp = z.string().meta({ format: "date-time", description: "ISO-8601 UTC with milliseconds" });

export const userAnswer = z.object({ id, username: z.string() }).meta({ id: "User" });
export const memberAnswer = z.object({ id, username: z.string(), role }).meta({ id: "Member" });
export const chatMemberAnswer = z
  .object({ id, username: z.string(), role, lastReadMessageId: id.nullable().describe("the member's read marker (for \"seen by\")") })
  .meta({ id: "ChatMember" });
const reactionAnswer = z.object({ emoji: z.string(), count: z.number().int().positive(), userIds: z.array(id) }).meta({ id: "Reaction" });
export const uploadAnswer = z
  .object({
    id: attachmentId.describe("`<chatId>-<random>`"),
    name: z.string().describe("the file name as stored (cleaned, at most 200 characters)"),
    size: z.number().int().positive().describe("bytes"),
    contentType: z.string(),
  })
  .meta({ id: "Upload" });
const attachmentAnswer = uploadAnswer.extend({ url: z.string().describe("`/api/attachments/{id}`: needs the token, or use a signed URL") }).meta({ id: "Attachment" });
export const downloadUrlAnswer = z
  .object({ url: z.string().describe("path and query of a signed download URL"), expiresAt: timestamp })
  .meta({ id: "SignedDownload" });
export const messageAnswer = z
  .object({
    id: id.describe("unique within its chat"),
    chatId: id,
    sender: userAnswer,
    content: z.string().describe('"" once deleted'),
    timestamp,
    editedAt: timestamp.nullable(),
    deleted: z.boolean(),
    reactions: z.array(reactionAnswer).describe("one per distinct emoji, at most 20"),
    replyTo: z
      .object({ id, sender: userAnswer, excerpt: z.string().describe('at most 100 characters; "" once the original was deleted') })
      .nullable(),
    attachments: z.array(attachmentAnswer).describe("at most 10, in the order attached; [] once deleted"),
  })
  .meta({ id: "Message" });
export const chatAnswer = z
  .object({
    id,
    type: z.enum(["direct", "group"]),
    name: z.string().nullable().describe("null for a direct chat"),
    createdAt: timestamp,
    members: z.array(chatMemberAnswer),
    lastMessage: messageAnswer.nullable(),
    lastReadMessageId: id.nullable().describe("the caller's read marker"),
    unreadCount: z.number().int().nonnegative().describe("messages from other members after the caller's marker (not from users the caller blocks)"),
    slowModeSeconds: z.number().int().min(0).max(limits.slowModeMaxSeconds).describe("seconds a member (not an admin) waits between two messages; 0: off"),
    retentionSeconds: z.number().int().positive().nullable().describe("messages older than this are deleted; null: kept"),
    muted: z.boolean().describe("the caller muted the chat: its messages send them no push notification"),
  })
  .meta({ id: "Chat" });
export const authAnswer = z.object({ token: z.string().describe("a JWT (HS256) for `Authorization: Bearer`"), user: userAnswer }).meta({ id: "Auth" });
export const messagePageAnswer = z
  .object({
    messages: z.array(messageAnswer).describe("ascending id order, current state"),
    hasMore: z.boolean(),
    lastChangeId: z.number().int().nonnegative().describe("the chat's newest change id when the page was read"),
  })
  .meta({ id: "MessagePage" });
export const changePageAnswer = z
  .object({
    messages: z.array(messageAnswer).describe("messages changed after `after`, current state, in change order"),
    lastChangeId: z.number().int().nonnegative(),
    hasMore: z.boolean(),
  })
  .meta({ id: "ChangePage" });
export const searchPageAnswer = z
  .object({
    results: z
      .array(
        z.object({
          chatId: id,
          message: messageAnswer,
          snippet: z.string().describe("words around the first match; each match between U+E000 and U+E001 (plain text, never HTML)"),
        }),
      )
      .describe("newest first"),
    hasMore: z.boolean().describe("whether older results exist"),
    nextBefore: z.string().nullable().describe("`before` for the next page; null when `hasMore` is false"),
  })
  .meta({ id: "SearchPage" });
export const reportAnswer = z
  .object({ id, message: messageAnswer.describe("in its current state"), reporter: userAnswer, reason: z.string(), createdAt: timestamp })
  .meta({ id: "Report" });
export const reportListAnswer = z.object({ reports: z.array(reportAnswer).describe("newest first"), hasMore: z.boolean().describe("whether older reports exist (`before`: the last id)") });
export const vapidKeyAnswer = z
  .object({ key: z.string().describe("the VAPID public key: an uncompressed P-256 point, base64url (`applicationServerKey`)") })
  .meta({ id: "VapidPublicKey" });
export const pushSettingsAnswer = z.object({ previews: z.boolean().describe("whether a push carries the message's text") }).meta({ id: "PushSettings" });
export const chatListAnswer = z.object({ chats: z.array(chatAnswer).describe("most recent activity first") });
export const userListAnswer = z.object({ users: z.array(userAnswer) });

/** The codes HTTP answers carry: those with a status (`wrong_chat` is WebSocket only). */
const httpCodes = Object.keys(statusOf) as [HttpErrorCode, ...HttpErrorCode[]];
export const errorAnswer = z.object({ error: z.string().describe("a message for a person"), code: z.enum(httpCodes) });

// ---- Each schema describes exactly its model: tsc fails here when one drifts. ----
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const drift: [
  Same<z.output<typeof userAnswer>, User>,
  Same<z.output<typeof memberAnswer>, Member>,
  Same<z.output<typeof chatMemberAnswer>, ChatMember>,
  Same<z.output<typeof changePageAnswer>, ChangePage>,
  Same<z.output<typeof messageAnswer>, Message>,
  Same<z.output<typeof uploadAnswer>, Upload>,
  Same<z.output<typeof attachmentAnswer>, Attachment>,
  Same<z.output<typeof downloadUrlAnswer>, SignedDownload>,
  Same<z.output<typeof chatAnswer>, Chat>,
  Same<z.output<typeof authAnswer>, AuthResponse>,
  Same<z.output<typeof messagePageAnswer>, MessagePage>,
  Same<z.output<typeof searchPageAnswer>, SearchPage>,
  Same<z.output<typeof chatListAnswer>, { chats: Chat[] }>,
  Same<z.output<typeof userListAnswer>, { users: User[] }>,
  Same<z.output<typeof errorAnswer>, ErrorBody & { code: HttpErrorCode }>,
  Same<z.output<typeof reportAnswer>, Report>,
  Same<z.output<typeof vapidKeyAnswer>, VapidPublicKey>,
  Same<z.output<typeof pushSettingsAnswer>, PushSettings>,
] = [true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true, true];
void drift;
