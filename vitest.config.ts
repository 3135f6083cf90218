import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-plugin";
import { defineConfig } from "vitest/config";
import { localSecrets } from "./scripts/local-secrets.mjs";

// The VAPID key pair of this checkout (generated into the ignored .dev.vars.local on first use).
const { VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY, VAPID_SUBJECT } = localSecrets();

// Tests run inside workerd against the real Worker, real Durable Objects and a local D1.
export default defineConfig({
  plugins: [
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
        },
      },
    })),
  ],
  test: {
    include: ["src/**/*.test.ts", "test/workers/**/*.test.ts"],
    setupFiles: ["./test/workers/apply-migrations.ts"],
    testTimeout: 20_000,
  },
});
