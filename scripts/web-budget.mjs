// The web app's JavaScript budgets: app.js gzipped may not grow past this (issue 16), nor sw.js past
// its own. Checked by every web build (scripts/build-web.mjs fails above it) and by test/browser/bundle-budget.test.mjs.
// Every build prints the current size against the budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

export const APP_JS_GZIP_BUDGET = 40 * 1024;
/**
 * The service worker's (sw.js, issue 26): a browser fetches it again to check for updates, and it
 * must start fast for each push. Small on purpose: no zod in it (docs/DECISIONS.md).
 */
export const SW_JS_GZIP_BUDGET = 4 * 1024;

/** The file's size as a browser downloads it (gzip, level 9, as the edge compresses static assets). */
export const gzippedSize = (path) => gzipSync(readFileSync(path), { level: 9 }).length;
