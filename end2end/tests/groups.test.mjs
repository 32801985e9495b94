// A group changed by its owner: a rename shows as a system line to both people; from the
// details panel the owner sets the topic and makes a member an admin, who adds a third
// person; the member who is removed there sees a notice live and loses the room.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { baseUrl, canvasJpeg, createAccount, launchBrowser, screenshotDir, uniqueName } from "./support.mjs";

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

test("from the details panel the owner sets the topic and makes Max an admin, who adds Nina", async () => {
  const nina = uniqueName("nina");
  const registered = await fetch(`${baseUrl}/api/v1/auth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: nina, password: "correct horse battery", display_name: "Nina" }),
  });
  assert.equal(registered.status, 201);

  await pageA.getByRole("button", { name: "Details" }).click();
  const panelA = pageA.getByRole("complementary", { name: "Group details" });
  await panelA.getByLabel("Topic").fill("Novels, monthly");
  await panelA.getByRole("button", { name: "Save" }).click();
  for (const page of [pageA, pageB]) {
    await page.locator(".system-line", { hasText: "Olga set the topic to “Novels, monthly”" }).waitFor();
  }
  const photo = await canvasJpeg(pageA, 640, 480);
  await panelA
    .getByLabel("Change the group's picture")
    .setInputFiles({ name: "club.jpg", mimeType: "image/jpeg", buffer: photo });
  for (const page of [pageA, pageB]) {
    await page.locator(".system-line", { hasText: "Olga changed the group's picture" }).waitFor();
    const row = page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: /Book club/ });
    await row.locator("img.picture").waitFor();
  }
  const maxRow = panelA.getByRole("list", { name: "Group members" }).getByRole("listitem").filter({ hasText: "Max" });
  await maxRow.getByRole("button", { name: "Make admin" }).click();
  await maxRow.getByText("Admin").waitFor();
  await pageB.locator(".system-line", { hasText: "Olga made Max an admin" }).waitFor();

  await pageB.getByRole("button", { name: "Details" }).click();
  const panelB = pageB.getByRole("complementary", { name: "Group details" });
  await panelB.getByLabel("Topic").waitFor();
  await panelB.getByLabel("Add people").fill(nina);
  await panelB.getByRole("button", { name: new RegExp(`Add Nina \\(@${nina}\\)`) }).click();
  for (const page of [pageA, pageB]) {
    await page.locator(".system-line", { hasText: "Max added Nina" }).waitFor();
  }
  await panelA.getByRole("list", { name: "Group members" }).getByText("Nina", { exact: true }).waitFor();
  await pageA.screenshot({ path: `${screenshotDir}/group-details.png` });
  await pageA.getByRole("heading", { name: "Members (3)" }).waitFor();
});

test("the removed member sees a notice and loses the room", async () => {
  const panelA = pageA.getByRole("complementary", { name: "Group details" });
  const maxRow = panelA.getByRole("list", { name: "Group members" }).getByRole("listitem").filter({ hasText: "Max" });
  pageA.once("dialog", (dialog) => dialog.accept());
  await maxRow.getByRole("button", { name: "Remove" }).click();
  await pageB.getByText("You were removed from Book club").waitFor();
  await pageB.getByText("You are not a member of this conversation (any more).").waitFor();
  const rooms = pageB.getByRole("navigation", { name: "Rooms" });
  await rooms.getByText("No conversations yet.").waitFor();
  await pageA.locator(".system-line", { hasText: "Olga removed Max" }).waitFor();
});

test("no page errors", () => {
  assert.deepEqual(errors, []);
});
