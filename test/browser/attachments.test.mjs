// Browser test: one person sends a photo (attach button, then drag and drop) in the real web app
// against `wrangler dev`; the other sees the thumbnail, opens it full size, and gets files as links.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ErrorCode } from "../../src/protocol/errors.ts";
import { ClientEvent, ServerEvent } from "../../src/protocol/events.ts";
import { openChatWith, openListed, people, useBrowser, WAIT } from "../support/browser.mjs";

// 8802, and 8803 for the dev server's inspector.
const PORT = Number(process.env.ATTACHMENTS_BROWSER_TEST_PORT ?? 8802);
// A 2×2 red PNG.
const PNG = Buffer.from("iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==", "base64");

const person = people(useBrowser({ port: PORT }));

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
  assert.match(size.src, /^http:\/\/127\.0\.0\.1:\d+\/api\/attachments\/\d+-[A-Za-z0-9_-]{22}\?user=\d+&ver=\d+&expires=\d+&sig=/);
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

test("a refused send puts its uploads back in the tray; sent again, the file arrives", async () => {
  const ann = await person("rita");
  const bob = await person("rob");
  // The first message Ann sends is refused as if by the server (the socket is routed through the test).
  let refuse = true;
  await ann.page.routeWebSocket(/\/api\/chats\/\d+\/ws/, (ws) => {
    const server = ws.connectToServer();
    ws.onMessage((raw) => {
      const frame = String(raw).startsWith("{") ? JSON.parse(String(raw)) : null;
      if (refuse && frame?.event === ClientEvent.SendMessage) {
        refuse = false;
        ws.send(JSON.stringify({ event: ServerEvent.Error, data: { error: "refused by the test", code: ErrorCode.Forbidden, event: ClientEvent.SendMessage, clientId: frame.data.clientId } }));
      } else server.send(raw);
    });
  });
  await openChatWith(ann.page, bob.username);
  await openListed(bob.page, ann.username);

  await ann.page.getByTestId("attach-input").setInputFiles({ name: "plan.png", mimeType: "image/png", buffer: PNG });
  await ann.page.locator('[data-testid="tray-item"][data-uploaded="true"]').waitFor(WAIT);
  await ann.page.getByTestId("composer").press("Enter");
  await ann.page.getByTestId("messages").getByText("not sent: refused by the test").waitFor(WAIT);
  // The upload is back, done, ready to send again.
  await ann.page.locator('[data-testid="tray-item"][data-uploaded="true"]').filter({ hasText: "plan.png" }).waitFor(WAIT);
  assert.equal(await ann.page.getByTestId("tray-item").count(), 1);

  await ann.page.getByTestId("composer").press("Enter");
  await ann.page.getByTestId("attachment-tray").waitFor({ state: "hidden", ...WAIT });
  const size = await loadedSize(bob.page.getByTestId("messages").getByTestId("attachment-image"));
  assert.equal(size.width, 2);
});
