// What the browser tests share: a system Chromium, screenshots of failed tests, signing a person up
// in the web app, and opening a chat. Each test file keeps its own dev server (its own port).
import { existsSync, mkdirSync } from "node:fs";
import { after, afterEach, before } from "node:test";
import { chromium } from "playwright-core";

export const WAIT = { timeout: 10_000 };
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

/** For `afterEach`: screenshots of every page when the test failed, then forgets the pages. */
export async function screenshotIfFailed(t, pages) {
  if (t.passed === false || process.exitCode) {
    mkdirSync(SHOTS, { recursive: true });
    for (const [i, page] of pages.entries()) await page.screenshot({ path: `${SHOTS}/${t.name.replace(/\W+/g, "-")}-${i}.png` }).catch(() => {});
  }
  pages.length = 0;
}

/** A new person `<name>_<suffix>` (password `password-<name>`) registered in the web app, in a browser context of their own. */
export async function signUp({ browser, url, pages, suffix }, name, viewport = { width: 1100, height: 750 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  pages.push(page);
  const username = `${name}_${suffix}`;
  await page.goto(url + "/");
  await page.getByTestId("username").fill(username);
  await page.getByTestId("password").fill(`password-${name}`);
  await page.getByTestId("register").click();
  await page.getByTestId("me").waitFor(WAIT);
  return { context, page, username };
}

export async function openChatWith(page, username) {
  await page.getByTestId("user-search").fill(username.slice(0, 6));
  await page.getByTestId("user-results").getByText(`Chat with ${username}`).click(WAIT);
  await page.getByTestId("chat-title").filter({ hasText: username }).waitFor(WAIT);
}

export async function openListed(page, title) {
  await page.getByTestId("chat-list").getByText(title, { exact: true }).click(WAIT);
  await page.getByTestId("chat-title").filter({ hasText: title }).waitFor(WAIT);
}

/**
 * For a node:test file: Chromium launched before its tests and closed after, screenshots of failed
 * tests, and `person(name, viewport?)` signing up on the file's dev server (`serverOf()`, so a test may
 * restart it). `pages` are the pages opened so far in the current test.
 */
export function useBrowser(serverOf) {
  let browser;
  const pages = [];
  const suffix = Date.now().toString(36).slice(-5);
  before(async () => {
    browser = await launchChromium();
  });
  after(() => browser?.close());
  afterEach((t) => screenshotIfFailed(t, pages));
  return { pages, suffix, person: (name, viewport) => signUp({ browser, url: serverOf().url, pages, suffix }, name, viewport) };
}
