import { applyD1Migrations, env } from "cloudflare:test";

// The same SQL `wrangler d1 migrations apply` runs; applied once, skipped when already there.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS);
