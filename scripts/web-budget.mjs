// The web app's JavaScript budget: app.js gzipped may not grow past this (issue 16). Checked by every
// web build (scripts/build-web.mjs fails above it) and by test/browser/bundle-budget.test.mjs.
// Every build prints the current size against the budget.
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

export const APP_JS_GZIP_BUDGET = 40 * 1024;

/** The file's size as a browser downloads it (gzip, level 9, as the edge compresses static assets). */
export const gzippedSize = (path) => gzipSync(readFileSync(path), { level: 9 }).length;
