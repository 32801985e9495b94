// The photo-shrinking worker (public/media-worker.js) in real Chromium: what the composer
// will hand it, and what must come back.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { baseUrl, launchBrowser } from "./support.mjs";

let browser;
let page;
before(async () => {
  browser = await launchBrowser();
  page = await browser.newPage();
  // Any page of the site: the worker must be same-origin.
  await page.goto(`${baseUrl}/manifest.webmanifest`);
  await page.evaluate(() => {
    const worker = new Worker("/media-worker.js", { type: "module" });
    let nextId = 1;
    // Sends one request and resolves with the reply, its JPEG's bytes in `bytes` and, read back
    // from the JPEG itself, the colour of a few pixels.
    window.shrink = (file, options = {}, probes = []) =>
      new Promise((resolve, reject) => {
        const id = nextId++;
        const timer = setTimeout(() => reject(new Error("no reply within 20 s")), 20_000);
        worker.addEventListener("message", async function onReply({ data }) {
          if (data.id !== id) return;
          worker.removeEventListener("message", onReply);
          clearTimeout(timer);
          if (!data.ok) return resolve(data);
          const bitmap = await createImageBitmap(data.blob);
          const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
          const context = canvas.getContext("2d");
          context.drawImage(bitmap, 0, 0);
          const colours = probes.map(([x, y]) => Array.from(context.getImageData(x, y, 1, 1).data.slice(0, 3)));
          const bytes = Array.from(new Uint8Array(await data.blob.arrayBuffer()));
          resolve({ ...data, type: data.blob.type, blob: undefined, bytes, decodedSize: [bitmap.width, bitmap.height], colours });
        });
        worker.postMessage({ id, file, ...options });
      });
    // A JPEG made on a canvas: red top-left quarter, blue elsewhere; `exif` (bytes of a TIFF
    // block) inserted as an APP1 segment right after SOI.
    window.photo = async (width, height, exif) => {
      const canvas = new OffscreenCanvas(width, height);
      const context = canvas.getContext("2d");
      context.fillStyle = "#0000ff";
      context.fillRect(0, 0, width, height);
      context.fillStyle = "#ff0000";
      context.fillRect(0, 0, width / 2, height / 2);
      const jpeg = new Uint8Array(await (await canvas.convertToBlob({ type: "image/jpeg", quality: 0.9 })).arrayBuffer());
      if (!exif) return new Blob([jpeg], { type: "image/jpeg" });
      const payload = [...new TextEncoder().encode("Exif"), 0, 0, ...exif];
      const length = payload.length + 2;
      const segment = [0xff, 0xe1, length >> 8, length & 0xff, ...payload];
      return new Blob([jpeg.slice(0, 2), new Uint8Array(segment), jpeg.slice(2)], { type: "image/jpeg" });
    };
  });
});
after(async () => {
  await browser?.close();
});

// Big-endian TIFF: IFD0 with Orientation 6 ("turn 90° clockwise to show") and a GPS IFD
// pointer; the GPS IFD holds a latitude reference.
const EXIF_ORIENTATION_6_WITH_GPS = [
  0x4d, 0x4d, 0, 0x2a, 0, 0, 0, 8, // header, IFD0 at 8
  0, 2, // two entries
  0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, // Orientation, SHORT, 1, 6
  0x88, 0x25, 0, 4, 0, 0, 0, 1, 0, 0, 0, 38, // GPSInfo, LONG, 1, at 38
  0, 0, 0, 0, // no next IFD
  0, 1, 0, 1, 0, 2, 0, 0, 0, 2, 0x4e, 0, 0, 0, 0, 0, 0, 0, // GPSLatitudeRef "N"
];

test("a sideways phone photo comes back upright, within the long edge, with no EXIF", async () => {
  const reply = await page.evaluate(
    async (exif) => window.shrink(await window.photo(1200, 800, exif), { maxEdge: 600 }, [[380, 20], [20, 20]]),
    EXIF_ORIENTATION_6_WITH_GPS,
  );
  assert.equal(reply.ok, true, reply.error);
  assert.equal(reply.type, "image/jpeg");
  assert.equal(reply.decoder, "browser");
  assert.deepEqual([reply.width, reply.height], [400, 600]);
  assert.deepEqual(reply.decodedSize, [400, 600]);
  // Turned clockwise: the red top-left corner is now the top right.
  const [topRight, topLeft] = reply.colours;
  assert.ok(topRight[0] > 200 && topRight[2] < 60, `top right is ${topRight}`);
  assert.ok(topLeft[2] > 200 && topLeft[0] < 60, `top left is ${topLeft}`);
  assert.equal(typeof reply.millis, "number");
  assert.equal(findBytes(reply.bytes, [...Buffer.from("Exif")]), -1, "no EXIF in the output");
  assert.equal(findBytes(reply.bytes, [0xff, 0xe1]), -1, "no APP1 segment in the output");
});

test("a small picture is not enlarged", async () => {
  const reply = await page.evaluate(async () => window.shrink(await window.photo(300, 200)));
  assert.equal(reply.ok, true, reply.error);
  assert.deepEqual([reply.width, reply.height], [300, 200]);
});

test("a transparent PNG comes back as a JPEG on white", async () => {
  const reply = await page.evaluate(async () => {
    const canvas = new OffscreenCanvas(100, 50);
    const context = canvas.getContext("2d");
    context.fillStyle = "#00a000";
    context.fillRect(50, 0, 50, 50); // the left half stays transparent
    return window.shrink(await canvas.convertToBlob({ type: "image/png" }), {}, [[10, 25], [90, 25]]);
  });
  assert.equal(reply.ok, true, reply.error);
  assert.equal(reply.type, "image/jpeg");
  const [transparent, green] = reply.colours;
  assert.ok(transparent.every((c) => c > 245), `transparent became ${transparent}`);
  assert.ok(green[1] > 130 && green[0] < 50, `green became ${green}`);
});

test("a file that is not a picture gets a readable error", async () => {
  const reply = await page.evaluate(() =>
    window.shrink(new Blob(["certainly not a photo"], { type: "image/jpeg" })),
  );
  assert.equal(reply.ok, false);
  assert.match(reply.error, /not a photo we can read/);
});

function findBytes(haystack, needle) {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
