// One person signed in from two browsers: from the settings page of one, the other session
// is signed out, and that browser shows the sign-in form at once; then a new password.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { baseUrl, createAccount, launchBrowser, uniqueName } from "./support.mjs";

const TIMEOUT = 15_000;
let browser, pageA, pageB, username;
const errors = [];

before(async () => {
  browser = await launchBrowser();
  pageA = await (await browser.newContext()).newPage();
  pageB = await (await browser.newContext({ userAgent: "Second browser" })).newPage();
  for (const [page, who] of [[pageA, "first"], [pageB, "second"]]) {
    page.setDefaultTimeout(TIMEOUT);
    page.on("pageerror", (error) => errors.push(`${who}: ${error.message}`));
  }
});

after(async () => {
  await browser?.close();
});

test("signing out another session from settings signs that browser out", async () => {
  await pageA.goto(baseUrl);
  username = uniqueName("sam");
  await createAccount(pageA, username, "Sam");
  await pageB.goto(baseUrl);
  await pageB.getByLabel("Username").fill(username);
  await pageB.getByLabel("Password").fill("correct horse battery");
  await pageB.getByRole("button", { name: "Sign in" }).click();
  await pageB.getByRole("navigation", { name: "Rooms" }).waitFor();

  await pageA.getByRole("link", { name: "Settings" }).click();
  const sessions = pageA.getByRole("list", { name: "Sessions" });
  const other = sessions.getByRole("listitem").filter({ hasText: "Second browser" });
  await other.waitFor();
  assert.equal(await sessions.getByRole("listitem").count(), 2);
  await sessions.getByRole("listitem").filter({ hasText: "This device" }).waitFor();
  await other.getByRole("button", { name: "Sign out" }).click();
  await other.waitFor({ state: "detached" });
  await pageB.getByRole("button", { name: "Sign in" }).waitFor();
});

test("a new password is refused when the current one is wrong, then works", async () => {
  await pageA.getByLabel("Current password").fill("not the password");
  await pageA.getByLabel("New password").fill("another good password");
  await pageA.getByRole("button", { name: "Change password" }).click();
  await pageA.getByRole("alert").filter({ hasText: "current password" }).waitFor();
  await pageA.getByLabel("Current password").fill("correct horse battery");
  await pageA.getByRole("button", { name: "Change password" }).click();
  await pageA.getByRole("status").filter({ hasText: "Password changed" }).waitFor();
  await pageB.getByLabel("Username").fill(username);
  await pageB.getByLabel("Password").fill("another good password");
  await pageB.getByRole("button", { name: "Sign in" }).click();
  await pageB.getByRole("navigation", { name: "Rooms" }).waitFor();
});

test("a new display name shows at once", async () => {
  await pageA.getByLabel("Display name").fill("Samantha");
  await pageA.getByRole("button", { name: "Save" }).click();
  await pageA.getByRole("status").filter({ hasText: "Saved" }).waitFor();
  await pageA.goto(baseUrl);
  await pageA.locator(".who", { hasText: "Samantha" }).waitFor();
});

test("no page errors", () => {
  assert.deepEqual(errors, []);
});
