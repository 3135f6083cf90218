#!/usr/bin/env node
// Runs wrangler offline and quiet: no login, no telemetry, no Request.cf download, no banner.
// Every npm script goes through here so local dev, tests and CI behave the same.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(import.meta.url);
const wrangler = join(dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
const env = {
  ...process.env,
  WRANGLER_SEND_METRICS: "false",
  CLOUDFLARE_CF_FETCH_ENABLED: "false",
  WRANGLER_HIDE_BANNER: "true",
  // Local-only trace store; it grows with every request and is not part of the service.
  X_LOCAL_OBSERVABILITY: process.env.X_LOCAL_OBSERVABILITY ?? "false",
};
const args = process.argv.slice(2);
// `PORT=8899 npm start` chooses the port; `--port` on the command line (`npm start -- --port 8899`,
// the test servers) wins over it, and without either wrangler.toml's [dev] port applies.
if (args[0] === "dev" && process.env.PORT && !args.some((arg) => arg === "--port" || arg.startsWith("--port="))) args.push("--port", process.env.PORT);
const child = spawn(process.execPath, [wrangler, ...args], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
