import { defineConfig } from "drizzle-kit";

// The ChatRoom Durable Object's own SQLite: migrations bundled into the Worker and applied when a
// room starts (src/room/log/open.ts). D1's schema is drizzle.config.ts.
export default defineConfig({
  dialect: "sqlite",
  driver: "durable-sqlite",
  schema: "./src/room/log/schema.ts",
  out: "./migrations/room",
});
