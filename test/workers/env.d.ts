declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    /** An empty local D1 for the upgrade test (vitest.config.ts). */
    UPGRADE_DB: D1Database;
  }
}
