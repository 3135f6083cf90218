/**
 * Attachments: uploads stream into R2 (the `FILES` bucket) and are recorded by the chat's room,
 * which decides who may upload, attach and download (docs/ARCHITECTURE.md, "Attachments"). D1 is
 * on none of these paths: an attachment id names its chat, so a download finds the room by itself.
 */
import { Hono, type HonoRequest } from "hono";
import { createMiddleware } from "hono/factory";
import { base64url } from "../../auth/base64url";
import { signDownload, verifyDownload } from "../../auth/download-urls";
import { tokenVersions } from "../../auth/token-versions";
import { isUnavailable } from "../../db/deadline";
import { findTokenVersion } from "../../db/users";
import { ErrorCode } from "../../protocol/errors";
import { limits } from "../../protocol/limits";
import type { Upload } from "../../protocol/models";
import { attachmentParams, chatParams, downloadQuery } from "../../protocol/schemas";
import type { AppEnv } from "../env";
import { ApiError, badRequest } from "../errors";
import { allowedTypes, byteRange, contentDisposition, essence, evaluatePreconditions, fileName, maxUploadBytes } from "../files";
import { requireUser } from "../middleware/auth";
import { downloadUrlAnswer, uploadAnswer } from "../openapi/answers";
import { describe, memberOnly, type RouteDoc } from "../openapi/describe";
import { validate } from "../validate";
import { existingRoom, unwrap } from "../rooms";

const UPLOAD_PATH = /^\/api\/chats\/[^/]+\/attachments$/;

/** Uploads are the one request body over 64 KiB: the app's body limit lets them through to their own. */
export const isUpload = (req: HonoRequest) => req.method === "POST" && UPLOAD_PATH.test(req.path);

/** 128 random bits, base64url (22 characters). */
const randomPart = () => base64url(crypto.getRandomValues(new Uint8Array(16)));

const chatOf = (attachmentId: string) => Number(attachmentId.slice(0, attachmentId.indexOf("-")));

const docs = {
  upload: {
    summary: "Upload a file to a chat",
    description:
      "The body is the file's bytes, streamed to storage (not JSON, not multipart). Headers: `Content-Type` (its type, on the allow-list: by default PNG, JPEG, GIF, WebP, PDF and plain text), `Content-Length` (required; at most the size limit, 10 MiB by default), `X-File-Name` (the name, percent-encoded UTF-8; control and format characters are removed, path separators become `_`, at most 200 characters; a name left empty becomes `file`). Checked in this order, before any byte is read: the token (401), `chatId` (400), `Content-Type` (415), `Content-Length` (411; 400 when not a decimal number), the size (413; 400 for 0), `X-File-Name` (400), membership (404, 403), then the caller's upload rate and quota in this chat (429, 413 with `Retry-After`; checked again when the upload is recorded); a body that then is not `Content-Length` bytes long is 400 and nothing is kept. The upload is the caller's until a message of theirs attaches it (`attachmentIds`); one never attached within an hour is deleted.",
    tag: "attachments",
    access: "bearer",
    ok: { 201: ["stored", uploadAnswer] },
    errors: {
      bad_request:
        "a malformed `chatId`, a `Content-Length` that is not a decimal number, an empty file, no or malformed `X-File-Name`, or a body that is not `Content-Length` bytes long",
      ...memberOnly,
      length_required: "no `Content-Length`",
      payload_too_large: "over the size limit; or, with `Retry-After`, the caller's uploads to this chat not yet attached to a message would exceed the quota (`UPLOAD_QUOTA_BYTES`, 200 MiB by default)",
      rate_limited: "more uploads to this chat in the last minute than the caller's rate (`UPLOAD_RATE_PER_MINUTE`, 30 by default); retry after `Retry-After` seconds",
      unsupported_media_type: "a `Content-Type` not on the allow-list",
    },
  },
  download: {
    summary: "Download an attachment",
    description:
      "For members of the attachment's chat only (checked at every download: a removed member is refused at once), and for the uploader before it is attached. The token comes in `Authorization: Bearer`, or the URL is a signed one from `GET /api/attachments/{id}/url` (query `user`, `ver`, `expires`, `sig`), for `<img>` and links; such a URL ends with the session that asked for it (logout, password change). `Content-Disposition` is `inline` only for PNG, JPEG, GIF and WebP, `attachment` otherwise; always `X-Content-Type-Options: nosniff` and `Content-Security-Policy: sandbox`. Credentials are checked before the id: without valid ones the answer is 401 whatever the id. Preconditions (RFC 9110 §13.2.2, in its order): `If-Match` without the `ETag`, or else `If-Unmodified-Since` before `Last-Modified`, is 412; `If-None-Match` with the `ETag` (or `*`), or else `If-Modified-Since` at or after `Last-Modified` and not later than the server's clock, is 304. A header that is not a valid list or HTTP-date (any year, any text) is ignored. Then single byte ranges (`Range: bytes=…`) answer 206.",
    tag: "attachments",
    access: "signed",
    ok: { 200: ["the file"], 206: ["the range asked for, with `Content-Range`"], 304: ["not modified (`If-None-Match`, or `If-Modified-Since` without it)"] },
    errors: {
      bad_request: "a malformed attachment id (checked after the credentials), or a signed URL missing some of `user`, `ver`, `expires`, `sig`",
      unauthorized: "no token, or a signed URL that is forged (a value malformed or altered), expired, or of a session that ended (logout, password change)",
      forbidden: "not a member of the chat",
      not_found: "no such attachment, someone else's upload not attached yet, or the file was deleted",
      precondition_failed: "`If-Match` does not name the `ETag`, or (without `If-Match`) `If-Unmodified-Since` is a valid date before `Last-Modified`",
      range_not_satisfiable: "the range starts at or past the end of the file, or is `bytes=-0` (`Content-Range: bytes */<size>`)",
    },
  },
  sign: {
    summary: "A short-lived signed URL for an attachment",
    description: `A URL for \`GET /api/attachments/{id}\` that works without a token for ${limits.attachmentUrlTtlSeconds / 60} minutes, for the caller only and while the caller's session lasts (logout and a password change end it): put it in \`<img src>\` or a link. Membership is checked when it is used, not here.`,
    tag: "attachments",
    access: "bearer",
    // Not `noStore`: its token check may need D1 (a user whose token version this server has not
    // read lately), and answers 503 while D1 is unavailable.
    ok: { 200: ["the URL and when it expires", downloadUrlAnswer] },
  },
} satisfies Record<string, RouteDoc>;

