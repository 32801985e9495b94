// Two people in two browser contexts go through Confab's main journey: sign up, create a
// group, share an invite that the second person opens signed out, join, talk both ways,
// watch statuses and typing, survive going offline, and find everything after a reload.
// The steps run in order and share the two pages.
import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  baseUrl,
  createAccount,
  launchBrowser,
  launchPersistentBrowser,
  screenshotDir,
  sendMessage,
  uniqueName,
} from "./support.mjs";

const TIMEOUT = 15_000;
const DESKTOP = { viewport: { width: 1100, height: 720 } };
const group = "Weekend trip";
let browser, alice, bob, pageA, pageB, inviteUrl, aliceName, bobName;
const errors = [];

async function shot(page, name) {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

function log(page) {
  return page.getByRole("log", { name: "Messages" });
}

function watchErrors(page, who) {
  page.on("pageerror", (error) => errors.push(`${who}: ${error.message}`));
}

before(async () => {
  await mkdir(screenshotDir, { recursive: true });
  browser = await launchBrowser();
  alice = await browser.newContext(DESKTOP);
  bob = await browser.newContext(DESKTOP);
  await alice.grantPermissions(["clipboard-read", "clipboard-write"], { origin: baseUrl });
  pageA = await alice.newPage();
  pageB = await bob.newPage();
  pageA.setDefaultTimeout(TIMEOUT);
  pageB.setDefaultTimeout(TIMEOUT);
  watchErrors(pageA, "alice");
  watchErrors(pageB, "bob");
});

after(async () => {
  await browser?.close();
});

// Alice, signed in on another device of hers (`options` says which): her session and her
// copy of the room list, on a page with no history, at the app's start.
async function aliceElsewhere(options) {
  const context = await browser.newContext({ ...options, storageState: await alice.storageState() });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  await page.goto(baseUrl);
  return { context, page };
}

test("a visitor creates an account and sees an empty room list", async () => {
  await pageA.goto(baseUrl);
  await pageA.getByRole("button", { name: "Sign in" }).waitFor();
  await shot(pageA, "sign-in");
  aliceName = uniqueName("alice");
  await createAccount(pageA, aliceName, "Alice");
  await pageA.getByRole("navigation", { name: "Rooms" }).waitFor();
  await pageA.getByRole("button", { name: "Sign out" }).waitFor();
});

test("she creates a group and it opens", async () => {
  await pageA.getByRole("button", { name: "New group" }).click();
  await pageA.getByLabel("Group name").fill(group);
  await pageA.getByRole("searchbox", { name: "Add people" }).waitFor();
  await pageA.getByRole("button", { name: "Create" }).click();
  await pageA.getByRole("heading", { name: group }).waitFor();
  await pageA.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: group }).waitFor();
  assert.match(pageA.url(), /\/rooms\//);
});

test("she creates an invite link and copies it", async () => {
  await pageA.getByRole("button", { name: "Invite link" }).click();
  const field = pageA.getByRole("textbox", { name: "Invite link" });
  await field.waitFor();
  await pageA.waitForFunction(
    () => document.querySelector(".invite-panel input[readonly]")?.value.includes("/invite/"),
  );
  inviteUrl = await field.inputValue();
  assert.match(inviteUrl, /^http:\/\/127\.0\.0\.1:\d+\/invite\/.+/);
  assert.equal(await field.getAttribute("readonly"), "");
  await pageA.getByRole("button", { name: "Revoke" }).waitFor();
  await pageA.getByRole("button", { name: "Copy" }).click();
  await pageA.getByText("Link copied.").waitFor();
  assert.equal(await pageA.evaluate(() => navigator.clipboard.readText()), inviteUrl);
  await shot(pageA, "invite-link");
  await pageA.getByRole("button", { name: "Invite link" }).click();
});

test("a signed-out visitor opens the invite, creates an account there and joins", async () => {
  await pageB.goto(inviteUrl);
  await pageB.getByRole("heading", { name: group }).waitFor();
  await pageB.getByText("Sign in or create an account to join.").waitFor();
  await shot(pageB, "invite-signed-out");
  bobName = uniqueName("bob");
  await createAccount(pageB, bobName, "Bob");
  // Still on the invite, now with a Join button.
  assert.equal(pageB.url(), inviteUrl);
  await pageB.getByRole("button", { name: "Join" }).click();
  await pageB.waitForURL(/\/rooms\//);
  await log(pageB).waitFor();
  await pageB.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: group }).waitFor();
});

