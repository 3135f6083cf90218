#!/usr/bin/env node
// Builds the web app into build/web (served by the Worker as static assets): one minified ES module,
// the page, the stylesheet and the `_headers` file with the security headers.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { APP_JS_GZIP_BUDGET, gzippedSize } from "./web-budget.mjs";

const root = fileURLToPath(new URL("..", import.meta.url));
const out = join(root, "build", "web");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [join(root, "src/web/main.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2022",
  sourcemap: true,
  logLevel: "warning",
});
for (const file of ["index.html", "app.css", "_headers"]) copyFileSync(join(root, "src/web", file), join(out, file));
const kb = (f) => (statSync(join(out, f)).size / 1024).toFixed(1);
const gzipped = gzippedSize(join(out, "app.js"));
console.log(`web app built: app.js ${kb("app.js")} KiB (${(gzipped / 1024).toFixed(1)} KiB gzipped, budget ${APP_JS_GZIP_BUDGET / 1024} KiB), app.css ${kb("app.css")} KiB`);
if (gzipped > APP_JS_GZIP_BUDGET) {
  console.error(`app.js is ${gzipped} bytes gzipped, over its budget of ${APP_JS_GZIP_BUDGET} (scripts/web-budget.mjs, docs/PERFORMANCE.md)`);
  process.exit(1);
}
