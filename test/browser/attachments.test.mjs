// Browser test: one person sends a photo (attach button, then drag and drop) in the real web app
// against `wrangler dev`; the other sees the thumbnail, opens it full size, and gets files as links.
import assert from "node:assert/strict";
import { existsSync, mkdirSync } from "node:fs";
import { after, afterEach, before, test } from "node:test";
import { chromium } from "playwright-core";
import { startDevServer } from "../support/dev-server.mjs";

// 8802, and 8803 for the dev server's inspector.
const PORT = Number(process.env.ATTACHMENTS_BROWSER_TEST_PORT ?? 8802);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SHOTS = new URL("../../test-results/", import.meta.url).pathname;
const WAIT = { timeout: 10_000 };
let server, browser;
const pages = [];

// A 2×2 red PNG.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==", "base64");

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it (Debian/Ubuntu: apt-get install -y chromium) or set CHROMIUM_PATH`);
  }
  server = await startDevServer({ port: PORT });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});
afterEach(async (t) => {
  if (t.passed === false || process.exitCode) {
    mkdirSync(SHOTS, { recursive: true });
    for (const [i, page] of pages.entries()) await page.screenshot({ path: `${SHOTS}/${t.name.replace(/\W+/g, "-")}-${i}.png` }).catch(() => {});
  }
  pages.length = 0;
});

const suffix = Date.now().toString(36).slice(-5);
async function person(name) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 750 } });
  const page = await context.newPage();
  pages.push(page);
  await page.goto(server.url + "/");
  await page.getByTestId("username").fill(`${name}_${suffix}`);
  await page.getByTestId("password").fill(`password-${name}`);
  await page.getByTestId("register").click();
  await page.getByTestId("me").waitFor(WAIT);
  return { context, page, username: `${name}_${suffix}` };
}
async function openChatWith(page, username) {
  await page.getByTestId("user-search").fill(username.slice(0, 6));
  await page.getByTestId("user-results").getByText(`Chat with ${username}`).click(WAIT);
  await page.getByTestId("chat-title").filter({ hasText: username }).waitFor(WAIT);
}
async function openListed(page, title) {
  await page.getByTestId("chat-list").getByText(title, { exact: true }).click(WAIT);
  await page.getByTestId("chat-title").filter({ hasText: title }).waitFor(WAIT);
}
/** Waits until an <img> has loaded and returns its natural size. */
async function loadedSize(locator) {
  await locator.waitFor(WAIT);
  const handle = await locator.elementHandle();
  await handle.evaluate((img) => (img.complete && img.naturalWidth ? null : new Promise((resolve, reject) => ((img.onload = resolve), (img.onerror = reject)))));
  return handle.evaluate((img) => ({ width: img.naturalWidth, height: img.naturalHeight, src: img.getAttribute("src") }));
}

test("a photo sent with the attach button shows as a thumbnail to the other person and opens full size", async () => {
  const ann = await person("pia");
  const bob = await person("pete");
  await openChatWith(ann.page, bob.username);
  await openListed(bob.page, ann.username);

  // Ann picks a photo: it uploads at once (the tray shows it done), then she sends it without text.
  await ann.page.getByTestId("attach-input").setInputFiles({ name: "sunset 🌅.png", mimeType: "image/png", buffer: PNG });
  await ann.page.locator('[data-testid="tray-item"][data-uploaded="true"]').waitFor(WAIT);
  await ann.page.getByTestId("composer").press("Enter");
  await ann.page.getByTestId("attachment-tray").waitFor({ state: "hidden", ...WAIT });

  // Bob sees it as an image, loaded through a signed URL (never his token in the URL).
  const thumb = bob.page.getByTestId("messages").getByTestId("attachment-image");
  const size = await loadedSize(thumb);
  assert.deepEqual([size.width, size.height], [2, 2]);
  assert.match(size.src, /^http:\/\/127\.0\.0\.1:\d+\/api\/attachments\/\d+-[A-Za-z0-9_-]{22}\?user=\d+&expires=\d+&sig=/);
  assert.equal(await thumb.getAttribute("alt"), "sunset 🌅.png");
  const token = await bob.page.evaluate(() => JSON.parse(localStorage.getItem("edge-chat-session")).token);
  assert.ok(token.length > 40 && !size.src.includes(token), "the token is not in the image URL");

  // A click opens it full size.
  await bob.page.getByTestId("messages").getByRole("button", { name: /Open sunset 🌅\.png full size/ }).click();
  const full = await loadedSize(bob.page.getByTestId("image-viewer").getByTestId("full-image"));
  assert.equal(full.width, 2);
  await bob.page.keyboard.press("Escape");
  await bob.page.getByTestId("image-viewer").waitFor({ state: "hidden", ...WAIT });

  // Ann's own message shows the picture too.
  assert.deepEqual((await loadedSize(ann.page.getByTestId("messages").getByTestId("attachment-image"))).width, 2);
});

test("a file dropped on the chat goes with the text, and shows as a named link with its size", async () => {
  const ann = await person("dora");
  const bob = await person("dan");
  await openChatWith(ann.page, bob.username);
  await openListed(bob.page, ann.username);

  // Drag and drop: a DataTransfer with a file, dropped on the chat view.
  const drop = await ann.page.evaluateHandle(() => {
    const data = new DataTransfer();
    data.items.add(new File(["hello from a text file\n"], "notes.txt", { type: "text/plain" }));
    return data;
  });
  const view = ann.page.getByTestId("chat-view");
  await view.dispatchEvent("dragover", { dataTransfer: drop });
  await view.dispatchEvent("drop", { dataTransfer: drop });
  await ann.page.locator('[data-testid="tray-item"][data-uploaded="true"]').waitFor(WAIT);
  await ann.page.getByTestId("composer").fill("the notes");
  await ann.page.getByTestId("composer").press("Enter");

  const link = bob.page.getByTestId("messages").getByTestId("attachment-file");
  await link.waitFor(WAIT);
  assert.equal(await link.textContent(), "notes.txt (23 B)");
  const texts = await bob.page.getByTestId("messages").getByTestId("message").locator(".text").allTextContents();
  assert.ok(texts.includes("the notes"));
  // Clicking downloads it (Content-Disposition: attachment) through a signed URL.
  const [download] = await Promise.all([bob.page.waitForEvent("download", WAIT), link.click()]);
  assert.equal(download.suggestedFilename(), "notes.txt");
});
