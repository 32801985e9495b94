// Photos and voice messages between two people: a phone photo carrying its GPS position is
// shrunk and stripped before it leaves the browser, a voice message recorded from Chromium's
// fake microphone plays on the other side, and a failed upload waits (across a reload) for
// Retry or Remove. The steps run in order and share the two pages.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { baseUrl, canvasJpeg, createAccount, launchBrowser, screenshotDir, uniqueName } from "./support.mjs";

const TIMEOUT = 15_000;
// Three quick retries (1 s, 2 s, 4 s) plus the attempts themselves.
const FAILURE_TIMEOUT = 40_000;
// Upload URLs: the server's own (`/api/v1/uploads/uploads/<id>`) on the embedded store, a
// presigned bucket URL (`/<bucket>/uploads/<id>`) on S3.
const UPLOADS = (url) => url.pathname.includes("/uploads/");
let browser, alice, bob, pageA, pageB, roomId;
const errors = [];

async function shot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

function log(page) {
  return page.getByRole("log", { name: "Messages" });
}

// Calls the API from inside a page, with its session cookie, as the app does.
async function api(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      const response = await fetch(`/api/v1${path}`, {
        method,
        headers: { "content-type": "application/json", "x-requested-with": "confab" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return response.json();
    },
    { method, path, body },
  );
}

// An EXIF APP1 segment whose only content is a GPS position (48°51'30" N, 2°17'40" E):
// a little-endian TIFF with IFD0 pointing at a GPS IFD of four entries.
function gpsExifSegment() {
  const tiff = Buffer.alloc(128);
  const entry = (at, tag, type, count, value) => {
    tiff.writeUInt16LE(tag, at);
    tiff.writeUInt16LE(type, at + 2);
    tiff.writeUInt32LE(count, at + 4);
    if (typeof value === "string") tiff.write(value, at + 8, "latin1");
    else tiff.writeUInt32LE(value, at + 8);
  };
  const ASCII = 2, LONG = 4, RATIONAL = 5;
  tiff.write("II", 0, "latin1");
  tiff.writeUInt16LE(42, 2);
  tiff.writeUInt32LE(8, 4);
  tiff.writeUInt16LE(1, 8);
  entry(10, 0x8825, LONG, 1, 26); // GPSInfo: the GPS IFD is at 26
  tiff.writeUInt32LE(0, 22);
  tiff.writeUInt16LE(4, 26);
  entry(28, 0x0001, ASCII, 2, "N\0");
  entry(40, 0x0002, RATIONAL, 3, 80);
  entry(52, 0x0003, ASCII, 2, "E\0");
  entry(64, 0x0004, RATIONAL, 3, 104);
  tiff.writeUInt32LE(0, 76);
  const rationals = (at, values) =>
    values.forEach(([n, d], i) => {
      tiff.writeUInt32LE(n, at + i * 8);
      tiff.writeUInt32LE(d, at + i * 8 + 4);
    });
  rationals(80, [[48, 1], [51, 1], [3000, 100]]);
  rationals(104, [[2, 1], [17, 1], [4000, 100]]);
  const body = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  const header = Buffer.from([0xff, 0xe1, 0, 0]);
  header.writeUInt16BE(body.length + 2, 2);
  return Buffer.concat([header, body]);
}

// The JPEG with the EXIF segment put right after its start-of-image marker.
function withGps(jpeg) {
  assert.deepEqual([...jpeg.subarray(0, 2)], [0xff, 0xd8]);
  return Buffer.concat([jpeg.subarray(0, 2), gpsExifSegment(), jpeg.subarray(2)]);
}

async function attachPhoto(page, name, buffer) {
  await page.getByLabel("Attach a photo").setInputFiles({ name, mimeType: "image/jpeg", buffer });
}

// Media ids the page creates, in order, from the answers to `POST /api/v1/media`.
function watchCreatedMedia(page) {
  const ids = [];
  page.on("response", async (response) => {
    const url = new URL(response.url());
    if (response.request().method() === "POST" && url.pathname === "/api/v1/media" && response.status() === 201) {
      ids.push((await response.json()).media.id);
    }
  });
  return ids;
}

before(async () => {
  await mkdir(screenshotDir, { recursive: true });
  // A fake microphone (a beep) that needs no permission prompt, and audio that may play
  // without a click.
  browser = await launchBrowser([
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
  ]);
  const options = { viewport: { width: 1100, height: 760 } };
  alice = await browser.newContext(options);
  bob = await browser.newContext(options);
  await alice.grantPermissions(["microphone"], { origin: baseUrl });
  pageA = await alice.newPage();
  pageB = await bob.newPage();
  for (const [page, who] of [[pageA, "alice"], [pageB, "bob"]]) {
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => errors.push(`${who}: ${error.message}`));
  }
  await pageA.goto(baseUrl);
  await createAccount(pageA, uniqueName("alice"), "Alice");
  await pageB.goto(baseUrl);
  await createAccount(pageB, uniqueName("bob"), "Bob");
  const bobUser = await api(pageB, "GET", "/me");
  const room = await api(pageA, "POST", "/rooms", { name: "Holiday", member_ids: [bobUser.id] });
  roomId = room.id;
  for (const page of [pageA, pageB]) {
    await page.goto(`${baseUrl}/rooms/${roomId}`);
    await page.getByRole("heading", { name: "Holiday" }).waitFor();
  }
});

