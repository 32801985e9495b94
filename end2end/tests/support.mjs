// Shared set-up of the browser tests: Debian's Chromium, driven by playwright-core, against
// the Confab server that scripts/e2e.sh started (its address in CONFAB_URL).
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

export const baseUrl = process.env.CONFAB_URL ?? "http://127.0.0.1:3000";

// The flags keep Chromium off the network it cannot reach here and quiet in a container.
// Playwright gives every launch a fresh, temporary profile of its own.
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

// Where screenshots go (kept by CI as artefacts, and the best ones go in the README).
export const screenshotDir = process.env.SCREENSHOT_DIR ?? join(tmpdir(), "confab-screenshots");
