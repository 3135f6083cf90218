import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { localSecrets } from "./scripts/local-secrets.mjs";

// The VAPID key pair of this checkout (generated into the ignored .dev.vars.local on first use).
const { VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT } = localSecrets();

/**
 * The test files that run a second time with fan-out shards on at their lowest (one socket per
 * object): order, exactly once, `since`, removal and logout closes, presence, hibernation — what
 * the sharded path must keep — and the shards' own tests.
 */
const SHARDED = [
  "test/workers/room.test.ts",
  "test/workers/delivery-holes.test.ts",
  "test/workers/authority.test.ts",
  "test/workers/lifecycle.test.ts",
  "test/workers/sessions.test.ts",
  "test/workers/read-receipts.test.ts",
  "test/workers/shards.test.ts",
];

// Tests run inside workerd against the real Worker, real Durable Objects and a local D1.
const workers = (vars: Record<string, string> = {}) =>
  cloudflareTest(async () => ({
    remoteBindings: false,
    wrangler: { configPath: "./wrangler.toml" },
    miniflare: {
      // A second, empty local D1 for the upgrade test: migrations are applied to it step by step.
      d1Databases: { UPGRADE_DB: "upgrade-test-db" },
      bindings: {
        JWT_SECRET: "test-only-secret-0123456789abcdef0123456789abcdef",
        VAPID_PUBLIC_KEY,
        VAPID_PRIVATE_KEY,
        VAPID_SUBJECT,
        // Test push services listen on loopback over http: (off in a deployment, see wrangler.toml).
        PUSH_ALLOW_LOOPBACK_HTTP: "true",
        TEST_MIGRATIONS: await readD1Migrations("./migrations"),
        ...vars,
      },
    },
  }));

const common = { setupFiles: ["./test/workers/apply-migrations.ts"], testTimeout: 20_000 };

export default defineConfig({
  test: {
    projects: [
      {
        plugins: [workers()],
        test: { ...common, name: "workers", include: ["src/**/*.test.ts", "test/workers/**/*.test.ts"], exclude: ["test/workers/shards.test.ts"] },
      },
      {
        plugins: [workers({ FANOUT_SHARD_SOCKETS: "1" })],
        test: { ...common, name: "sharded", include: SHARDED },
      },
    ],
  },
});
