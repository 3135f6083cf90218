import { defineConfig } from "drizzle-kit";

// Only generates SQL; `wrangler d1 migrations apply` applies it (locally in `npm start` and tests).
export default defineConfig({
  dialect: "sqlite",
  schema: "./src/db/schema.ts",
  out: "./migrations",
});
