// The built site holds everything its pages load: fetched as a browser would, from the page
// and from every file the page leads to (the manifest's icons, the service worker's shell,
// the photo worker's imports and the WASM each JS glue fetches), every asset answers 200
// with a fitting content type. A build that forgets one (the realtime client, the
// photo worker) fails here, not in a user's browser.
import assert from "node:assert/strict";
import { test } from "node:test";
import { baseUrl } from "./support.mjs";

// Files the app's code names that no page or file above does: the service worker it
// registers and the photo worker it starts (app/src/client/browser).
const NAMED_BY_THE_APP = ["/sw.js", "/media-worker.js"];

const TYPES = [
  [/\.js$|\.mjs$/, /javascript/],
  [/\.wasm$/, /application\/wasm/],
  [/\.css$/, /text\/css/],
  [/\.png$/, /image\/png/],
  [/\.svg$/, /image\/svg\+xml/],
  [/\.webmanifest$/, /manifest\+json|application\/json/],
];

/** Same-site paths a file names. */
function linksIn(path, text) {
  const found = new Set();
  const add = (link) => {
    const url = new URL(link, new URL(path, baseUrl));
    if (url.origin === new URL(baseUrl).origin) found.add(url.pathname);
  };
  if (path === "/" || path.endsWith(".html")) {
    for (const [, link] of text.matchAll(/(?:src|href)="([^"#?]+)"/g)) add(link);
  } else if (path.endsWith(".webmanifest")) {
    for (const icon of JSON.parse(text).icons ?? []) add(icon.src);
  } else if (path.endsWith(".js")) {
    // As written or minified (the release build's): spaces are optional, quotes either kind.
    for (const [, link] of text.matchAll(/from\s*["']([^"']+\.js)["']/g)) add(link);
    for (const [, link] of text.matchAll(/new URL\(\s*["']([^"']+)["']\s*,\s*import\.meta\.url\s*\)/g)) {
      add(link);
    }
    // The service worker's shell: the paths in its `SHELL` list.
    const shell = path === "/sw.js" ? text.match(/SHELL\s*=\s*\[([^\]]*)\]/) : null;
    if (shell) for (const [, link] of shell[1].matchAll(/"(\/[^"]*)"/g)) add(link);
  }
  return found;
}

test("every asset the pages lead to is in the site", async () => {
  const seen = new Set();
  const queue = ["/", ...NAMED_BY_THE_APP];
  const missing = [];
  while (queue.length > 0) {
    const path = queue.shift();
    if (seen.has(path)) continue;
    seen.add(path);
    const response = await fetch(new URL(path, baseUrl));
    if (response.status !== 200) {
      missing.push(`${path}: ${response.status}`);
      continue;
    }
    const type = response.headers.get("content-type") ?? "";
    for (const [name, expected] of TYPES) {
      if (name.test(path) && !expected.test(type)) missing.push(`${path}: served as ${type}`);
    }
    if (/\.wasm$|\.png$/.test(path)) {
      await response.arrayBuffer();
      continue;
    }
    for (const link of linksIn(path, await response.text())) queue.push(link);
  }
  assert.deepEqual(missing, [], "every asset answers 200 with its type");
  for (const expected of [
    "/realtime.js",
    "/pkg/confab.js",
    "/pkg/confab_bg.wasm",
    "/pkg/confab.css",
    "/pkg/media_worker.js",
    "/pkg/media_worker_bg.wasm",
    "/manifest.webmanifest",
    "/icons/maskable-512.png",
  ]) {
    assert.ok(seen.has(expected), `${expected} is reached from the page (reached: ${[...seen].join(", ")})`);
  }
});

test("the big files of the first load come precompressed, brotli first", async () => {
  for (const path of ["/pkg/confab_bg.wasm", "/pkg/confab.js", "/realtime.js", "/pkg/confab.css"]) {
    const br = await fetch(new URL(path, baseUrl), { headers: { "accept-encoding": "br, gzip" } });
    assert.equal(br.status, 200, path);
    assert.equal(br.headers.get("content-encoding"), "br", `${path} for a client that takes brotli`);
    const gz = await fetch(new URL(path, baseUrl), { headers: { "accept-encoding": "gzip" } });
    assert.equal(gz.headers.get("content-encoding"), "gzip", `${path} for a client that takes gzip only`);
    await Promise.all([br.arrayBuffer(), gz.arrayBuffer()]);
  }
});
