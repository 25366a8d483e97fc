// Drives Swagger UI at $ORGSVC_URL/docs/ in headless Chromium the way a new user would: create an
// organization with "Try it out", log in, paste the token into "Authorize", then call
// GET /org/get and POST /org/documents and read what the page shows. Saves a screenshot to
// $SCREENSHOT. Run by tests/api/browser.rs; playwright-core comes from $PLAYWRIGHT_MODULES
// (scripts/browser.sh), Chromium from Debian.
import { createRequire } from "node:module";

const require = createRequire(`${process.env.PLAYWRIGHT_MODULES}/`);
const { chromium } = require("playwright-core");

const base = process.env.ORGSVC_URL;
const screenshot = process.env.SCREENSHOT;
const name = `Browser ${Date.now()}`;
const email = `browser${Date.now()}@example.com`;
const password = "browser passphrase 1";

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  // The machine's network is closed: without the background-networking flags Chromium keeps
  // trying to reach Google.
  args: [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
  ],
});

/** Expands an operation, clicks "Try it out", fills it, executes, and returns what the page
 *  shows as the live response: its status code and body text. */
async function tryItOut(page, operation, { body, params = {} }) {
  const block = page.locator(`#operations-${operation}`);
  await block.locator(".opblock-summary").first().click();
  await block.locator("button.try-out__btn").click();
  if (body !== undefined) {
    await block.locator("textarea.body-param__text").fill(JSON.stringify(body));
  }
  for (const [param, value] of Object.entries(params)) {
    await block.locator(`input[placeholder="${param}"]`).fill(value);
  }
  await block.locator("button.execute").click();
  const live = block.locator(".live-responses-table .response").first();
  try {
    await live.waitFor({ timeout: 15000 });
  } catch (error) {
    throw new Error(`${operation} showed no response; the block reads:\n${await block.innerText()}`);
  }
  const status = (await live.locator(".response-col_status").innerText()).trim();
  const text = await live.locator(".response-col_description pre").first().innerText();
  return { status: Number.parseInt(status, 10), text };
}

function expect(condition, message) {
  if (!condition) throw new Error(message);
}

let page;
try {
  page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
  await page.goto(`${base}/docs/`);
  await page.locator(".swagger-ui .information-container .title").waitFor({ timeout: 15000 });
  const title = await page.locator(".swagger-ui .information-container .title").innerText();
  expect(title.includes("orgsvc"), `page title: ${title}`);

  const created = await tryItOut(page, "organizations-create_organization", {
    body: { organization_name: name, email, password },
  });
  expect(created.status === 201, `create: ${created.status} ${created.text}`);
  expect(created.text.includes(`"organization_name": "${name}"`), `create body: ${created.text}`);

  const login = await tryItOut(page, "admin-login", { body: { email, password } });
  expect(login.status === 200, `login: ${login.status} ${login.text}`);
  const token = JSON.parse(login.text).access_token;
  expect(typeof token === "string" && token.length > 20, `token: ${login.text}`);

  // Authorize: the dialog takes the bearer token for every protected operation.
  await page.locator(".scheme-container button.authorize").click();
  const dialog = page.locator(".modal-ux");
  await dialog.locator("input").first().fill(token);
  await dialog.locator("button.authorize").click();
  await dialog.locator("button.btn-done").click();

  // With the organization's own token, the page shows the admin's email.
  const found = await tryItOut(page, "organizations-get_organization", { params: { organization_name: name } });
  expect(found.status === 200, `get: ${found.status} ${found.text}`);
  expect(found.text.includes(`"admin_email": "${email}"`), `get shows no admin email: ${found.text}`);

  const stored = await tryItOut(page, "documents-insert_document", {
    body: { title: "Written from Swagger UI", pages: 3 },
  });
  expect(stored.status === 201, `insert: ${stored.status} ${stored.text}`);
  expect(stored.text.includes("Written from Swagger UI"), `insert body: ${stored.text}`);

  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`swagger-ui: created, logged in, authorized, read and wrote; screenshot ${screenshot}`);
} catch (error) {
  if (page) await page.screenshot({ path: screenshot, fullPage: true }).catch(() => {});
  console.error(`swagger-ui: ${error.stack ?? error}`);
  process.exitCode = 1;
} finally {
  await browser.close();
}