test("messages go both ways, keep line breaks, and are never HTML", async () => {
  await sendMessage(pageA, "Hello Bob!\nPacking list tonight?");
  const received = log(pageB).locator(".msg", { hasText: "Hello Bob!" });
  await received.waitFor();
  assert.equal(await received.locator(".body").innerText(), "Hello Bob!\nPacking list tonight?");

  await sendMessage(pageB, "<b>Sure</b> & bring snacks");
  const reply = log(pageA).locator(".msg", { hasText: "<b>Sure</b> & bring snacks" });
  await reply.waitFor();
  assert.equal(await reply.locator("b").count(), 0, "markup is shown as text");
});

test("her message's status reaches Read once Bob has seen it", async () => {
  const mine = log(pageA).locator(".msg.mine", { hasText: "Hello Bob!" });
  await mine.locator('.status[aria-label^="Read"]').waitFor();
  assert.match(await mine.locator(".status").getAttribute("aria-label"), /Read by Bob/);
  await log(pageA).getByText("Read by Bob").waitFor();
});

test("Alice sees Bob typing", async () => {
  await pageB.getByRole("textbox", { name: "Message" }).pressSequentially("Let me think");
  await pageA.getByText("Bob is typing…").waitFor();
  await shot(pageA, "chat-desktop");
  await pageB.getByRole("textbox", { name: "Message" }).press("Enter");
  await log(pageA).getByText("Let me think").waitFor();
});

test("a message written offline waits, then arrives exactly once", async () => {
  await bob.setOffline(true);
  await pageB.getByText("You are offline.").waitFor();
  await sendMessage(pageB, "Written in a tunnel");
  const pending = log(pageB).locator(".msg.mine", { hasText: "Written in a tunnel" });
  await pending.locator('.status[aria-label="Sending"]').waitFor();
  await pageB.getByText("1 message waits to be sent.").waitFor();
  await shot(pageB, "offline");

  await bob.setOffline(false);
  await pending.locator('.status:not([aria-label="Sending"])').waitFor();
  await log(pageA).getByText("Written in a tunnel").waitFor();
  assert.equal(await log(pageA).getByText("Written in a tunnel").count(), 1);
  assert.equal(await log(pageB).getByText("Written in a tunnel").count(), 1);
  await pageB.getByText("You are offline.").waitFor({ state: "hidden" });
});

test("after a reload everything is still there, once", async () => {
  for (const page of [pageA, pageB]) {
    await page.reload();
    await log(page).getByText("Let me think").waitFor();
    for (const text of ["Hello Bob!", "<b>Sure</b> & bring snacks", "Written in a tunnel"]) {
      assert.equal(await log(page).getByText(text).count(), 1, `${text} once`);
    }
    await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: group }).waitFor();
  }
  await log(pageA).locator('.msg.mine .status[aria-label^="Read"]').first().waitFor();
});

test("the room list shows the preview and unread count of another room", async () => {
  // Bob goes back to the list; Alice writes; Bob's list counts it and the title says so.
  await pageB.goto(baseUrl);
  await pageB.getByText("Pick a conversation, or start a new one.").waitFor();
  await sendMessage(pageA, "See you at 9");
  const row = pageB.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: group });
  await row.getByText("Alice: See you at 9").waitFor();
  await row.locator(".badge", { hasText: "1" }).waitFor();
  await pageB.waitForFunction(() => document.title === "(1) Confab");
  // The server's notification for a room not on screen shows as a toast.
  await pageB.locator(".toasts").getByText("Alice: See you at 9").waitFor();
});

test("Bob starts a direct message with Alice", async () => {
  await pageB.getByRole("button", { name: "New message" }).click();
  await pageB.getByRole("searchbox", { name: "Search people" }).fill(aliceName.slice(0, 6));
  await pageB.getByRole("button", { name: new RegExp(`Alice \\(@${aliceName}\\)`) }).click();
  await pageB.waitForURL(/\/rooms\//);
  await pageB.getByRole("heading", { name: "Alice" }).waitFor();
  await sendMessage(pageB, "Just between us");
  const dm = pageA.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "Bob" });
  await dm.getByText("Just between us").waitFor();
  await dm.click();
  await log(pageA).getByText("Just between us").waitFor();
  await log(pageB).locator('.msg.mine .status[aria-label="Read"]').waitFor();
});

test("dialogs take focus, close with Escape and give focus back", async () => {
  await pageA.getByRole("button", { name: "New message" }).click();
  await pageA.getByRole("dialog", { name: "New message" }).waitFor();
  await pageA.waitForFunction(() => document.activeElement?.type === "search");
  await pageA.keyboard.press("Escape");
  await pageA.getByRole("dialog").waitFor({ state: "detached" });
  await pageA.waitForFunction(() => document.activeElement?.textContent === "New message");
});