after(async () => {
  await browser?.close();
});

test("a photo is shrunk and stripped of its GPS position before the other member sees it", async () => {
  const original = withGps(await canvasJpeg(pageA, 2400, 1800));
  assert.ok(original.includes(Buffer.from("Exif\0\0", "latin1")), "the original carries EXIF");

  // The upload waits until the message has been seen in the log with its local preview.
  let release, passed;
  const seen = new Promise((resolve) => (release = resolve));
  const through = new Promise((resolve) => (passed = resolve));
  let uploaded;
  await pageA.route(UPLOADS, async (route) => {
    uploaded = route.request().postDataBuffer();
    await seen;
    await route.continue();
    passed();
  });
  // Text already typed goes with the photo as its caption.
  await pageA.getByRole("textbox", { name: "Message" }).fill("Beach day");
  await attachPhoto(pageA, "holiday.jpg", original);
  assert.equal(await pageA.getByRole("textbox", { name: "Message" }).inputValue(), "");
  const pending = log(pageA).locator(".msg.pending");
  await pending.locator('img[src^="blob:"]').waitFor();
  await pending.getByRole("progressbar", { name: "Upload progress" }).waitFor();
  await shot(pageA, "photo-sending");
  release();
  await through;
  await pageA.unroute(UPLOADS);
  await pending.waitFor({ state: "detached" });
  await log(pageA).locator(".msg.mine .photo").waitFor();
  // What left the browser was already stripped (the server strips again, to be sure).
  assert.ok(uploaded.length < original.length, "the upload is the shrunk copy");
  assert.equal(uploaded.includes(Buffer.from("Exif", "latin1")), false, "no EXIF uploaded");

  // Bob's log reserves the photo's shape before it loads, and shows the thumbnail.
  const photo = log(pageB).locator(".msg .photo");
  await photo.waitFor();
  assert.equal(await log(pageB).locator(".msg.media .body").innerText(), "Beach day");
  const row = pageB.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "Holiday" });
  await row.getByText("Alice: Photo: Beach day").waitFor();
  assert.match(await photo.getAttribute("style"), /aspect-ratio: 1600 \/ 1200/);
  const thumbnail = photo.locator("img");
  assert.equal(await thumbnail.getAttribute("loading"), "lazy");
  await pageB.waitForFunction((img) => img.complete && img.naturalWidth > 0, await thumbnail.elementHandle());

  // The viewer shows the full photo; its bytes are what left Alice's browser.
  await photo.click();
  const viewer = pageB.getByRole("dialog", { name: "Photo" });
  const full = viewer.getByRole("img", { name: "Photo, full size" });
  await full.waitFor();
  await shot(pageB, "photo-viewer");
  const src = await full.getAttribute("src");
  const stored = await pageB.evaluate(async (url) => {
    // The session cookie goes to the app's own origin; on S3 the answer is a redirect to a
    // signed bucket URL, fetched without it (CORS lets the page read it).
    const response = await fetch(url);
    const blob = await response.blob();
    const bytes = new Uint8Array(await blob.arrayBuffer());
    // The JPEG's segments up to the image data: APP1 (0xE1) would hold EXIF.
    const markers = [];
    for (let i = 2; i + 3 < bytes.length && bytes[i] === 0xff; ) {
      const marker = bytes[i + 1];
      if (marker === 0xda) break;
      markers.push(marker);
      i += 2 + ((bytes[i + 2] << 8) | bytes[i + 3]);
    }
    const text = new TextDecoder("latin1").decode(bytes);
    const bitmap = await createImageBitmap(blob);
    return {
      status: response.status,
      size: bytes.length,
      markers,
      exif: text.includes("Exif"),
      width: bitmap.width,
      height: bitmap.height,
    };
  }, src);
  assert.equal(stored.status, 200);
  assert.ok(stored.size < original.length, `${stored.size} bytes < ${original.length}`);
  assert.equal(stored.exif, false, "no Exif marker");
  assert.ok(!stored.markers.includes(0xe1), "no APP1 segment");
  assert.equal(Math.max(stored.width, stored.height), 1600);
  assert.equal(stored.width / stored.height, 4 / 3);

  await pageB.keyboard.press("Escape");
  await viewer.waitFor({ state: "detached" });
  await pageB.waitForFunction(() => document.activeElement?.getAttribute("aria-label") === "Open photo");
  await shot(pageB, "photo-received");
});

