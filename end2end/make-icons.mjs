// Renders the PWA icons (committed under public/icons/) from the favicon's design with the
// Chromium the browser tests use: "any" icons with rounded corners, maskable ones full-bleed
// with the bubble inside the 80 % safe zone. Run `node make-icons.mjs` after a design change.
import { mkdir } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { launchBrowser } from "./tests/support.mjs";

const out = fileURLToPath(new URL("../public/icons/", import.meta.url));
const bubble =
  '<path d="M16 20h32a6 6 0 0 1 6 6v14a6 6 0 0 1-6 6H30l-10 8v-8h-4a6 6 0 0 1-6-6V26a6 6 0 0 1 6-6z" fill="#fff"/>' +
  '<g fill="#3454d1"><circle cx="22" cy="33" r="3"/><circle cx="32" cy="33" r="3"/><circle cx="42" cy="33" r="3"/></g>';
const any = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" rx="14" fill="#3454d1"/>${bubble}</svg>`;
const maskable = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64"><rect width="64" height="64" fill="#3454d1"/><g transform="translate(32 34) scale(0.72) translate(-32 -37)">${bubble}</g></svg>`;

await mkdir(out, { recursive: true });
const browser = await launchBrowser();
for (const size of [192, 512]) {
  for (const [name, svg] of [["icon", any], ["maskable", maskable]]) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    await page.setContent(
      `<style>html,body{margin:0;background:transparent}img{display:block}</style><img width="${size}" height="${size}" src="data:image/svg+xml,${encodeURIComponent(svg)}">`,
    );
    await page.screenshot({ path: `${out}${name}-${size}.png`, omitBackground: true });
    await page.close();
  }
}
await browser.close();
