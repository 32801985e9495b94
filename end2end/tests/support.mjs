// Shared set-up of the browser tests: Debian's Chromium, driven by playwright-core, against
// the Confab server that scripts/e2e.sh started (its address in CONFAB_URL).
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const baseUrl = process.env.CONFAB_URL ?? "http://127.0.0.1:3000";
// A second node of the same cluster when scripts/e2e.sh started two (E2E_NODES=2), else
// the same one: a test of two people puts the second one here.
export const secondUrl = process.env.CONFAB_URL_B ?? baseUrl;

// The flags keep Chromium off the network it cannot reach here and quiet in a container.
// Playwright gives every launch a fresh, temporary profile of its own.
const executablePath = process.env.CHROMIUM ?? "/usr/bin/chromium";
const args = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

// `extraArgs` adds switches, such as a fake microphone for the voice tests.
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({ executablePath, args: [...args, ...extraArgs] });
}

// A browser with an ordinary (not incognito) profile in `dir`, for what Chromium only does
// there, such as judging whether a site is installable.
export async function launchPersistentBrowser(dir) {
  return chromium.launchPersistentContext(dir, { executablePath, args });
}

// Where screenshots go (kept by CI as artefacts, and the best ones go in the README).
export const screenshotDir = process.env.SCREENSHOT_DIR ?? join(tmpdir(), "confab-screenshots");

// A username unique to this run (3 to 32 of a-z 0-9 _ . -).
export function uniqueName(prefix) {
  return `${prefix}${Date.now().toString(36)}${Math.floor(Math.random() * 1e4)}`;
}

// Fills the sign-in form and creates an account; resolves once the form has gone.
export async function createAccount(page, username, displayName, password = "correct horse battery") {
  await page.getByRole("tab", { name: "Create account" }).click();
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByLabel("Display name").fill(displayName);
  await page.getByRole("button", { name: "Create account" }).click();
  await page.getByRole("button", { name: "Create account" }).waitFor({ state: "detached" });
}

// Types into the composer and sends with Enter (Shift+Enter for line breaks).
export async function sendMessage(page, text) {
  const box = page.getByRole("textbox", { name: "Message" });
  const lines = text.split("\n");
  for (const [i, line] of lines.entries()) {
    if (i > 0) await box.press("Shift+Enter");
    await box.pressSequentially(line);
  }
  await box.press("Enter");
}

// A JPEG drawn by the browser itself: `width` × `height`, colourful enough to have some size.
export async function canvasJpeg(page, width, height) {
  const base64 = await page.evaluate(
    async ({ width, height }) => {
      const canvas = new OffscreenCanvas(width, height);
      const g = canvas.getContext("2d");
      const gradient = g.createLinearGradient(0, 0, width, height);
      gradient.addColorStop(0, "#3454d1");
      gradient.addColorStop(1, "#f5b041");
      g.fillStyle = gradient;
      g.fillRect(0, 0, width, height);
      for (let i = 0; i < 600; i++) {
        g.fillStyle = `hsl(${(i * 37) % 360} 70% ${30 + (i % 40)}%)`;
        g.fillRect((i * 97) % width, (i * 61) % height, 20 + (i % 90), 15 + (i % 70));
      }
      const blob = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.95 });
      const bytes = new Uint8Array(await blob.arrayBuffer());
      let text = "";
      for (const byte of bytes) text += String.fromCharCode(byte);
      return btoa(text);
    },
    { width, height },
  );
  return Buffer.from(base64, "base64");
}
