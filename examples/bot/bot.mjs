// A Confab bot in forty lines, on @confab/client.
//
//   CONFAB_URL=http://127.0.0.1:3000 CONFAB_BOT_USERNAME=pingbot CONFAB_BOT_PASSWORD=... node bot.mjs
//
// It signs in (creating its account the first time), then in every room it is a member of
// answers `/ping` with `pong` and `/echo <text>` with the text. Add it to a group like any
// person. It prints `ready <user id>` once it listens.
import { ConfabClient, ConfabError } from "@confab/client";

const url = process.env.CONFAB_URL ?? "http://127.0.0.1:3000";
const username = process.env.CONFAB_BOT_USERNAME ?? "pingbot";
const password = process.env.CONFAB_BOT_PASSWORD;
if (!password) {
  console.error("set CONFAB_BOT_PASSWORD");
  process.exit(2);
}

async function signIn() {
  try {
    return await ConfabClient.login({ url }, username, password);
  } catch (error) {
    if (!(error instanceof ConfabError) || error.code !== "unauthorized") throw error;
    return await ConfabClient.register({ url }, username, password, "Ping Bot");
  }
}

/** The answer to a command, or null for anything else. */
export function answer(body) {
  const text = body.trim();
  if (text === "/ping") return "pong";
  if (text.startsWith("/echo ")) return text.slice("/echo ".length).trim() || null;
  return null;
}

const bot = await signIn();
bot.on("message", (message) => {
  if (message.sender_id === bot.user.id || message.kind !== "text" || !message.body) return;
  const reply = answer(message.body);
  if (reply === null) return;
  bot.sendText(message.room_id, reply, message.id).catch((error) => {
    console.error(`could not answer in ${message.room_id}: ${error.message}`);
  });
});
bot.on("error", (error) => console.error(`confab: ${error.code}: ${error.message}`));
bot.on("connected", () => console.log(`ready ${bot.user.id}`));
bot.connect();

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, async () => {
    await bot.close();
    process.exit(0);
  });
}