test("a group can be created with people picked by search", async () => {
  await pageA.getByRole("button", { name: "New group" }).click();
  await pageA.getByLabel("Group name").fill("Book club");
  await pageA.getByRole("searchbox", { name: "Add people" }).fill(bobName);
  await pageA.getByRole("button", { name: `Bob (@${bobName})` }).click();
  await pageA.getByRole("button", { name: "Remove Bob" }).waitFor();
  await pageA.getByRole("button", { name: "Create" }).click();
  await pageA.getByRole("heading", { name: "Book club" }).waitFor();
  await pageA.getByText("2 members").waitFor();
  // Bob is told at once (room:update) and finds it in his list.
  await pageB.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "Book club" }).waitFor();
});

// Calls the API from inside a page, with its session cookie, as the app does.
async function api(page, method, path, body) {
  return page.evaluate(
    async ({ method, path, body }) => {
      for (;;) {
        const response = await fetch(`/api/v1${path}`, {
          method,
          headers: { "content-type": "application/json", "x-requested-with": "confab" },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        // Seeding many messages meets the send rate limit; the server says when to retry.
        if (response.status === 429) {
          const seconds = Number(response.headers.get("retry-after") ?? "1");
          await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
          continue;
        }
        return response.json();
      }
    },
    { method, path, body },
  );
}

test("history loads newest first and older pages on scrolling back", async () => {
  const bobUser = await api(pageB, "GET", "/me");
  const room = await api(pageA, "POST", "/rooms", { name: "History", member_ids: [bobUser.id] });
  for (let i = 1; i <= 60; i++) {
    const page = i % 2 ? pageA : pageB;
    const body = { client_id: crypto.randomUUID(), kind: "text", body: `History ${i}` };
    await api(page, "POST", `/rooms/${room.id}/messages`, body);
  }
  // Bob's page got them all live; a fresh start holds none and pages through the history.
  await pageB.goto(baseUrl);
  await pageB.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: "History" }).click();
  await log(pageB).getByText("History 60", { exact: true }).waitFor();
  // The newest page is 50 messages: the first ten wait until the reader scrolls back.
  assert.equal(await log(pageB).getByText("History 1", { exact: true }).count(), 0);
  await log(pageB).evaluate((el) => {
    el.scrollTop = 0;
  });
  await log(pageB).getByText("History 1", { exact: true }).waitFor();
  assert.equal(await log(pageB).locator(".msg").count(), 60);
});

test("on a phone the list and the room take turns", async () => {
  const { context: phone, page } = await aliceElsewhere({
    viewport: { width: 390, height: 780 },
    isMobile: true,
    hasTouch: true,
  });
  const rooms = page.getByRole("navigation", { name: "Rooms" });
  await rooms.getByRole("link", { name: group }).click();
  await log(page).getByText("See you at 9").waitFor();
  assert.equal(await rooms.isVisible(), false, "the list is hidden while a room is open");
  await shot(page, "chat-phone");
  await page.getByRole("link", { name: "Back to rooms" }).click();
  await rooms.waitFor();
  await shot(page, "rooms-phone");
  await phone.close();
});

test("the app is an installable PWA with a service worker", async () => {
  const manifest = await (await fetch(`${baseUrl}/manifest.webmanifest`)).json();
  assert.equal(manifest.name, "Confab");
  assert.equal(manifest.short_name, "Confab");
  assert.equal(manifest.display, "standalone");
  assert.equal(manifest.start_url, "/");
  assert.ok(manifest.theme_color && manifest.background_color);
  const sizes = (purpose) =>
    manifest.icons.filter((i) => i.purpose === purpose).map((i) => i.sizes).sort();
  assert.deepEqual(sizes("any"), ["192x192", "512x512"]);
  assert.deepEqual(sizes("maskable"), ["192x192", "512x512"]);
  for (const icon of manifest.icons) {
    const response = await fetch(new URL(icon.src, baseUrl));
    assert.equal(response.headers.get("content-type"), "image/png");
  }

  const state = await pageA.evaluate(async () => (await navigator.serviceWorker.ready).active.state);
  assert.match(state, /activat/);
  // Chromium never offers to install from an incognito profile, which every Playwright
  // context is: ask a persistent (ordinary) profile.
  const profile = await mkdtemp(join(tmpdir(), "confab-profile-"));
  const context = await launchPersistentBrowser(profile);
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    await page.goto(baseUrl);
    await page.evaluate(() => navigator.serviceWorker.ready);
    const cdp = await context.newCDPSession(page);
    const { installabilityErrors } = await cdp.send("Page.getInstallabilityErrors");
    assert.deepEqual(installabilityErrors, []);
  } finally {
    await context.close();
    await rm(profile, { recursive: true, force: true });
  }
});

