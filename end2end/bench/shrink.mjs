// Benchmark, not a test: how long shrinking a 12-megapixel photo takes in headless Chromium,
// and how large the result is, for Confab's media worker (public/media-worker.js) and for the
// npm package browser-image-compression. Prints figures; asserts nothing.
//   node bench/shrink.mjs SITE_ROOT [runs]
// SITE_ROOT is a site built by `scripts/build-site.sh SITE_ROOT release` (`make bench-media`
// does both). No Confab server is needed: the static files are served from here.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { launchBrowser } from "../tests/support.mjs";

const [siteRoot, runsArg] = process.argv.slice(2);
if (!siteRoot) {
  console.error("usage: node bench/shrink.mjs SITE_ROOT [runs]");
  process.exit(2);
}
const runs = Number(runsArg ?? 5);
const here = dirname(fileURLToPath(import.meta.url));

// /bench/… is this folder plus the package under comparison; everything else is the site.
const routes = {
  "/bench/index.html": join(here, "shrink-page.html"),
  "/bench/shrink-page.js": join(here, "shrink-page.js"),
  "/bench/wasm-decoder-worker.js": join(here, "wasm-decoder-worker.js"),
  "/bench/browser-image-compression.js": join(
    here,
    "../node_modules/browser-image-compression/dist/browser-image-compression.js",
  ),
};
const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };

const server = createServer(async (request, response) => {
  const path = new URL(request.url, "http://localhost").pathname;
  const file = routes[path] ?? join(siteRoot, normalize(path).replace(/^(\.\.[/\\])+/, ""));
  try {
    if (!(await stat(file)).isFile()) throw new Error("not a file");
    response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" });
    createReadStream(file).pipe(response);
  } catch {
    response.writeHead(404).end();
  }
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  page.on("pageerror", (error) => console.error("page error:", error.message));
  await page.goto(`${origin}/bench/index.html`);
  const report = await page.evaluate((runs) => window.runBenchmark(runs), runs);
  print(report);
} finally {
  await browser.close();
  server.close();
}

function print({ photo, results }) {
  console.log(
    `photo: ${photo.width}×${photo.height} JPEG, ${kb(photo.bytes)} (made in ${photo.millis} ms); ` +
      `${runs} runs each after one warm-up, median time`,
  );
  for (const r of results) {
    const times = r.runs.map((run) => run.millis).sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)];
    const last = r.runs.at(-1);
    console.log(
      `${r.name.padEnd(58)} ${String(Math.round(median)).padStart(5)} ms  ` +
        `(min ${Math.round(times[0])}, first ${Math.round(r.warmup.millis)})  ` +
        `${kb(last.bytes).padStart(8)}  ${last.width}×${last.height}`,
    );
  }
}

function kb(bytes) {
  return `${Math.round(bytes / 1024)} KB`;
}
