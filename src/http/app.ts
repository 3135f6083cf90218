/** The Worker's HTTP layer: middleware, routes and the mapping of every failure to `{ error, code }`. */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { ConfigError, signingKeyFor } from "../auth/token";
import { BOOKMARK_HEADER, parseBookmark, RequestDatabases } from "../db/bookmarks";
import { unavailableCause } from "../db/deadline";
import { ErrorCode } from "../protocol/errors";
import { limits } from "../protocol/limits";
import type { AppEnv } from "./env";
import { ApiError, errorResponse } from "./errors";
import { requireUser } from "./middleware/auth";
import { apiCors } from "./middleware/origin";
import { describe } from "./openapi/describe";
import { openApiDocument } from "./openapi/document";
import { downloadRoutes, isUpload, uploadRoutes } from "./routes/attachments";
import { authRoutes } from "./routes/auth";
import { blockRoutes } from "./routes/blocks";
import { chatRoutes } from "./routes/chats";
import { messageRoutes } from "./routes/messages";
import { reportRoutes } from "./routes/reports";
import { muteRoutes, pushKeyRoutes, pushRoutes } from "./routes/push";
import { searchRoutes } from "./routes/search";
import { chatSocketRoutes, inboxSocketRoutes } from "./routes/sockets";
import { meRoutes, userRoutes } from "./routes/users";


export function createApp() {
  const app = new Hono<AppEnv>();

  app.use("*", async (c, next) => {
    // A missing or short secret throws here, for every request (ConfigError below).
    c.set("signingKey", signingKeyFor(c.env.JWT_SECRET));
    // A malformed bookmark is ignored, not refused: the header only lets a replica serve the read, and
    // the answer carries a good bookmark, so a client that sent junk mends itself on its next request.
    const databases = new RequestDatabases(c.env.DB, Number(c.env.D1_TIMEOUT_MS), parseBookmark(c.req.header(BOOKMARK_HEADER)));
    c.set("db", databases.replica);
    c.set("primary", databases.primary);
    await next();
    const bookmark = databases.bookmark();
    // A 101 carries the socket and is not the client's HTTP answer; other answers (an error's too) say
    // how new the data they were made from was, so the client's next read is at least that new.
    if (bookmark !== null && c.res.status !== 101) {
      try {
        c.res.headers.set(BOOKMARK_HEADER, bookmark);
      } catch {
        // A response passed on from an object or R2 has immutable headers: copy it.
        c.res = new Response(c.res.body, c.res);
        c.res.headers.set(BOOKMARK_HEADER, bookmark);
      }
    }
  });
  // Upgrades check their own token (browsers can only send it in the query string) and their own
  // origin. Before CORS and the body limit, which do not apply to a WebSocket and cost every connect:
  // CORS headers set before the handler made Hono copy the object's 101 into a new Response.
  app.route("/api/chats", chatSocketRoutes);
  app.route("/api/inbox", inboxSocketRoutes);
  app.use("/api/*", apiCors);
  const limitBody = bodyLimit({
    maxSize: limits.maxBodyBytes,
    onError: () => errorResponse(ErrorCode.PayloadTooLarge, `body over ${limits.maxBodyBytes} bytes`),
  });
  // Uploads stream to R2 under their own limit (routes/attachments.ts).
  app.use("/api/*", (c, next) => (isUpload(c.req) ? next() : limitBody(c, next)));

  app.get(
    "/api/openapi.json",
    describe({ summary: "This OpenAPI document", tag: "docs", access: "public", noStore: true, ok: { 200: ["an OpenAPI 3.1 document"] } }),
    openApiDocument(app),
  );
  app.route("/api/auth", authRoutes);
  // A download takes a signed URL instead of the token (<img> cannot send headers).
  app.route("/api/attachments", downloadRoutes);
  // What a browser needs before it can subscribe (and before anyone signs in).
  app.route("/api/push", pushKeyRoutes);
  app.use("/api/*", requireUser());
  app.route("/api/me", meRoutes);
  app.route("/api/users", userRoutes);
  app.route("/api/users", blockRoutes);
  app.route("/api/chats", chatRoutes);
  app.route("/api/chats", messageRoutes);
  app.route("/api/chats", uploadRoutes);
  app.route("/api/chats", reportRoutes);
  app.route("/api/chats", muteRoutes);
  app.route("/api/push", pushRoutes);
  app.route("/api/search", searchRoutes);

  app.notFound(() => errorResponse(ErrorCode.NotFound, "no such route"));
  app.onError((err) => {
    if (err instanceof ApiError) return errorResponse(err.code, err.message, err.headers);
    if (err instanceof HTTPException && err.status === 400) {
      return errorResponse(ErrorCode.BadRequest, "malformed JSON body");
    }
    // Any failure of D1 (src/db/deadline.ts classifies them all), wherever it surfaced: a route that
    // needs D1 says so with 503 and Retry-After, never 500. Logged with the classified error's message
    // (the binding's words), not Drizzle's wrapper, whose message carries the SQL and its parameters.
    const unavailable = unavailableCause(err);
    if (unavailable) {
      console.error("database unavailable", unavailable.message);
      return errorResponse(ErrorCode.Unavailable, "the database is unavailable; try again shortly");
    }
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      return errorResponse(ErrorCode.Internal, "server misconfigured");
    }
    // Logged for operators; the client never sees a stack trace or SQL.
    console.error("unhandled error", err instanceof Error ? (err.stack ?? err.message) : String(err));
    return errorResponse(ErrorCode.Internal, "internal error");
  });
  return app;
}
