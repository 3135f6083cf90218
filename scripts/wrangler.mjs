#!/usr/bin/env node
// Runs wrangler offline and quiet: no login, no telemetry, no Request.cf download, no banner.
// Every npm script goes through here so local dev, tests and CI behave the same.
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { LOCAL_SECRETS_FILE, localSecrets } from "./local-secrets.mjs";

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
// `wrangler dev` reads .dev.vars (committed: JWT_SECRET and dev-only vars) and, after it, the local
// secrets file (ignored: the VAPID key pair, generated here on first use). With --env-file wrangler
// reads exactly the files named, in order, later ones winning; one given on the command line wins.
if (args[0] === "dev" && !args.some((arg) => arg === "--env-file" || arg.startsWith("--env-file="))) {
  localSecrets();
  args.push("--env-file", ".dev.vars", "--env-file", LOCAL_SECRETS_FILE);
}
const child = spawn(process.execPath, [wrangler, ...args], { stdio: "inherit", env });
for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => child.kill(signal));
child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