test("a voice message is recorded, sent, and plays for the other member", async () => {
  await pageA.getByRole("button", { name: "Record a voice message" }).click();
  const timer = pageA.locator(".recording time");
  await timer.waitFor();
  await pageA.waitForFunction(() => document.querySelector(".recording time")?.textContent === "0:02");
  await shot(pageA, "voice-recording");
  await pageA.getByRole("button", { name: "Send voice" }).click();
  await pageA.getByRole("button", { name: "Record a voice message" }).waitFor();

  const voice = log(pageB).locator(".msg .voice");
  await voice.waitFor();
  assert.match(await voice.locator(".duration").innerText(), /^0:0[23]$/);
  const audio = voice.locator("audio");
  assert.equal(await audio.getAttribute("preload"), "metadata");
  const element = await audio.elementHandle();
  await pageB.waitForFunction((a) => a.readyState >= 1 && a.duration > 0, element);
  await audio.evaluate((a) => {
    a.muted = true;
    return a.play();
  });
  await pageB.waitForFunction((a) => a.currentTime > 0 && a.error === null, element);
  await shot(pageB, "voice-received");
});

test("a failed upload waits, across a reload, for Retry, which sends it", async () => {
  const created = watchCreatedMedia(pageA);
  await pageA.route(UPLOADS, (route) => route.abort());
  await attachPhoto(pageA, "first.jpg", await canvasJpeg(pageA, 640, 480));
  const failed = log(pageA).locator(".msg.pending", { hasText: "Not sent" });
  await failed.getByRole("button", { name: "Retry" }).waitFor({ timeout: FAILURE_TIMEOUT });
  await failed.getByRole("button", { name: "Remove" }).waitFor();
  await shot(pageA, "upload-failed");

  // Kept in IndexedDB: still there, still failed, after a reload.
  await pageA.reload();
  await failed.getByRole("button", { name: "Retry" }).waitFor();
  assert.equal(await log(pageA).locator(".msg.pending").count(), 1);
  await failed.locator('img[src^="blob:"]').waitFor();

  await pageA.unroute(UPLOADS);
  await failed.getByRole("button", { name: "Retry" }).click();
  await log(pageA).locator(".msg.pending").waitFor({ state: "detached" });
  const id = created.at(-1);
  await log(pageB).locator(`.photo[data-full$="/${id}"]`).waitFor();
  assert.equal(await log(pageB).locator(`.photo[data-full$="/${id}"]`).count(), 1, "sent once");
});