/** A body passed through as it is, counting its bytes and noticing whether it ended (rather than failed). */
function tallied(body: ReadableStream<Uint8Array>) {
  const tally = { bytes: 0, ended: false, stream: body };
  tally.stream = body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        tally.bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
      flush() {
        tally.ended = true;
      },
    }),
  );
  return tally;
}

/** `POST /api/chats/:chatId/attachments`, under the app's token check. */
// describe() after the validator: its 413 (the file limit) must win over the default 413 (64 KiB) the validator carries.
export const uploadRoutes = new Hono<AppEnv>().post("/:chatId/attachments", validate("param", chatParams), describe(docs.upload), async (c) => {
  const { chatId } = c.req.valid("param");
  const contentType = essence(c.req.header("Content-Type"));
  const allowed = allowedTypes(c.env.ATTACHMENT_TYPES);
  if (!contentType || !allowed.has(contentType)) {
    throw new ApiError(ErrorCode.UnsupportedMediaType, `files of type ${contentType ?? "(none)"} are not accepted; allowed: ${[...allowed].join(", ")}`);
  }
  const length = c.req.header("Content-Length");
  if (length === undefined) throw new ApiError(ErrorCode.LengthRequired, "Content-Length is required");
  if (!/^[0-9]{1,16}$/.test(length)) throw badRequest("malformed Content-Length");
  const size = Number(length);
  const max = maxUploadBytes(c.env.ATTACHMENT_MAX_BYTES);
  // Refused before a byte is read.
  if (size > max) throw new ApiError(ErrorCode.PayloadTooLarge, `files are limited to ${max} bytes`);
  if (size === 0) throw badRequest("the file is empty");
  const name = fileName(c.req.header("X-File-Name"));
  if (name === null) throw badRequest("X-File-Name must be the file's name, percent-encoded");
  const body = c.req.raw.body;
  if (!body) throw badRequest("the file is empty");

  const room = await existingRoom(c, chatId);
  unwrap(await room.uploadAllowed(c.get("user")));
  const upload: Upload = { id: `${chatId}-${randomPart()}`, name, size, contentType };
  // R2 needs a stream of known length; this one also fails if the body ends early or runs long.
  const fixed = new FixedLengthStream(size);
  const tally = tallied(body);
  // Its failures surface through the put below, which reads the other end.
  tally.stream.pipeTo(fixed.writable).catch(() => undefined);
  let stored: R2Object;
  try {
    stored = await c.env.FILES.put(upload.id, fixed.readable, { httpMetadata: { contentType } });
  } catch (err) {
    // The client's fault (400) only when its body ended short or ran long; anything else is ours.
    if ((tally.ended && tally.bytes < size) || tally.bytes > size) throw badRequest(`the body was not the ${size} bytes of Content-Length`);
    throw err;
  }
  try {
    if (stored.size !== size) throw badRequest(`the body was not ${size} bytes`);
    unwrap(await room.recordUpload(c.get("user"), upload));
  } catch (err) {
    // Not recorded (removed meanwhile, or the room unreachable): nobody could ever reach the object.
    c.executionCtx.waitUntil(c.env.FILES.delete(upload.id).catch(() => undefined));
    throw err;
  }
  return c.json(upload, 201);
});

const requireToken = requireUser();

/** The signed-URL parameters, and what each looks like when `signDownload` made it. */
const SIGNED_PARAMS = { user: /^[1-9][0-9]{0,15}$/, ver: /^(?:0|[1-9][0-9]{0,15})$/, expires: /^[0-9]{1,12}$/, sig: /^[A-Za-z0-9_-]{43}$/ } as const;
const SIGNED_NAMES = Object.keys(SIGNED_PARAMS) as (keyof typeof SIGNED_PARAMS)[];

