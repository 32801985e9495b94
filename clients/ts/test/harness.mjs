// Starts real Confab nodes for the client's tests: the server binary the build made
// (CONFAB_SERVER_BIN), each on a free loopback port with a data folder of its own, on the
// embedded defaults or, given `services: true`, on the real services of the environment
// (REDIS_URL, KAFKA_BROKERS, MONGODB_URL, S3_ENDPOINT, as `make services` prints them).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deflateSync } from "node:zlib";

const SERVICE_VARS = ["REDIS_URL", "KAFKA_BROKERS", "MONGODB_URL", "S3_ENDPOINT"];

export function serverBinary() {
  const bin = process.env.CONFAB_SERVER_BIN;
  if (!bin || !existsSync(bin)) {
    throw new Error("CONFAB_SERVER_BIN must name the built server (make client-test sets it)");
  }
  return bin;
}

/** Whether the real services are configured; with CONFAB_REQUIRE_SERVICES=1 they must be. */
export function servicesAvailable() {
  const missing = SERVICE_VARS.filter((name) => !process.env[name]);
  if (missing.length > 0 && process.env.CONFAB_REQUIRE_SERVICES === "1") {
    throw new Error(`CONFAB_REQUIRE_SERVICES=1 but ${missing.join(", ")} unset`);
  }
  return missing.length === 0;
}

async function freePort() {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** A running node; `stop()` ends it gracefully, `start()` brings it back on the same port. */
export class Node {
  constructor({ services = false, env = {} } = {}) {
    this.services = services;
    this.extraEnv = env;
    this.dataDir = mkdtempSync(join(tmpdir(), "confab-client-test-"));
    this.child = null;
    this.port = null;
    this.log = [];
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port ??= await freePort();
    const env = { ...process.env };
    if (!this.services) {
      for (const name of SERVICE_VARS) delete env[name];
    }
    Object.assign(env, {
      CONFAB_ADDR: `127.0.0.1:${this.port}`,
      CONFAB_DATA_DIR: join(this.dataDir, "data"),
      CONFAB_AUTH_PER_IP_PER_MIN: "100000",
      CONFAB_LOG_FORMAT: "json",
      RUST_LOG: "warn",
      ...this.extraEnv,
    });
    const child = spawn(serverBinary(), [], { env, stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    const keep = (chunk) => {
      this.log.push(chunk.toString());
      if (this.log.length > 200) this.log.shift();
    };
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const exited = new Promise((resolve) => child.once("exit", resolve));
    this.exited = exited;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) {
        throw new Error(`the server exited (${child.exitCode}):\n${this.log.join("")}`);
      }
      try {
        const response = await fetch(`${this.url}/readyz`);
        if (response.ok) return this;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`the server did not get ready:\n${this.log.join("")}`);
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child?.kill("SIGKILL"), 20_000);
    await this.exited;
    clearTimeout(timer);
  }

  async destroy() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Resolves when `predicate()` holds, checking every 20 ms; fails after `ms`. */
export async function until(predicate, what, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The next `event` of a client whose payload satisfies `predicate`. */
export function next(client, event, predicate = () => true, ms = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} within ${ms} ms`));
    }, ms);
    const off = client.on(event, (payload) => {
      if (predicate(payload)) {
        clearTimeout(timer);
        off();
        resolve(payload);
      }
    });
  });
}

let counter = 0;
/** A username no other test run uses. */
export function unique(name) {
  counter += 1;
  return `${name}${Date.now().toString(36)}${process.pid.toString(36)}${counter}`.slice(0, 30);
}

/** A storage that keeps its items in a JSON file: what survives an app's restart. */
export class FileStorage {
  constructor(path) {
    this.path = path;
  }
  read() {
    try {
      return JSON.parse(readFileSync(this.path, "utf8"));
    } catch {
      return {};
    }
  }
  async getItem(key) {
    return this.read()[key] ?? null;
  }
  async setItem(key, value) {
    const items = this.read();
    items[key] = value;
    writeFileSync(this.path, JSON.stringify(items));
  }
  async removeItem(key) {
    const items = this.read();
    delete items[key];
    writeFileSync(this.path, JSON.stringify(items));
  }
}

/** A real PNG of `width` × `height` (a gradient), for uploads the server checks. */
export function png(width, height) {
  const rows = [];
  for (let y = 0; y < height; y += 1) {
    const row = Buffer.alloc(1 + width * 3);
    for (let x = 0; x < width; x += 1) {
      row[1 + x * 3] = (x * 255) / width;
      row[2 + x * 3] = (y * 255) / height;
      row[3 + x * 3] = 128;
    }
    rows.push(row);
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows))),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function chunk(type, data) {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, "ascii"), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

function crc32(bytes) {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k += 1) {
      crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
    }
  }
  return (crc ^ 0xffffffff) >>> 0;
}
