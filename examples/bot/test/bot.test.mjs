// Runs the example bot as its own process against a real node and talks to it.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";

import { ConfabClient } from "@confab/client";
import { Node, next, unique } from "../../../clients/ts/test/harness.mjs";

const here = dirname(fileURLToPath(import.meta.url));
let node;
let bot;
before(async () => {
  node = await new Node().start();
});
after(async () => {
  bot?.kill("SIGTERM");
  await node?.destroy();
});

/** Starts the bot; resolves with its user id once it says it is ready. */
function startBot(username) {
  bot = spawn(process.execPath, [join(here, "..", "bot.mjs")], {
    env: { ...process.env, CONFAB_URL: node.url, CONFAB_BOT_USERNAME: username, CONFAB_BOT_PASSWORD: "a bot's own passphrase" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  return new Promise((resolve, reject) => {
    bot.stdout.on("data", (chunk) => {
      output += chunk;
      const ready = /ready (\S+)/.exec(output);
      if (ready) resolve(ready[1]);
    });
    bot.stderr.on("data", (chunk) => (output += chunk));
    bot.on("exit", (code) => reject(new Error(`the bot exited (${code}): ${output}`)));
  });
}

test("the bot answers /ping and echoes /echo in a group it was added to", async () => {
  const botId = await startBot(unique("pingbot"));
  const alice = await ConfabClient.register({ url: node.url }, unique("alice"), "correct horse battery", "alice");
  const connected = next(alice, "connected");
  alice.connect();
  await connected;
  try {
    const room = await alice.rest.createGroup({ name: "With a bot", member_ids: [botId] });
    const ping = await alice.sendText(room.id, "/ping");
    const pong = await next(alice, "message", (m) => m.sender_id === botId && m.reply_to === ping.id);
    assert.equal(pong.body, "pong");
    const echo = await alice.sendText(room.id, "/echo hello there");
    const echoed = await next(alice, "message", (m) => m.sender_id === botId && m.reply_to === echo.id);
    assert.equal(echoed.body, "hello there");
    // Anything else is left alone.
    await alice.sendText(room.id, "just chatting");
    const last = await alice.sendText(room.id, "/ping");
    await next(alice, "message", (m) => m.sender_id === botId && m.reply_to === last.id);
    const fromBot = alice.timeline(room.id).visible().filter((m) => m.sender_id === botId);
    assert.deepEqual(fromBot.map((m) => m.body), ["pong", "hello there", "pong"]);
  } finally {
    await alice.close();
  }
});
