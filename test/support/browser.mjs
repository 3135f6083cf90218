// Chromium for the browser tests: launched headless from the system's binary (none is downloaded),
// and screenshots of a failed test's pages.
import { existsSync, mkdirSync } from "node:fs";
import { chromium } from "playwright-core";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = new URL("../../test-results/", import.meta.url).pathname;

export async function launchChromium() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian/Ubuntu: apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
}

/** An `afterEach` hook: when the test failed, a screenshot of each page in test-results/; then forgets them. */
export const screenshotsOnFailure = (pages) => async (t) => {
  if (t.passed === false || process.exitCode) {
    mkdirSync(SHOTS, { recursive: true });
    for (const [i, page] of pages.entries()) await page.screenshot({ path: `${SHOTS}/${t.name.replace(/\W+/g, "-")}-${i}.png` }).catch(() => {});
  }
  pages.length = 0;
};
