// Confab's media worker: shrinks a photo before upload, off the main thread, so picking a
// 12-megapixel photo never freezes the page. A module worker:
//   new Worker("/media-worker.js", { type: "module" })
//
// request  {id, file: Blob, maxEdge: 1600, quality: 78, square: false}   (all but id and
//          file optional; square: the middle square, for a picture of a person or group)
// reply    {id, ok: true, blob: Blob (image/jpeg), width, height, millis,
//           decoder: "browser" | "wasm"}
//       or {id, ok: false, error: "<human readable>"}
//
// The output is a JPEG whose long edge is at most maxEdge (never enlarged), turned upright,
// transparency flattened onto white, and with no metadata at all (no EXIF, so no GPS
// position; no ICC profile; no comment).
//
// Decoding: the browser's own decoder (and scaler) first, the WASM one (the image crate) as
// the fallback. Measured on a 4000×3000, 3 MB photo-like JPEG in headless Chromium on 2 busy
// cores (end2end/bench/shrink.mjs, medians), to 1600×1200:
//   browser decodes and scales, WASM flattens and encodes    ~180-220 ms
//   WASM decodes, scales (box + Catmull-Rom) and encodes      ~400-450 ms
// The browser's decoder is libjpeg-turbo with SIMD, and its mipmapped "high" scaling is
// native too; WASM has no SIMD here, and the full-size pixels would first have to be read
// out of a canvas and copied into its memory. What WASM keeps is the encoder: it writes no
// metadata, whatever browser runs it, and its quality scale means the same everywhere.
// Quality 78 rather than 80: at 80 the benchmark photo comes out at 309 KB (this encoder
// does not subsample chroma), at 78 at 294 KB, with no difference visible at 1600 px.
import init, { shrink_encoded, shrink_rgba, square_encoded } from "/pkg/media_worker.js";

const DEFAULT_MAX_EDGE = 1600;
const DEFAULT_QUALITY = 78;

// Fetched and compiled once, while the page is still busy with other things.
const ready = init();

self.addEventListener("message", async (event) => {
  const { id, file, maxEdge = DEFAULT_MAX_EDGE, quality = DEFAULT_QUALITY, square = false } = event.data ?? {};
  const started = performance.now();
  try {
    if (!(file instanceof Blob)) throw new Error("no file was given");
    if (!(maxEdge >= 1) || !(quality >= 1 && quality <= 100)) {
      throw new Error(`maxEdge must be at least 1 and quality 1 to 100 (got ${maxEdge} and ${quality})`);
    }
    await ready;
    // A JPEG is at most 65535 pixels on a side.
    const edge = Math.min(Math.floor(maxEdge), 65535);
    const q = Math.round(quality);
    const shrunk =
      (await shrinkDecodedByBrowser(file, edge, q, square)) ?? (await shrinkInWasm(file, edge, q, square));
    const millis = Math.round(performance.now() - started);
    self.postMessage({ id, ok: true, ...shrunk, millis });
  } catch (error) {
    self.postMessage({ id, ok: false, error: humanMessage(error) });
  }
});

// The browser decodes JPEG, PNG and WebP (and whatever else it knows, HEIC on Safari say)
// natively, applying the EXIF orientation and the colour profile (to sRGB) on the way, and
// scales natively too; the WASM then only flattens and encodes the small picture. Resolves to
// null when the browser cannot decode the file, so the caller can try the WASM decoder.
async function shrinkDecodedByBrowser(file, maxEdge, quality, square) {
  if (typeof createImageBitmap !== "function" || typeof OffscreenCanvas !== "function") return null;
  let bitmap;
  try {
    bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
  } catch {
    return null;
  }
  let pixels;
  try {
    bitmap = square ? await middleSquare(bitmap, maxEdge) : await scaledDown(bitmap, maxEdge);
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const context = canvas.getContext("2d", { willReadFrequently: true });
    context.drawImage(bitmap, 0, 0);
    pixels = context.getImageData(0, 0, bitmap.width, bitmap.height);
  } finally {
    bitmap.close();
  }
  // Pixels the browser did not scale (it may ignore the resize options) are scaled in WASM.
  const shrunk = shrink_rgba(pixels.data, pixels.width, pixels.height, maxEdge, quality);
  return { ...jpegOf(shrunk), decoder: "browser" };
}

// Scales a decoded bitmap to fit maxEdge, closing the original; as it is if it fits already.
// A second call rather than resizeWidth on the first: the target size depends on which way
// up the photo is, which only the decode tells (measured as fast as the one-call form).
// "high" is Skia's mipmapped filter. Against an exact area average of the benchmark photo
// (PSNR of the q78 output) it scores 36.6 dB, as our WASM box + Catmull-Rom does, for ~25 ms
// instead of ~300. Scaling only part of the way (to 3200×2400, then halving in WASM) scored
// 37.1 dB for 265 ms in all against 176: not worth it. Reading the full-size pixels out of a
// canvas alone (drawImage + getImageData, 48 MB) costs ~75 ms.
async function scaledDown(bitmap, maxEdge) {
  const [width, height] = fitWithin(bitmap.width, bitmap.height, maxEdge);
  if (width === bitmap.width && height === bitmap.height) return bitmap;
  try {
    const small = await createImageBitmap(bitmap, { resizeWidth: width, resizeHeight: height, resizeQuality: "high" });
    bitmap.close();
    return small;
  } catch {
    return bitmap;
  }
}

// The middle square of a decoded (upright) bitmap, at most maxEdge on a side, closing the
// original. The cut and the scaling are one call.
async function middleSquare(bitmap, maxEdge) {
  const side = Math.min(bitmap.width, bitmap.height);
  const out = Math.min(side, maxEdge);
  const x = Math.floor((bitmap.width - side) / 2);
  const y = Math.floor((bitmap.height - side) / 2);
  const square = await createImageBitmap(bitmap, x, y, side, side, {
    resizeWidth: out,
    resizeHeight: out,
    resizeQuality: "high",
  });
  bitmap.close();
  return square;
}

// The size that fits within maxEdge on the long edge, never larger than the original.
function fitWithin(width, height, maxEdge) {
  const long = Math.max(width, height);
  if (long <= maxEdge) return [width, height];
  const scale = maxEdge / long;
  return [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
}

// For what the browser cannot decode itself: the image crate reads JPEG, PNG and WebP, and
// the EXIF orientation, in WASM.
async function shrinkInWasm(file, maxEdge, quality, square) {
  const bytes = new Uint8Array(await file.arrayBuffer());
  const shrunk = (square ? square_encoded : shrink_encoded)(bytes, maxEdge, quality);
  return { ...jpegOf(shrunk), decoder: "wasm" };
}

function jpegOf(shrunk) {
  const width = shrunk.width;
  const height = shrunk.height;
  // intoBytes consumes (and frees) the WASM-side value.
  const blob = new Blob([shrunk.intoBytes()], { type: "image/jpeg" });
  return { blob, width, height };
}

function humanMessage(error) {
  // A trap inside the WASM (running out of its memory, in practice) says only "unreachable".
  if (error instanceof WebAssembly.RuntimeError) return "this photo is too large to shrink on this device";
  const message = error instanceof Error ? error.message : String(error);
  return message || "the photo could not be shrunk";
}
