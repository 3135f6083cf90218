#!/usr/bin/env node
// Builds the web app into build/web (served by the Worker as static assets): one minified ES module,
// the service worker (a classic script of its own, /sw.js: its scope is the whole app), the page, the
// stylesheet and the `_headers` file with the security headers.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { APP_JS_GZIP_BUDGET, gzippedSize, SW_JS_GZIP_BUDGET } from "./web-budget.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "build", "web");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const bundle = (entry, outfile, format) =>
  build({ entryPoints: [join(root, entry)], outfile: join(out, outfile), bundle: true, minify: true, format, target: "es2022", sourcemap: true, logLevel: "warning" });
// A classic script, not a module worker: every browser with Web Push runs it.
await Promise.all([bundle("src/web/main.ts", "app.js", "esm"), bundle("src/web/sw.ts", "sw.js", "iife")]);
for (const file of ["index.html", "app.css", "_headers"]) copyFileSync(join(root, "src/web", file), join(out, file));
const kb = (f) => (statSync(join(out, f)).size / 1024).toFixed(1);
const budgets = { "app.js": APP_JS_GZIP_BUDGET, "sw.js": SW_JS_GZIP_BUDGET };
const gzipped = Object.fromEntries(Object.keys(budgets).map((f) => [f, gzippedSize(join(out, f))]));
const sized = (f) => `${f} ${kb(f)} KiB (${(gzipped[f] / 1024).toFixed(1)} KiB gzipped, budget ${budgets[f] / 1024} KiB)`;
console.log(`web app built: ${sized("app.js")}, ${sized("sw.js")}, app.css ${kb("app.css")} KiB`);
for (const [f, budget] of Object.entries(budgets)) {
  if (gzipped[f] <= budget) continue;
  console.error(`${f} is ${gzipped[f]} bytes gzipped, over its budget of ${budget} (scripts/web-budget.mjs, docs/PERFORMANCE.md)`);
  process.exitCode = 1;
}
