// One person signed in from two browsers: from the settings page of one, the other session
// is signed out, and that browser shows the sign-in form at once; then a new password, a
// new name, blocking someone and unblocking them, and deleting the account.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { baseUrl, canvasJpeg, createAccount, launchBrowser, uniqueName } from "./support.mjs";

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

test("a picture is cut square, shown to others, and can be removed", async () => {
  await pageA.goto(`${baseUrl}/settings`);
  const field = pageA.locator(".picture-field");
  const photo = await canvasJpeg(pageA, 1200, 800);
  await pageA.getByLabel("Change picture").setInputFiles({ name: "me.jpg", mimeType: "image/jpeg", buffer: photo });
  await pageA.getByRole("status").filter({ hasText: "Your new picture is saved." }).waitFor();
  const img = field.locator("img.picture");
  await img.waitFor();
  await pageA.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  const size = await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]);
  assert.deepEqual(size, [256, 256], "the server keeps a 256 px square");

  // Someone who shares a room sees it (in their room list); nobody else may fetch it.
  const friendName = uniqueName("friend");
  const friend = await api("POST", "/auth/register", null, {
    username: friendName,
    password: "correct horse battery",
    display_name: "Friend",
  });
  const stranger = await api("POST", "/auth/register", null, {
    username: uniqueName("stranger"),
    password: "correct horse battery",
  });
  const [sam] = (await api("GET", `/users?q=${username}`, friend.body.token)).body;
  const url = sam.avatar_url;
  assert.ok(url, "search shows the picture");
  const fetchAs = async (token) =>
    (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status;
  assert.equal(await fetchAs(stranger.body.token), 403);
  const direct = await api("POST", "/rooms/direct", friend.body.token, { user_id: sam.id });
  assert.equal(direct.status, 201);
  assert.equal(await fetchAs(friend.body.token), 200);
  const friendPage = await (await browser.newContext()).newPage();
  friendPage.on("pageerror", (error) => errors.push(`friend: ${error.message}`));
  friendPage.setDefaultTimeout(TIMEOUT);
  await friendPage.goto(baseUrl);
  await friendPage.getByLabel("Username").fill(friendName);
  await friendPage.getByLabel("Password").fill("correct horse battery");
  await friendPage.getByRole("button", { name: "Sign in" }).click();
  const row = friendPage.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: /Samantha/ });
  await row.locator("img.picture").waitFor();
  assert.equal(await row.locator("img.picture").getAttribute("src"), url);
  await friendPage.context().close();

  await field.getByRole("button", { name: "Remove picture" }).click();
  await pageA.getByRole("status").filter({ hasText: "Your picture is removed." }).waitFor();
  await img.waitFor({ state: "detached" });
  assert.equal(await fetchAs(friend.body.token), 404, "the old picture is gone");
});

/** A REST call as a bot or a phone would make it. */
async function api(method, path, token, body) {
  const response = await fetch(`${baseUrl}/api/v1${path}`, {
    method,
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

test("blocking someone from their direct room keeps them from starting one, until unblocked", async () => {
  const pest = uniqueName("pest");
  const registered = await api("POST", "/auth/register", null, {
    username: pest,
    password: "correct horse battery",
    display_name: "Pest",
  });
  assert.equal(registered.status, 201);
  const token = registered.body.token;
  const [sam] = (await api("GET", `/users?q=${username}`, token)).body;
  assert.equal((await api("POST", "/rooms/direct", token, { user_id: sam.id })).status, 201);

  await pageA.goto(baseUrl);
  await pageA.getByRole("navigation", { name: "Rooms" }).getByText("Pest").click();
  // A direct room mutes from its header.
  await pageA.getByRole("button", { name: "Mute", exact: true }).click();
  await pageA.getByRole("button", { name: "Unmute", exact: true }).waitFor();
  const rooms = await (await pageA.request.get(`${baseUrl}/api/v1/rooms`)).json();
  const withPest = rooms.find((r) => r.kind === "direct" && r.members.some((m) => m.user.display_name === "Pest"));
  assert.equal(withPest.muted, true);
  pageA.once("dialog", (dialog) => dialog.accept());
  await pageA.getByRole("button", { name: "Block" }).click();
  await pageA.getByRole("status").filter({ hasText: "Pest is blocked." }).waitFor();
  await pageA.getByRole("button", { name: "Unblock" }).waitFor();
  const refused = await api("POST", "/rooms/direct", token, { user_id: sam.id });
  assert.equal(refused.status, 403);

  await pageA.goto(`${baseUrl}/settings`);
  const blocked = pageA.getByRole("list", { name: "Blocked people" });
  await blocked.getByRole("listitem").filter({ hasText: "Pest" }).getByRole("button", { name: "Unblock" }).click();
  await pageA.getByText("Nobody. Block someone").waitFor();
  assert.equal((await api("POST", "/rooms/direct", token, { user_id: sam.id })).status, 200);
});

test("deleting the account takes the password, signs every browser out and frees the name", async () => {
  await pageA.goto(`${baseUrl}/settings`);
  const form = pageA.locator("form", { has: pageA.getByRole("heading", { name: "Delete account" }) });
  await form.getByText("This cannot be undone.").waitFor();
  await form.getByLabel("Your password").fill("not the password");
  await form.getByRole("button", { name: "Delete my account" }).click();
  await form.getByRole("alert").filter({ hasText: "password is not right" }).waitFor();
  await form.getByLabel("Your password").fill("another good password");
  await form.getByRole("button", { name: "Delete my account" }).click();
  await pageA.getByRole("button", { name: "Sign in" }).waitFor();
  await pageB.getByRole("button", { name: "Sign in" }).waitFor();
  const again = await api("POST", "/auth/register", null, {
    username,
    password: "correct horse battery",
  });
  assert.equal(again.status, 201, "the username is free again");
});

test("no page errors", () => {
  assert.deepEqual(errors, []);
});