/**
 * Who is downloading: a signed URL's user, or the bearer token's. It runs before the attachment id is
 * validated, so a caller without valid credentials learns nothing about ids (401 before 400). A URL
 * with some of the four parameters is a signed URL missing some (400); with all four, any value
 * `signDownload` could not have made is as forged as a wrong signature (401). A URL whose signature
 * holds is then checked like a token: its token version must still be the user's (the same
 * per-isolate cache as bearer tokens), so logout and a password change end it.
 */
const downloadCaller = createMiddleware<AppEnv>(async (c, next) => {
  const params = Object.fromEntries(SIGNED_NAMES.map((p) => [p, c.req.query(p)])) as Record<keyof typeof SIGNED_PARAMS, string | undefined>;
  const given = SIGNED_NAMES.filter((p) => params[p] !== undefined);
  if (given.length === 0) {
    await requireToken(c, async () => {});
    c.set("downloaderId", c.get("user").id);
    return next();
  }
  if (given.length < SIGNED_NAMES.length) throw badRequest(`a signed URL has ${SIGNED_NAMES.join(", ")}`);
  const { user, ver, expires, sig } = params as Record<keyof typeof SIGNED_PARAMS, string>;
  const wellFormed = SIGNED_NAMES.every((p) => SIGNED_PARAMS[p].test(params[p]!));
  const signer = { userId: Number(user), version: Number(ver) };
  if (!wellFormed || !(await verifyDownload(c.get("signingKey"), c.req.param("id") ?? "", signer, Number(expires), sig))) {
    throw new ApiError(ErrorCode.Unauthorized, "the link is invalid or expired");
  }
  const current = await tokenVersions.current(signer.userId, () => findTokenVersion(c.get("primary"), signer.userId), isUnavailable);
  if (current !== signer.version) throw new ApiError(ErrorCode.Unauthorized, "the link's session has ended; sign in again");
  c.set("downloaderId", signer.userId);
  return next();
});

/** What every answer about a file says, whatever its status. */
function fileHeaders(name: string, contentType: string, etag: string): Headers {
  return new Headers({
    "Content-Type": contentType,
    "Content-Disposition": contentDisposition(name, contentType),
    "X-Content-Type-Options": "nosniff",
    // A file opened on its own cannot run script or reach anything, whatever it claims to be.
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox",
    // Access can end at any moment (removal): the browser revalidates each time, which a 304 keeps cheap.
    "Cache-Control": "private, no-cache",
    ETag: etag,
    "Accept-Ranges": "bytes",
  });
}

/**
 * `GET /api/attachments/:id` (its own token check: a signed URL or the bearer header) and
 * `GET /api/attachments/:id/url`. Mounted before the app's token check.
 */
export const downloadRoutes = new Hono<AppEnv>()
  .get("/:id", describe(docs.download), downloadCaller, validate("param", attachmentParams), validate("query", downloadQuery), async (c) => {
    const { id } = c.req.valid("param");
    const userId = c.get("downloaderId");
    const { attachment } = unwrap(await (await existingRoom(c, chatOf(id), "no such attachment")).fileAccess(userId, id));
    const range = byteRange(c.req.header("Range"), attachment.size);
    // Files never change (a new upload is a new id), so If-Range always holds and is not checked.
    // The preconditions are ours to evaluate, not R2's (`onlyIf`, which failed on dates such as year
    // 9999): one read, whose body is dropped unread when the answer is 304 or 412.
    const object = await c.env.FILES.get(id, range && range !== "unsatisfiable" ? { range } : {});
    if (!object) throw new ApiError(ErrorCode.NotFound, "no such attachment");
    const headers = fileHeaders(attachment.name, attachment.contentType, object.httpEtag);
    headers.set("Last-Modified", object.uploaded.toUTCString());
    const precondition = evaluatePreconditions((name) => c.req.header(name), { etag: object.httpEtag, uploaded: object.uploaded.getTime() });
    if (precondition !== "send") {
      await object.body.cancel().catch(() => undefined);
      if (precondition === "failed") throw new ApiError(ErrorCode.PreconditionFailed, "the file does not meet If-Match / If-Unmodified-Since");
      return new Response(null, { status: 304, headers });
    }
    if (range === "unsatisfiable") {
      await object.body.cancel().catch(() => undefined);
      throw new ApiError(ErrorCode.RangeNotSatisfiable, `the file has ${attachment.size} bytes`, { "Content-Range": `bytes */${attachment.size}` });
    }
    if (range) {
      headers.set("Content-Range", `bytes ${range.offset}-${range.offset + range.length - 1}/${attachment.size}`);
      headers.set("Content-Length", String(range.length));
      return new Response(object.body, { status: 206, headers });
    }
    headers.set("Content-Length", String(attachment.size));
    return new Response(object.body, { status: 200, headers });
  })
  .get("/:id/url", describe(docs.sign), requireToken, validate("param", attachmentParams), async (c) => {
    const { id } = c.req.valid("param");
    return c.json(await signDownload(c.get("signingKey"), id, { userId: c.get("user").id, version: c.get("session").version }), 200);
  });
