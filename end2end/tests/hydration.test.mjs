// The server-rendered page is taken over by the WASM bundle in a real browser.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { baseUrl, launchBrowser } from "./support.mjs";

let browser;
before(async () => {
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
});

test("the home page hydrates without errors and offers sign-in", async () => {
  const page = await browser.newPage();
  const errors = [];
  page.on("pageerror", (error) => errors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  const response = await page.goto(baseUrl);
  assert.equal(response.status(), 200);
  // Server-rendered, before any script ran: the same neutral shell for every route.
  assert.match(await response.text(), /Loading…/);
  // Only the hydrated client knows nobody is signed in.
  await page.getByRole("button", { name: "Sign in" }).waitFor({ timeout: 15_000 });
  assert.equal(await page.title(), "Confab");
  // A visitor's `GET /me` answers 401, which the browser logs; nothing else may fail.
  assert.deepEqual(
    errors.filter((e) => !e.includes("401")),
    [],
  );
});
