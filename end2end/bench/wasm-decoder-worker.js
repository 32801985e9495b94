// The media worker's fallback path on its own: the whole file decoded by the image crate in
// WASM (the real worker takes it only when the browser cannot decode the file).
import init, { shrink_encoded } from "/pkg/media_worker.js";

const ready = init();

self.addEventListener("message", async ({ data: { id, file, maxEdge, quality } }) => {
  await ready;
  const shrunk = shrink_encoded(new Uint8Array(await file.arrayBuffer()), maxEdge, quality);
  const { width, height } = shrunk;
  self.postMessage({ id, blob: new Blob([shrunk.intoBytes()], { type: "image/jpeg" }), width, height });
});
