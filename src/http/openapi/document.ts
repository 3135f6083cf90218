/**
 * `GET /api/openapi.json`: the OpenAPI 3.1 document of the HTTP API, built by hono-openapi from the
 * app's own routes (their `validate` schemas and `describe` notes) on the first request and kept for
 * the isolate's life. docs/PROTOCOL.md stays the contract; this is its machine-readable HTTP half.
 */
import type { Hono } from "hono";
import { openAPIRouteHandler } from "hono-openapi";
import type { AppEnv } from "../env";
import { ERROR_SCHEMA, errorResponse, errorSchema } from "./describe";

const description = `The HTTP half of the edge chat service. The contract, with the WebSocket frames and
the rules behind each route, is docs/PROTOCOL.md; where the two differ, PROTOCOL.md is right and this
document is a bug.

Every error answer is \`{ "error": "<message for a person>", "code": "<code>" }\`. Every body is
JSON, at most 64 KiB (an attachment upload is the file's bytes, up to its own limit). Tokens come from register, login, refresh or a password change and go in
\`Authorization: Bearer <token>\`.

An answer that used the user database carries \`X-D1-Bookmark\`; a client may send the latest one it
received as \`X-D1-Bookmark\` on every request, so that a database replica near it serves the read and
it still sees its own writes. Optional; a malformed one is ignored (docs/PROTOCOL.md, Conventions).`;

export function openApiDocument(app: Hono<AppEnv>) {
  return openAPIRouteHandler(app, {
    documentation: {
      info: { title: "Edge chat API", version: "1", description },
      tags: [
        { name: "auth", description: "accounts, tokens and sessions" },
        { name: "users", description: "the caller and user search" },
        { name: "chats", description: "direct and group chats, the caller's chat list" },
        { name: "members", description: "group administration" },
        { name: "messages", description: "history, sending and read markers" },
        { name: "attachments", description: "files shared in chats: upload, download, signed URLs" },
        { name: "search", description: "full-text search of the messages of the caller's chats" },
        { name: "push", description: "Web Push notifications: the VAPID key, subscriptions, previews, per-chat mute" },
        { name: "sockets", description: "WebSocket upgrades; the frames are in docs/PROTOCOL.md" },
        { name: "docs", description: "this document" },
      ],
      components: {
        schemas: { [ERROR_SCHEMA]: errorSchema() },
        securitySchemes: {
          bearer: { type: "http", scheme: "bearer", bearerFormat: "JWT" },
          queryToken: {
            type: "apiKey",
            in: "query",
            name: "token",
            description: "WebSocket upgrades only: browsers cannot set headers on a WebSocket",
          },
          signedUrl: {
            type: "apiKey",
            in: "query",
            name: "sig",
            description: "Attachment downloads only: a URL from `GET /api/attachments/{id}/url` (with `user` and `expires`), valid for a few minutes",
          },
        },
      },
    },
    // The app serves no files (assets are answered before the Worker runs); this keeps openapi.json.
    excludeStaticFile: false,
    // Every validator failure is the contract's 400, not hono-openapi's default shape.
    defaultValidationErrorResponse: errorResponse("bad_request"),
    // The body limit applies to every request under /api; only these methods carry bodies.
    defaultOptions: {
      POST: { responses: { 413: errorResponse("payload_too_large") } },
      PATCH: { responses: { 413: errorResponse("payload_too_large") } },
    },
  });
}
