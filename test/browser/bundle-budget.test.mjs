// The web app's JavaScript stays within its budget (scripts/web-budget.mjs, docs/PERFORMANCE.md).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { APP_JS_GZIP_BUDGET, gzippedSize, SW_JS_GZIP_BUDGET } from "../../scripts/web-budget.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));

test(`build/web/app.js is at most ${APP_JS_GZIP_BUDGET / 1024} KiB gzipped, the service worker at most ${SW_JS_GZIP_BUDGET / 1024} KiB`, () => {
  const build = spawnSync(process.execPath, [join(root, "scripts/build-web.mjs")], { cwd: root, encoding: "utf8" });
  assert.equal(build.status, 0, build.stderr);
  const size = gzippedSize(join(root, "build/web/app.js"));
  assert.ok(size > 5_000, `the bundle is the app (${size} bytes)`);
  assert.ok(size <= APP_JS_GZIP_BUDGET, `app.js is ${size} bytes gzipped, budget ${APP_JS_GZIP_BUDGET}`);
  const sw = gzippedSize(join(root, "build/web/sw.js"));
  assert.ok(sw > 500, `the service worker is there (${sw} bytes)`);
  assert.ok(sw <= SW_JS_GZIP_BUDGET, `sw.js is ${sw} bytes gzipped, budget ${SW_JS_GZIP_BUDGET}`);
});

test("the budget is on the gzipped size, not the bytes on disk: a large file that compresses well is within it", () => {
  const dir = mkdtempSync(join(tmpdir(), "budget-"));
  const file = join(dir, "big.js");
  // Three times the budget on disk, a few hundred bytes gzipped: the check must pass it.
  writeFileSync(file, "console.log('x');\n".repeat(Math.ceil((3 * APP_JS_GZIP_BUDGET) / 17)));
  const size = gzippedSize(file);
  assert.ok(size < APP_JS_GZIP_BUDGET / 10, `measured ${size} bytes`);
  assert.ok(size > 0);
});
