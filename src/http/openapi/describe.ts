/**
 * `describe(...)`: the OpenAPI operation of one route, written beside the route. Bodies, queries and
 * path parameters come from the route's `validate(...)` schemas; this adds what a validator cannot
 * know: what the route is for, who may call it, what it answers and which errors it gives.
 */
import { describeRoute, resolver, type GenerateSpecOptions } from "hono-openapi";
import { z } from "zod";
import type { HttpErrorCode } from "../../objects/responses";
import { ErrorCode, statusOf } from "../../protocol/errors";
import { errorAnswer } from "./answers";

export type Tag = "auth" | "users" | "chats" | "members" | "messages" | "attachments" | "search" | "push" | "sockets" | "docs";

/**
 * - `public`: no token.
 * - `bearer`: `Authorization: Bearer <token>`, checked by `requireUser`.
 * - `socket`: a WebSocket upgrade; the token may also come as `?token=` (browsers cannot set headers
 *   on a WebSocket).
 * - `signed`: a download: the bearer token, or a short-lived signed URL (`user`, `expires`, `sig`).
 */
export type Access = "public" | "bearer" | "socket" | "signed";

/** The errors of every route that only a chat's members may call. */
export const memberOnly = { not_found: "no such chat", forbidden: "the caller is not a member of the chat" } as const;

export interface RouteDoc {
  summary: string;
  description?: string;
  tag: Tag;
  access: Access;
  /** Success answers: status → what it means, and the JSON body's schema (none: no body). */
  ok: Record<number, readonly [description: string, body?: z.ZodType]>;
  /** Errors particular to this route; `internal`, `unavailable` and (with a token) `unauthorized` are added. */
  errors?: Partial<Record<HttpErrorCode, string>>;
  /** The route reads no store, so it cannot answer `unavailable`. */
  noStore?: true;
}

/** When each code is answered, for routes that say nothing more particular (docs/PROTOCOL.md's table). */
const generic: Record<HttpErrorCode, string> = {
  bad_request: "malformed JSON, wrong types, values out of range",
  unauthorized: "missing, malformed, forged, expired or revoked token",
  forbidden: "authenticated, but not allowed",
  not_found: "no such chat, user or route",
  conflict: "a conflict with the current state",
  gone: "the message was deleted",
  length_required: "an upload without `Content-Length`",
  precondition_failed: "`If-Match` or `If-Unmodified-Since` does not hold",
  payload_too_large: "body over 64 KiB",
  unsupported_media_type: "a file type not on the allow-list",
  range_not_satisfiable: "a range past the end of the file",
  upgrade_required: "a plain GET on a WebSocket route",
  rate_limited: "too many requests or messages; retry after `Retry-After` seconds",
  blocked: "the other user blocks the caller",
  slow_mode: "the group's slow mode: the caller sent within its period; retry after `Retry-After` seconds",
  internal: "a bug; the answer never carries a stack trace",
  unavailable: "a store the request needs is unreachable, too slow or failing (for a token, its check; see docs/PROTOCOL.md, \"While the user database is unavailable\"); retry after `Retry-After` seconds",
};

const retryAfter = { "Retry-After": { description: "seconds to wait before retrying", schema: { type: "integer" as const, minimum: 1 } } };

/** Where the document keeps `errorAnswer`; every error answer refers to it. */
export const ERROR_SCHEMA = "Error";

type SchemaObject = NonNullable<NonNullable<GenerateSpecOptions["documentation"]["components"]>["schemas"]>[string];

/** `errorAnswer` as the document's `Error` schema, converted the way hono-openapi converts the others. */
export function errorSchema(): SchemaObject {
  const { $schema: _, ...schema } = z.toJSONSchema(errorAnswer, { io: "input" });
  // zod types JSON Schema more loosely than openapi-types (any string as `type`); this is an object schema.
  return schema as SchemaObject;
}

/**
 * The `{ error, code }` answer of one code, at the status that code travels with. A plain reference
 * rather than a resolver: hono-openapi copies its default responses as they are.
 */
export function errorResponse(code: HttpErrorCode, when = generic[code]) {
  return {
    description: `\`${code}\`: ${when}`,
    ...(code === ErrorCode.RateLimited || code === ErrorCode.Unavailable || code === ErrorCode.SlowMode ? { headers: retryAfter } : {}),
    content: { "application/json": { schema: { $ref: `#/components/schemas/${ERROR_SCHEMA}` } } },
  };
}

/** One answer per status; codes that share one (`forbidden` and `blocked`, say) are described together. */
function errorResponses(errors: Partial<Record<HttpErrorCode, string>>) {
  const byStatus = new Map<number, ReturnType<typeof errorResponse>>();
  for (const [code, when] of Object.entries(errors) as [HttpErrorCode, string][]) {
    const response = errorResponse(code, when);
    const earlier = byStatus.get(statusOf[code]);
    byStatus.set(statusOf[code], earlier ? { ...earlier, ...response, description: `${earlier.description}; ${response.description}` } : response);
  }
  return Object.fromEntries(byStatus);
}

const security: Record<Access, Record<string, string[]>[]> = {
  public: [],
  bearer: [{ bearer: [] }],
  socket: [{ bearer: [] }, { queryToken: [] }],
  signed: [{ bearer: [] }, { signedUrl: [] }],
};

export function describe(doc: RouteDoc) {
  const errors: Partial<Record<HttpErrorCode, string>> = {
    ...(doc.access === "public" ? {} : { unauthorized: generic.unauthorized }),
    ...(doc.noStore ? {} : { unavailable: generic.unavailable }),
    internal: generic.internal,
    ...doc.errors,
  };
  const ok = Object.fromEntries(
    Object.entries(doc.ok).map(([status, [description, body]]) => [
      status,
      body ? { description, content: { "application/json": { schema: resolver(body) } } } : { description },
    ]),
  );
  return describeRoute({
    summary: doc.summary,
    ...(doc.description ? { description: doc.description } : {}),
    tags: [doc.tag],
    security: security[doc.access],
    responses: { ...ok, ...errorResponses(errors) },
  });
}
