// A group changed by its owner: a rename shows as a system line to both people, and the
// member who is removed sees a notice live and loses the room from the list.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { baseUrl, createAccount, launchBrowser, uniqueName } from "./support.mjs";

const TIMEOUT = 15_000;
let browser, pageA, pageB, roomId, bob;
const errors = [];
const csrf = { "X-Requested-With": "confab" };

before(async () => {
  browser = await launchBrowser();
  pageA = await (await browser.newContext()).newPage();
  pageB = await (await browser.newContext()).newPage();
  for (const [page, who] of [[pageA, "owner"], [pageB, "member"]]) {
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => errors.push(`${who}: ${error.message}`));
  }
});

after(async () => {
  await browser?.close();
});

test("a rename reads as a system line for both", async () => {
  await pageA.goto(baseUrl);
  await createAccount(pageA, uniqueName("olga"), "Olga");
  await pageB.goto(baseUrl);
  await createAccount(pageB, uniqueName("max"), "Max");
  bob = await (await pageB.request.get(`${baseUrl}/api/v1/me`)).json();
  const created = await pageA.request.post(`${baseUrl}/api/v1/rooms`, {
    data: { name: "Club", member_ids: [bob.id] },
    headers: csrf,
  });
  roomId = (await created.json()).id;
  await pageA.goto(`${baseUrl}/rooms/${roomId}`);
  await pageB.goto(`${baseUrl}/rooms/${roomId}`);
  await pageB.getByRole("heading", { name: "Club" }).waitFor();
  const renamed = await pageA.request.patch(`${baseUrl}/api/v1/rooms/${roomId}`, {
    data: { name: "Book club" },
    headers: csrf,
  });
  assert.equal(renamed.status(), 200);
  for (const page of [pageA, pageB]) {
    await page.getByRole("heading", { name: "Book club" }).waitFor();
    await page.locator(".system-line", { hasText: "Olga renamed the group to “Book club”" }).waitFor();
  }
});

test("the removed member sees a notice and loses the room", async () => {
  const removed = await pageA.request.delete(`${baseUrl}/api/v1/rooms/${roomId}/members/${bob.id}`, {
    headers: csrf,
  });
  assert.equal(removed.status(), 204);
  await pageB.getByText("You were removed from Book club").waitFor();
  await pageB.getByText("You are not a member of this conversation (any more).").waitFor();
  const rooms = pageB.getByRole("navigation", { name: "Rooms" });
  await rooms.getByText("No conversations yet.").waitFor();
  await pageA.locator(".system-line", { hasText: "Olga removed Max" }).waitFor();
});

test("no page errors", () => {
  assert.deepEqual(errors, []);
});
