// The same built client, unchanged, in Chromium: a web app served from another origin
// (allowed by CONFAB_ALLOWED_ORIGINS) signs up, keeps its outbox in localStorage, talks over
// the socket and uploads a photo with XMLHttpRequest progress, all across origins (CORS).
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { dirname, join, normalize } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { createServer } from "node:http";

import { chromium } from "playwright-core";

import { Node, png, unique } from "./harness.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const page = `<!doctype html><meta charset="utf-8"><title>client test</title>
<script type="importmap">{"imports": {"socket.io-client": "/sio/socket.io.esm.min.js"}}</script>`;

let node;
let browser;
let site;
let origin;
before(async () => {
  // The web app's own server: another origin than the node's (both on loopback, as
  // Chromium keeps pages from other address spaces off loopback).
  site = createServer((request, response) => void serve(request, response));
  await new Promise((resolve) => site.listen(0, "127.0.0.1", resolve));
  origin = `http://localhost:${site.address().port}`;
  node = await new Node({ env: { CONFAB_ALLOWED_ORIGINS: origin } }).start();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"],
  });
});
after(async () => {
  await browser?.close();
  await node?.destroy();
  site?.close();
});

/** Serves the page, the client's `dist/` and socket.io-client's browser build. */
async function serve(request, response) {
  const path = new URL(request.url, "http://site").pathname;
  const file = (dir, rest) => normalize(join(root, dir, rest));
  try {
    let body;
    let type = "text/javascript";
    if (path === "/") {
      body = page;
      type = "text/html";
    } else if (path.startsWith("/dist/") && !path.includes("..")) {
      body = await readFile(file("dist", path.slice("/dist/".length)));
    } else if (path.startsWith("/sio/") && !path.includes("..")) {
      body = await readFile(file("node_modules/socket.io-client/dist", path.slice("/sio/".length)));
    } else {
      response.writeHead(404).end();
      return;
    }
    response.writeHead(200, { "content-type": type }).end(body);
  } catch {
    response.writeHead(404).end();
  }
}

test("the client runs unchanged in a browser, on another origin", async () => {
  const tab = await browser.newPage();
  await tab.goto(`${origin}/`);
  const photo = [...png(40, 30)];
  const result = await tab.evaluate(
    async ({ url, names, photo }) => {
      const { ConfabClient, WebStorage } = await import("/dist/index.js");
      const storage = new WebStorage(localStorage);
      const alice = await ConfabClient.register({ url, storage }, names[0], "correct horse battery", "alice");
      const bob = await ConfabClient.register({ url }, names[1], "correct horse battery", "bob");
      const connected = (client) => new Promise((resolve) => client.on("connected", resolve));
      const ready = Promise.all([connected(alice), connected(bob)]);
      alice.connect();
      bob.connect();
      await ready;
      const room = await alice.rest.createGroup({ name: "In a browser", member_ids: [bob.user.id] });
      const received = new Promise((resolve) => bob.on("message", (m) => m.body === "from a page" && resolve(m)));
      const sent = await alice.sendText(room.id, "from a page");
      const arrived = await received;
      const progress = [];
      const bytes = new Uint8Array(photo);
      const media = await alice.uploadMedia(
        new Blob([bytes], { type: "image/png" }),
        { kind: "image", content_type: "image/png", width: 40, height: 30 },
        (done, total) => progress.push([done, total]),
      );
      const image = await alice.send(room.id, { kind: "image", media_id: media.id });
      const outboxKey = `confab:${alice.user.id}:outbox`;
      const result = {
        sentId: sent.id,
        arrivedId: arrived.id,
        progress,
        mediaBytes: media.bytes,
        imageMedia: image.media?.id === media.id,
        outboxStored: localStorage.getItem(outboxKey),
        timeline: alice.timeline(room.id).visible().map((m) => m.kind),
      };
      await alice.close();
      await bob.close();
      return result;
    },
    { url: node.url, names: [unique("alice"), unique("bob")], photo },
  );
  assert.equal(result.arrivedId, result.sentId);
  assert.equal(result.mediaBytes, photo.length);
  assert.deepEqual(result.progress.at(-1), [photo.length, photo.length]);
  assert.ok(result.imageMedia);
  // The outbox lived in localStorage, and is empty once everything was sent.
  assert.equal(result.outboxStored, "[]");
  assert.deepEqual(result.timeline.filter((k) => k !== "system"), ["text", "image"]);
  await tab.close();
});
