// Runs in the benchmark page: makes a photo-like 4000×3000 JPEG, then times each way of
// shrinking it, from the input Blob to the output Blob.

// The media worker's defaults (public/media-worker.js), spelled out for the WASM-only path.
const MAX_EDGE = 1600;
const QUALITY = 78;

window.runBenchmark = async (runs) => {
  const photo = await makePhoto(4000, 3000);
  const contenders = [
    ["Confab media worker, defaults (1600 px, q78)", workerShrinker("/media-worker.js", {})],
    ["Confab media worker, 1600 px, quality 80", workerShrinker("/media-worker.js", { quality: 80 })],
    [
      "Confab WASM decoder path only (shrink_encoded), 1600 px q78",
      workerShrinker("/bench/wasm-decoder-worker.js", { maxEdge: MAX_EDGE, quality: QUALITY }),
    ],
    ["browser-image-compression 2.0.2, 1600 px, default quality", libraryShrinker({})],
    ["browser-image-compression 2.0.2, 1600 px, initialQuality 0.8", libraryShrinker({ initialQuality: 0.8 })],
  ];
  // Round robin, so a burst of load on the machine (other builds) hits every contender alike.
  const results = [];
  for (const [name, shrink] of contenders) results.push({ name, warmup: await timed(shrink, photo.file), runs: [] });
  for (let i = 0; i < runs; i++) {
    for (const [index, [, shrink]] of contenders.entries()) results[index].runs.push(await timed(shrink, photo.file));
  }
  return { photo: { ...photo, file: undefined }, results };
};

async function timed(shrink, file) {
  const started = performance.now();
  const blob = await shrink(file);
  const millis = performance.now() - started;
  if (blob.type !== "image/jpeg") throw new Error(`expected a JPEG, got ${blob.type}`);
  // Dimensions read back from the output itself, after the clock stopped.
  const bitmap = await createImageBitmap(blob);
  const result = { millis, bytes: blob.size, type: blob.type, width: bitmap.width, height: bitmap.height };
  bitmap.close();
  return result;
}

// `options` go into the request as they are; none means the worker's defaults.
function workerShrinker(url, options) {
  const worker = new Worker(url, { type: "module" });
  const pending = new Map();
  let nextId = 1;
  worker.addEventListener("message", ({ data }) => {
    const { resolve, reject } = pending.get(data.id);
    pending.delete(data.id);
    if (data.ok === false) reject(new Error(data.error));
    else resolve(data.blob);
  });
  // A worker that fails to load (a site built without it, say) must end the run, not hang it.
  worker.addEventListener("error", (event) => {
    for (const { reject } of pending.values()) reject(new Error(`${url}: ${event.message ?? "failed to load"}`));
    pending.clear();
  });
  return (file) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      worker.postMessage({ id, file, ...options });
    });
}

function libraryShrinker(extra) {
  const libURL = new URL("/bench/browser-image-compression.js", location.href).href;
  return (file) =>
    window.imageCompression(file, { maxWidthOrHeight: MAX_EDGE, useWebWorker: true, libURL, ...extra });
}

// Gradients, shapes and mild sensor-like noise: compresses like a photo, neither like flat
// colour nor like pure noise. Deterministic, so every run and every machine gets the same one.
async function makePhoto(width, height) {
  const started = performance.now();
  const canvas = new OffscreenCanvas(width, height);
  const g = canvas.getContext("2d");
  const sky = g.createLinearGradient(0, 0, 0, height);
  sky.addColorStop(0, "#3a6fb0");
  sky.addColorStop(0.55, "#cfe3f2");
  sky.addColorStop(0.56, "#6b8f3a");
  sky.addColorStop(1, "#2f4a1c");
  g.fillStyle = sky;
  g.fillRect(0, 0, width, height);
  const sun = g.createRadialGradient(3000, 700, 50, 3000, 700, 900);
  sun.addColorStop(0, "rgba(255,240,200,1)");
  sun.addColorStop(1, "rgba(255,240,200,0)");
  g.fillStyle = sun;
  g.fillRect(0, 0, width, height);
  let seed = 42;
  const random = () => ((seed = (seed * 1664525 + 1013904223) >>> 0) / 2 ** 32);
  for (let i = 0; i < 120; i++) {
    const [x, y, r] = [random() * width, height * (0.45 + random() * 0.55), 30 + random() * 220];
    const shade = g.createRadialGradient(x - r / 3, y - r / 3, r / 10, x, y, r);
    const hue = Math.floor(random() * 360);
    shade.addColorStop(0, `hsl(${hue} 60% 70%)`);
    shade.addColorStop(1, `hsl(${hue} 50% 25%)`);
    g.fillStyle = shade;
    g.beginPath();
    if (i % 3 === 0) g.rect(x - r, y - r / 2, 2 * r, r);
    else g.arc(x, y, r, 0, 2 * Math.PI);
    g.fill();
  }
  g.strokeStyle = "rgba(20,20,20,0.8)";
  for (let i = 0; i < 40; i++) {
    g.lineWidth = 2 + random() * 10;
    g.beginPath();
    g.moveTo(random() * width, random() * height);
    g.bezierCurveTo(random() * width, random() * height, random() * width, random() * height, random() * width, random() * height);
    g.stroke();
  }
  g.font = "bold 160px sans-serif";
  g.fillStyle = "#fff";
  g.fillText("Confab 4000×3000", 200, 400);
  const image = g.getImageData(0, 0, width, height);
  const data = image.data;
  for (let i = 0; i < data.length; i += 4) {
    const noise = (random() - 0.5) * 12;
    data[i] += noise;
    data[i + 1] += noise;
    data[i + 2] += noise;
  }
  g.putImageData(image, 0, 0);
  const file = await canvas.convertToBlob({ type: "image/jpeg", quality: 0.92 });
  return { file, width, height, bytes: file.size, millis: Math.round(performance.now() - started) };
}