test("an upload cut off by a reload starts again by itself and is sent once", async () => {
  const created = watchCreatedMedia(pageA);
  // The first upload never gets an answer; the page is reloaded in the middle of it.
  let cutOff;
  const started = new Promise((resolve) => (cutOff = resolve));
  let first = true;
  await pageA.route(UPLOADS, async (route) => {
    if (first) {
      first = false;
      cutOff();
      return;
    }
    await route.continue();
  });
  await attachPhoto(pageA, "third.jpg", await canvasJpeg(pageA, 800, 800));
  await started;
  await pageA.reload();
  await log(pageA).locator(".msg.pending").waitFor({ state: "detached" });
  await pageA.unroute(UPLOADS);
  // The same media was uploaded again (its upload URL still worked), and sent once.
  assert.equal(created.length, 1);
  const photo = log(pageB).locator(`.photo[data-full$="/${created[0]}"]`);
  await photo.waitFor();
  assert.equal(await photo.count(), 1);
  assert.match(await photo.getAttribute("style"), /aspect-ratio: 800 \/ 800/);
});

test("Remove drops a failed upload from the log and from storage", async () => {
  const created = watchCreatedMedia(pageA);
  await pageA.route(UPLOADS, (route) => route.fulfill({ status: 500, body: "" }));
  await attachPhoto(pageA, "second.jpg", await canvasJpeg(pageA, 480, 640));
  const failed = log(pageA).locator(".msg.pending", { hasText: "Not sent" });
  await failed.getByRole("button", { name: "Remove" }).waitFor({ timeout: FAILURE_TIMEOUT });
  assert.ok(created.length >= 1);
  const id = created.at(-1);
  const deleted = pageA.waitForResponse(
    (r) => r.request().method() === "DELETE" && r.url().endsWith(`/api/v1/media/${id}`),
  );
  await failed.getByRole("button", { name: "Remove" }).click();
  await failed.waitFor({ state: "detached" });
  assert.equal((await deleted).status(), 204);
  await pageA.unroute(UPLOADS);
  // Gone from the server: a DELETE of media that still existed would answer 204 (a GET
  // would answer 404 for media that exists but was never completed, so it proves nothing).
  for (const media of created) {
    const status = await pageA.evaluate(
      async (m) =>
        (await fetch(`/api/v1/media/${m}`, { method: "DELETE", headers: { "x-requested-with": "confab" } }))
          .status,
      media,
    );
    assert.equal(status, 404, `media ${media} is gone`);
  }
  // And it does not come back with a reload.
  await pageA.reload();
  await log(pageA).locator(".msg.mine .photo").first().waitFor();
  assert.equal(await log(pageA).locator(".msg.pending").count(), 0);
});

test("without the photo worker a photo is refused, never sent as it is", async () => {
  const context = await browser.newContext({ storageState: await alice.storageState() });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  try {
    // On the context, so that the service worker's fetch of the script is caught too.
    await context.route("**/media-worker.js", (route) => route.fulfill({ status: 404, body: "" }));
    const created = watchCreatedMedia(page);
    const uploads = [];
    page.on("request", (r) => new URL(r.url()).pathname.includes("/uploads/") && uploads.push(r.url()));
    await page.goto(`${baseUrl}/rooms/${roomId}`);
    await page.getByRole("heading", { name: "Holiday" }).waitFor();
    await attachPhoto(page, "unsafe.jpg", withGps(await canvasJpeg(page, 800, 600)));
    const failed = log(page).locator(".msg.pending", { hasText: "Not sent" });
    await failed.getByRole("button", { name: "Remove" }).waitFor();
    assert.match(await failed.innerText(), /photo tool/);
    assert.deepEqual(created, []);
    assert.deepEqual(uploads, []);
    await failed.getByRole("button", { name: "Remove" }).click();
    await failed.waitFor({ state: "detached" });
  } finally {
    await context.close();
  }
});

test("no page script failed", () => {
  assert.deepEqual(errors, []);
});