// Alice's app on a device of its own, opened once online: its service worker installed,
// active and in control of the page, as an installed app's is. The service-worker tests
// each start from one so that none depends on what the worker of the long journey above
// went through (stopped when idle, restarted under DevTools, its cache written by every
// page load).
async function installedApp() {
  const { context, page } = await aliceElsewhere(DESKTOP);
  watchErrors(page, "alice (installed)");
  await page.waitForFunction(() => navigator.serviceWorker.controller?.state === "activated");
  return { context, page };
}

// What DevTools reports of the service workers of `cdp`'s page, to explain a failure.
function watchServiceWorkers(cdp) {
  const seen = [];
  const started = Date.now();
  const note = (kind, detail) => seen.push(`${Date.now() - started} ms ${kind} ${JSON.stringify(detail)}`);
  cdp.on("ServiceWorker.workerVersionUpdated", ({ versions }) =>
    note(
      "versions",
      versions.map((v) => ({ id: v.versionId, status: v.status, running: v.runningStatus })),
    ),
  );
  cdp.on("ServiceWorker.workerErrorReported", ({ errorMessage }) => note("error", errorMessage));
  return { note, report: () => seen.join("\n") };
}

test("a push wakes the service worker, which shows the room's notification", async () => {
  // The push service itself cannot be reached from here: DevTools delivers the push to the
  // service worker as the browser would on a push service's word.
  const { context, page } = await installedApp();
  const cdp = await context.newCDPSession(page);
  try {
    await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: group }).click();
    await page.getByRole("heading", { name: group }).waitFor();
    const room = decodeURIComponent(new URL(page.url()).pathname.split("/").pop());
    await context.grantPermissions(["notifications"], { origin: baseUrl });
    const workers = watchServiceWorkers(cdp);
    const registration = new Promise((resolve) => {
      cdp.on("ServiceWorker.workerRegistrationUpdated", ({ registrations }) => {
        const ours = registrations.find((r) => r.scopeURL === `${baseUrl}/` && !r.isDeleted);
        if (ours) resolve(ours.registrationId);
      });
    });
    await cdp.send("ServiceWorker.enable");
    const payload = { kind: "message", room_id: room, message_id: null, title: group, text: "Bob: are we on?" };
    workers.note("push", payload.text);
    await cdp.send("ServiceWorker.deliverPushMessage", {
      origin: baseUrl,
      registrationId: await registration,
      data: JSON.stringify(payload),
    });
    // Every notification shown, once one for `room` is (a push's handling is asynchronous);
    // none after 10 s of looks 100 ms apart.
    const shownFor = async (room) => {
      for (let i = 0; i < 100; i++) {
        const all = await page.evaluate(async () =>
          (await (await navigator.serviceWorker.ready).getNotifications()).map((n) => ({
            title: n.title,
            body: n.body,
            tag: n.tag,
            room: n.data?.room_id,
          })),
        );
        if (all.some((n) => n.room === room)) return all;
        await page.waitForTimeout(100);
      }
      return [];
    };
    assert.deepEqual(
      await shownFor(room),
      [{ title: group, body: "Bob: are we on?", tag: `room:${room}`, room }],
      `the service worker as DevTools saw it:\n${workers.report()}`,
    );

    // The page's own notifications (its tab hidden) go through the same worker: what the
    // app posts to it shows as a pushed one would.
    await page.evaluate(async () => {
      const registration = await navigator.serviceWorker.ready;
      registration.active.postMessage({ type: "notify", title: "Confab", body: "Carol: hi", room_id: "elsewhere" });
    });
    const fromPage = (await shownFor("elsewhere")).filter((n) => n.room === "elsewhere");
    assert.deepEqual(
      fromPage,
      [{ title: "Confab", body: "Carol: hi", tag: "room:elsewhere", room: "elsewhere" }],
      `the service worker as DevTools saw it:\n${workers.report()}`,
    );
  } finally {
    await cdp.detach().catch(() => undefined);
    await context.close();
  }
});

test("offline, the installed app still starts and shows the room list", async () => {
  const { context, page } = await installedApp();
  try {
    await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: group }).waitFor();
    await context.setOffline(true);
    await page.reload();
    await page.getByText("You are offline.").waitFor();
    await page.getByRole("navigation", { name: "Rooms" }).getByRole("link", { name: group }).waitFor();
    await shot(page, "offline-start");
  } finally {
    await context.close();
  }
});

test("no page script failed", () => {
  assert.deepEqual(errors, []);
});
