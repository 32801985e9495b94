// Two people change, answer, react to and find messages (API.md v1.1) in two browser
// contexts: every change shows live on the other side and again after a reload. The steps
// run in order and share the two pages. With two nodes (E2E_NODES=2 in scripts/e2e.sh, on
// the real services) Bob's browser talks to the second one.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  baseUrl,
  createAccount,
  launchBrowser,
  screenshotDir,
  secondUrl,
  sendMessage,
  uniqueName,
} from "./support.mjs";

const TIMEOUT = 15_000;
let browser, pageA, pageB, bobName, roomId;
const errors = [];

function log(page) {
  return page.getByRole("log", { name: "Messages" });
}

// The message whose own text (not a quote of another) contains `text`.
function bubble(page, text) {
  return log(page)
    .locator(".msg")
    .filter({ has: page.locator(".body", { hasText: text }) })
    .last();
}

// Opens a message's actions (hover, as a mouse user does) and clicks one.
async function act(page, text, action) {
  const message = bubble(page, text);
  await message.hover();
  await message.getByRole("button", { name: action, exact: true }).click();
}

before(async () => {
  await mkdir(screenshotDir, { recursive: true });
  browser = await launchBrowser();
  const options = { viewport: { width: 1100, height: 720 } };
  pageA = await (await browser.newContext(options)).newPage();
  pageB = await (await browser.newContext(options)).newPage();
  for (const [page, who] of [[pageA, "alice"], [pageB, "bob"]]) {
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => errors.push(`${who}: ${error.message}`));
    page.on("dialog", (dialog) => dialog.accept());
  }
});

after(async () => {
  await browser?.close();
});

test("two people share a group", async () => {
  await pageA.goto(baseUrl);
  await createAccount(pageA, uniqueName("alice"), "Alice");
  await pageB.goto(secondUrl);
  bobName = uniqueName("bob");
  await createAccount(pageB, bobName, "Bob");
  const bob = await (await pageB.request.get(`${secondUrl}/api/v1/me`)).json();
  const created = await pageA.request.post(`${baseUrl}/api/v1/rooms`, {
    data: { name: "Changes", member_ids: [bob.id] },
    headers: { "X-Requested-With": "confab" },
  });
  assert.equal(created.status(), 201);
  roomId = (await created.json()).id;
  await pageA.goto(`${baseUrl}/rooms/${roomId}`);
  await pageB.goto(`${secondUrl}/rooms/${roomId}`);
  await pageA.getByRole("heading", { name: "Changes" }).waitFor();
  await pageB.getByRole("heading", { name: "Changes" }).waitFor();
});

test("links open safely and markup stays text", async () => {
  await sendMessage(pageA, "Lunch at noon? https://example.com/menu <a href=\"/evil\">click</a>");
  const message = bubble(pageB, "Lunch at noon?");
  const link = message.getByRole("link", { name: "https://example.com/menu" });
  await link.waitFor();
  assert.equal(await link.getAttribute("href"), "https://example.com/menu");
  assert.equal(await link.getAttribute("rel"), "noopener noreferrer");
  assert.equal(await link.getAttribute("target"), "_blank");
  assert.equal(await message.locator('a[href="/evil"]').count(), 0, "typed markup is not a link");
  await message.getByText('<a href="/evil">click</a>').waitFor();
});

test("bob reacts, alice sees it live, and bob takes it back", async () => {
  await act(pageB, "Lunch at noon?", "React");
  await bubble(pageB, "Lunch at noon?").getByRole("button", { name: "React with 👍" }).click();
  const chip = bubble(pageA, "Lunch at noon?").locator(".chip", { hasText: "👍 1" });
  await chip.waitFor();
  const own = bubble(pageB, "Lunch at noon?").locator(".chip.mine", { hasText: "👍 1" });
  await own.waitFor();
  await own.click();
  await chip.waitFor({ state: "detached" });
});

test("alice edits her message in place and bob sees the new text", async () => {
  await act(pageA, "Lunch at noon?", "Edit");
  const box = pageA.getByRole("textbox", { name: "Edit message" });
  await box.press("Escape");
  await box.waitFor({ state: "detached" });
  await act(pageA, "Lunch at noon?", "Edit");
  await box.fill("Lunch at one?");
  await box.press("Enter");
  const edited = bubble(pageB, "Lunch at one?");
  await edited.getByText("edited").waitFor();
  // After a reload too: the page from the server holds the edit.
  await pageB.reload();
  await bubble(pageB, "Lunch at one?").getByText("edited").waitFor();
  await pageA.screenshot({ path: join(screenshotDir, "edited.png") });
});

