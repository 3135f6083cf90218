// The web app's JavaScript stays within its budget (scripts/web-budget.mjs, docs/PERFORMANCE.md).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { APP_JS_GZIP_BUDGET, gzippedSize } from "../../scripts/web-budget.mjs";

const root = fileURLToPath(new URL("../..", import.meta.url));

test(`build/web/app.js is at most ${APP_JS_GZIP_BUDGET / 1024} KiB gzipped`, () => {
  const build = spawnSync(process.execPath, [join(root, "scripts/build-web.mjs")], { cwd: root, encoding: "utf8" });
  assert.equal(build.status, 0, build.stderr);
  const size = gzippedSize(join(root, "build/web/app.js"));
  assert.ok(size > 5_000, `the bundle is the app (${size} bytes)`);
  assert.ok(size <= APP_JS_GZIP_BUDGET, `app.js is ${size} bytes gzipped, budget ${APP_JS_GZIP_BUDGET}`);
});

test("the size is measured as gzip: a file over the budget is over", () => {
  const dir = mkdtempSync(join(tmpdir(), "budget-"));
  // Random bytes do not compress: this one is over the budget once gzipped.
  const file = join(dir, "big.js");
  writeFileSync(file, Buffer.from(Array.from({ length: APP_JS_GZIP_BUDGET + 1024 }, () => Math.floor(Math.random() * 256))));
  assert.ok(gzippedSize(file) > APP_JS_GZIP_BUDGET);
});
