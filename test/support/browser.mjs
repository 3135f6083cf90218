// What the browser tests share: Debian's Chromium through playwright-core, people who register in
// the real web app, and the few steps every test takes (send, open a chat, wait for a text).
import { existsSync, mkdirSync } from "node:fs";
import { after, afterEach, before } from "node:test";
import { chromium } from "playwright-core";
import { startDevServer } from "./dev-server.mjs";

export const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
// Generous: CI runs the dev server, Chromium and the tests on two cores, where a reload can take seconds.
export const WAIT = { timeout: 20_000 };
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

/**
 * Screenshots of a failed test's pages, for the CI artifacts, and the dev server's log lines of the
 * test (`serverLines`, emptied after each test) printed: what the service said while it failed.
 */
export async function screenshotsOnFailure(t, pages, serverLines = []) {
  if (t.passed === false || process.exitCode) {
    mkdirSync(SHOTS, { recursive: true });
    for (const [i, page] of pages.entries()) await page.screenshot({ path: `${SHOTS}/${t.name.replace(/\W+/g, "-")}-${i}.png` }).catch(() => {});
    if (t.passed === false && serverLines.length > 0) console.error(`the dev server during "${t.name}":\n${serverLines.join("\n")}`);
  }
  pages.length = 0;
  serverLines.length = 0;
}

/** The dev server's lines kept for the test that is running: at most this many, the newest. */
const SERVER_LINES_KEPT = 300;

/**
 * A test file's `wrangler dev` and Chromium, started before its tests and stopped after; a failed
 * test's pages are screenshotted. `server` may be replaced (a test that restarts it).
 */
export function useBrowser({ port, vars = {} }) {
  const ctx = { server: null, browser: null, pages: [] };
  const serverLines = [];
  before(async () => {
    ctx.server = await startDevServer({ port, vars, log: (line) => serverLines.push(line) > SERVER_LINES_KEPT && serverLines.shift() });
    ctx.browser = await launchChromium();
  });
  after(async () => {
    await ctx.browser?.close();
    await ctx.server?.stop();
  });
  afterEach((t) => screenshotsOnFailure(t, ctx.pages, serverLines));
  return ctx;
}

/** A new user in their own browser context, registered through the login page and signed in. */
export async function register(browser, url, username, { password = `password-${username}`, viewport = { width: 1100, height: 750 }, pages = [], contextOptions = {} } = {}) {
  const context = await browser.newContext({ viewport, ...contextOptions });
  const page = await context.newPage();
  pages.push(page);
  await page.goto(url + "/");
  await page.getByTestId("username").fill(username);
  await page.getByTestId("password").fill(password);
  await page.getByTestId("register").click();
  await page.getByTestId("me").waitFor(WAIT);
  return { context, page, username };
}

/** Polls until the element's text is `expected` (works for empty, zero-height elements too). */
export async function textBecomes(locator, expected, timeout = WAIT.timeout) {
  const deadline = Date.now() + timeout;
  let text;
  while ((text = await locator.textContent()) !== expected) {
    if (Date.now() > deadline) throw new Error(`text stayed ${JSON.stringify(text)}, expected ${JSON.stringify(expected)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Polls until `read()` returns `expected`. */
export async function becomes(read, expected, timeout = WAIT.timeout) {
  const deadline = Date.now() + timeout;
  let value;
  while ((value = await read()) !== expected) {
    if (Date.now() > deadline) throw new Error(`stayed ${JSON.stringify(value)}, expected ${JSON.stringify(expected)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const messages = (page) => page.getByTestId("messages").getByTestId("message").locator(".text").allTextContents();

export async function send(page, text) {
  await page.getByTestId("composer").fill(text);
  await page.getByTestId("composer").press("Enter");
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

/** A JSON call to the API with a user's token, as a second device or a script would make it. */
export async function api(url, token, path, body, method = body ? "POST" : "GET") {
  const res = await fetch(url + path, {
    method,
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body && JSON.stringify(body),
  });
  return res.json();
}

export const tokenOf = (page) => page.evaluate(() => JSON.parse(localStorage.getItem("edge-chat-session")).token);

/** `person(name, viewport?)`: a new user `<name>_<suffix>` with password `password-<name>`, on the file's server. */
export function people(ctx) {
  const suffix = Date.now().toString(36).slice(-5);
  return (name, viewport) => register(ctx.browser, ctx.server.url, `${name}_${suffix}`, { password: `password-${name}`, viewport, pages: ctx.pages });
}