test("bob replies with a quote and a mention that stands out for alice", async () => {
  const alice = await (await pageA.request.get(`${baseUrl}/api/v1/me`)).json();
  await act(pageB, "Lunch at one?", "Reply");
  await pageB.getByRole("status").filter({ hasText: "Replying to" }).waitFor();
  // `@` and the start of a name offers the member; Enter takes it.
  const box = pageB.getByRole("textbox", { name: "Message" });
  await box.pressSequentially(`Yes @${alice.username.slice(0, 4)}`);
  await pageB.getByRole("listbox", { name: "Members" }).getByRole("option", { name: /Alice/ }).waitFor();
  await box.press("Enter");
  assert.equal(await box.inputValue(), `Yes @${alice.username} `);
  await box.pressSequentially("count me in");
  await box.press("Enter");
  const reply = bubble(pageA, "count me in");
  await reply.locator(".quote", { hasText: "Lunch at one?" }).waitFor();
  await reply.locator(".mention").waitFor();
  assert.match(await reply.getAttribute("class"), /mentioned/);
  // A reaction too, for the picture.
  await act(pageA, "count me in", "React");
  await bubble(pageA, "count me in").getByRole("button", { name: "React with 🎉" }).click();
  await bubble(pageB, "count me in").locator(".chip", { hasText: "🎉 1" }).waitFor();
  await pageB.reload();
  await bubble(pageB, "count me in").locator(".chip", { hasText: "🎉 1" }).waitFor();
  await bubble(pageB, "count me in").locator(".quote", { hasText: "Lunch at one?" }).waitFor();
  await pageA.mouse.move(0, 0);
  await pageA.screenshot({ path: join(screenshotDir, "reply-reaction.png") });
  await reply.locator(".quote").click();
  await log(pageA).locator(".msg.highlight", { hasText: "Lunch at one?" }).waitFor();
});

test("alice deletes her message and it is gone for bob, live and after a reload", async () => {
  await act(pageA, "Lunch at one?", "Delete");
  await log(pageB).getByText("Message deleted").waitFor();
  // The reply quoting it drops the quote at once, for the one who sees it live too.
  await bubble(pageA, "count me in").locator(".quote").waitFor({ state: "detached" });
  await bubble(pageB, "count me in").locator(".quote").waitFor({ state: "detached" });
  await pageB.reload();
  await log(pageB).getByText("Message deleted").waitFor();
  await bubble(pageB, "count me in").waitFor();
  assert.equal(await log(pageB).getByText("Lunch at one?").count(), 0);
  assert.equal(await bubble(pageB, "count me in").locator(".quote").count(), 0, "no quote of a deleted message");
});

test("alice finds a message by search and jumps to it", async () => {
  await pageA.goto(baseUrl);
  const search = pageA.getByRole("searchbox", { name: "Search messages" });
  await search.fill("count");
  const hit = pageA.getByRole("list", { name: "Search results" }).getByRole("button").first();
  await hit.waitFor();
  assert.equal(await hit.locator("mark").first().textContent(), "count");
  await hit.click();
  await pageA.getByRole("heading", { name: "Changes" }).waitFor();
  await log(pageA).locator(".msg.highlight", { hasText: "count me in" }).waitFor();
  await search.fill("lunch");
  await pageA.getByText("No messages found.").waitFor();
});

test("alice comes back to a divider where she stopped reading", async () => {
  await pageA.goto(baseUrl);
  await pageA.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "Changes" }).waitFor();
  await sendMessage(pageB, "one more thing");
  await pageA.getByRole("navigation", { name: "Rooms" }).getByText("1 unread").waitFor();
  await pageA.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "Changes" }).click();
  await log(pageA).getByText("New messages").waitFor();
  const divider = log(pageA).locator(".unread-divider + .msg");
  assert.match(await divider.textContent(), /one more thing/);
});

test("no page errors", () => {
  assert.deepEqual(errors, []);
});
