// Benchmark, not a test: what a browser downloads to show Confab's first page, measured in
// headless Chromium against a running server. Prints every response the page loads (its
// size on the wire, after content encoding, headers left out) and the total, for a visitor
// signed out and one signed in, each with an empty cache. Asserts nothing.
//   CONFAB_URL=http://127.0.0.1:3000 node bench/first-load.mjs   (the default address)
// `make first-load` builds the release site and server, starts it and runs this.
import { baseUrl as base, launchBrowser, uniqueName } from "../tests/support.mjs";

const browser = await launchBrowser();
try {
  await measure("signed out, /", async () => {});
  await measure("signed in, /", async (context) => {
    // Registering signs in: its session cookie lands in the context's cookie jar.
    const response = await context.request.post(`${base}/api/v1/auth/register`, {
      data: { username: uniqueName("load"), password: "first-load-password" },
      headers: { "X-Requested-With": "confab" },
    });
    if (!response.ok()) throw new Error(`register: ${response.status()} ${await response.text()}`);
  });
} finally {
  await browser.close();
}

async function measure(label, prepare) {
  const context = await browser.newContext({ serviceWorkers: "block" });
  await prepare(context);
  const page = await context.newPage();
  const responses = [];
  page.on("response", (response) => responses.push(response));
  page.on("pageerror", (error) => console.error("page error:", error.message));
  // Everything the page asks for, the WASM included, has arrived once the network is idle.
  await page.goto(`${base}/`, { waitUntil: "networkidle" });

  const rows = [];
  for (const response of responses) {
    const url = new URL(response.url());
    if (url.origin !== new URL(base).origin || url.pathname.startsWith("/api/")) continue;
    if (url.pathname.startsWith("/socket.io/")) continue;
    const sizes = await response.request().sizes();
    rows.push({
      path: url.pathname,
      encoding: (await response.allHeaders())["content-encoding"] ?? "identity",
      bytes: sizes.responseBodySize,
    });
  }
  const total = rows.reduce((sum, row) => sum + row.bytes, 0);
  console.log(`\n${label}: ${(total / 1000).toFixed(1)} KB in ${rows.length} files (API and socket left out)`);
  console.log("| file | encoding | KB |\n|---|---|---|");
  for (const row of rows.sort((a, b) => b.bytes - a.bytes)) {
    console.log(`| \`${row.path}\` | ${row.encoding} | ${(row.bytes / 1000).toFixed(1)} |`);
  }
  await context.close();
}
