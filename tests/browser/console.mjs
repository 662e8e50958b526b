// The console in a real browser (Debian's chromium through playwright-core),
// against a real collector and agent started by tests/tests/browser.rs.
// Each step prints "ok <step>"; the first failure throws and exits non-zero.
// Timings are printed as "measure <name> <ms>". To expire a session the
// script prints "expire <user>" and waits for "expired" on stdin.
import { chromium } from "playwright-core";
import { createInterface } from "node:readline";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set (tests/tests/browser.rs sets it)`);
  return value;
};
const BASE = env("FOREWARN_URL");
const CHROMIUM = env("CHROMIUM");
const SHOTS = env("SCREENSHOT_DIR");
const DEVICE = env("DEVICE_ID");
const HOST = env("DEVICE_HOSTNAME");
const OTHER = env("OTHER_DEVICE_ID");
const users = JSON.parse(env("USERS")); // {admin: [name, password], viewer: [...], scoped: [...]}
const TIMEOUT = 30_000;

mkdirSync(SHOTS, { recursive: true });
const lines = createInterface({ input: process.stdin });
const nextLine = () => new Promise((resolve) => lines.once("line", resolve));

function check(condition, message) {
  if (!condition) throw new Error(message);
}
const ok = (step) => console.log(`ok ${step}`);

async function login(page, [name, password], next = "/") {
  await page.goto(`${BASE}${next}`);
  check(new URL(page.url()).pathname === "/login", `a signed-out visit to ${next} lands on /login, not ${page.url()}`);
  await page.fill("#username", name);
  await page.fill("#password", password);
  await Promise.all([page.waitForURL((u) => u.pathname === next, { timeout: TIMEOUT }), page.click("#login button[type=submit]")]);
}

// Status of an API call made by the page itself (its cookie and CSRF token).
async function apiStatus(page, method, path, body) {
  return page.evaluate(
    async ([method, path, body]) => {
      const csrf = document.cookie.split("; ").find((c) => c.startsWith("forewarn_csrf="))?.split("=")[1] ?? "";
      const response = await fetch(path, {
        method,
        headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
        body: body ? JSON.stringify(body) : undefined,
      });
      return { status: response.status, body: await response.text() };
    },
    [method, path, body]
  );
}

async function shoot(page, name) {
  for (const width of [1400, 420]) {
    await page.setViewportSize({ width, height: 900 });
    await page.waitForTimeout(100);
    const { overflow, widest } = await page.evaluate(() => {
      // The outermost elements reaching past the window name what to fix.
      const past = [...document.querySelectorAll("body *")].filter(
        (e) => e.getBoundingClientRect().right > window.innerWidth + 1 && (getComputedStyle(e).position === "absolute" || !e.parentElement.closest(".scroll"))
      );
      // Or whose own content (text that cannot wrap) spills out of them.
      for (const e of document.querySelectorAll("body, body *")) {
        if (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === "visible" && !e.closest(".scroll")) past.push(e);
      }
      const outer = past.filter((e) => !past.includes(e.parentElement));
      return {
        overflow: document.documentElement.scrollWidth - window.innerWidth,
        widest: outer.slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className} (${Math.round(e.getBoundingClientRect().right)} px, content ${e.scrollWidth} px in ${e.clientWidth} px)`),
      };
    });
    check(
      overflow <= 1,
      `${name} at ${width} px is ${overflow} px wider than the window (usable at 420 px); past its edge: ${widest.join(", ")}`
    );
    await page.screenshot({ path: join(SHOTS, `${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1400, height: 900 });
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
try {
  const admin = await browser.newContext({ viewport: { width: 1400, height: 900 }, colorScheme: "light" });
  const page = await admin.newPage();
  const scriptErrors = [];
  page.on("pageerror", (err) => scriptErrors.push(`${page.url()}: ${err.message}`));

  // Signed out: every page sends to the sign-in page.
  await page.goto(`${BASE}/alerts`);
  check(page.url() === `${BASE}/login?next=%2Falerts`, `signed-out /alerts went to ${page.url()}`);
  await shoot(page, "login");
  ok("signed-out visitors are sent to the sign-in page");

  await login(page, users.admin);
  ok("sign in");

  // The overview shows the real agent's failed backup.
  const card = page.locator('[data-testid="card-backups"]');
  await card.locator(`a[href^="/devices/${DEVICE}"]`).first().waitFor({ timeout: TIMEOUT });
  const cardText = await card.innerText();
  check(cardText.includes(HOST) && /nightly/i.test(cardText), `backups card: ${cardText}`);
  await shoot(page, "overview");
  ok("the overview shows the failed backup");

  // Open the device page from the alert.
  await Promise.all([page.waitForURL((u) => u.pathname === `/devices/${DEVICE}`), card.locator(`a[href^="/devices/${DEVICE}"]`).first().click()]);
  const backupRow = page.locator('#backups tr[data-job="nightly"]');
  check((await backupRow.innerText()).includes("failed"), "the device page lists the failed job");
  check((await page.locator("svg.chart").count()) > 0, "the device page draws disk charts");
  await shoot(page, "device");
  ok("the device page opens from the alert");

  // Acknowledge it with a note.
  const note = "NAS disk replaced; watching tonight's run";
  const alertRow = page.locator('#device-alerts tr[data-rule="backup_failed"]');
  await alertRow.locator('button[data-action="ack"]').click();
  await page.locator("#prompt[open]").waitFor();
  await page.fill("#prompt-text", note);
  await page.click("#prompt-ok");
  await page.locator('#device-alerts tr[data-rule="backup_failed"][data-state="acknowledged"]').waitFor({ timeout: TIMEOUT });
  ok("acknowledge with a note");

  // The alert list shows who and why.
  await page.goto(`${BASE}/alerts?state=all`);
  const listed = page.locator('#alerts tr[data-rule="backup_failed"] [data-testid="ack"]');
  const ackText = await listed.innerText();
  check(ackText.includes(users.admin[0]) && ackText.includes(note), `the alert list says: ${ackText}`);
  await shoot(page, "alerts");
  ok("the alert list shows who acknowledged and why");

  // Silence the device for 1 h.
  await page.goto(`${BASE}/devices/${DEVICE}`);
  await page.click('button[data-action="silence-device"][data-secs="3600"]');
  await page.locator("#live", { hasText: "Device silenced." }).waitFor({ timeout: TIMEOUT });
  await page.goto(`${BASE}/silences`);
  const silence = page.locator(`tr[data-device="${DEVICE}"]`).first();
  const silenceText = await silence.innerText();
  check(silenceText.includes("in force") && silenceText.includes(HOST), `silence row: ${silenceText}`);
  ok("silence the device for 1 h");

  // A weekly maintenance window: a missing field is named, then it is made.
  const weekly = page.locator("#weekly-window");
  await weekly.locator('input[name="comment"]').fill("patch night");
  await weekly.locator('button[type="submit"]').click();
  await weekly.locator("[data-result]", { hasText: "weekly.days" }).waitFor({ timeout: TIMEOUT });
  await weekly.locator('input[name="days"][value="saturday"]').check();
  await weekly.locator('input[name="days"][value="sunday"]').check();
  await weekly.locator('input[name="start"]').fill("01:30");
  await weekly.locator('input[name="duration_minutes"]').fill("240");
  await weekly.locator('button[type="submit"]').click();
  await page.locator("#live", { hasText: "Weekly window created" }).waitFor({ timeout: TIMEOUT });
  for (const day of ["Sat", "Sun"]) {
    const row = page.locator("table.silences tr", { hasText: `every ${day} 01:30 UTC for 240 min` });
    await row.first().waitFor({ timeout: TIMEOUT });
    check((await row.count()) === 1, `one weekly window on ${day}`);
    const rowText = await row.innerText();
    check(rowText.includes("patch night"), `the ${day} window keeps its comment`);
    check(rowText.includes(`next: ${day} `) || rowText.includes("in force"), `the ${day} window says when it next holds: ${rowText}`);
  }
  await shoot(page, "silences");
  ok("create a weekly maintenance window");

  // A new report appears without reloading: time it from the API seeing it.
  await page.goto(`${BASE}/devices/${DEVICE}`);
  await page.evaluate(() => (window.__notReloaded = true));
  const latencies = [];
  for (let i = 0; i < 3; i++) {
    const ms = await page.evaluate(
      async ([device, timeout]) => {
        const seqNow = () => document.querySelector('[data-testid="last-report"]').dataset.seq;
        const lastSeen = async () => (await (await fetch(`/api/v1/devices/${device}`)).json()).device.last_seen_at;
        const startSeq = seqNow();
        const startSeen = await lastSeen();
        const deadline = Date.now() + timeout;
        let apiAt = null;
        while (Date.now() < deadline) {
          if (apiAt === null && (await lastSeen()) !== startSeen) apiAt = performance.now();
          if (seqNow() !== startSeq) {
            const pageAt = performance.now();
            return apiAt === null ? 0 : pageAt - apiAt;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
        throw new Error("no new report shown within the timeout");
      },
      [DEVICE, TIMEOUT]
    );
    latencies.push(ms);
  }
  check(await page.evaluate(() => window.__notReloaded === true), "the page was reloaded");
  for (const ms of latencies) console.log(`measure report_to_page_ms ${ms.toFixed(0)}`);
  ok("a new report appears without a reload");

  // The other pages, and dark mode following the system.
  await page.goto(`${BASE}/devices`);
  await page.keyboard.press("/");
  check(await page.evaluate(() => document.activeElement?.name === "q"), "'/' focuses the search box");
  await page.keyboard.press("Escape");
  // Blurring keeps the browser's sequential-focus starting point at the search box:
  // a fresh load starts from the top of the page, as a keyboard user arrives.
  await page.goto(`${BASE}/devices`);
  await page.keyboard.press("Tab");
  check(await page.evaluate(() => document.activeElement?.classList.contains("skip")), "Tab reaches the skip link first");
  await shoot(page, "devices");
  await page.goto(`${BASE}/settings`);
  await page.click('button[data-action="test-connector"][data-name="hook"]');
  const tested = page.locator('[data-connector-result="hook"][data-ok="false"]');
  await tested.waitFor({ timeout: TIMEOUT });
  const testedText = await tested.innerText();
  check(
    testedText.startsWith("Not ready") && testedText.includes("http://127.0.0.1:9/hook") && testedText.includes("[tickets.connectors.hook]"),
    `the connector test says: ${testedText}`
  );
  ok("send test on a ticket connector shows its error and what to check");
  await shoot(page, "settings");
  await page.goto(`${BASE}/audit`);
  check((await page.locator("#audit").innerText()).includes("alert.ack"), "the audit log lists the acknowledgement");
  await shoot(page, "audit");
  await page.emulateMedia({ colorScheme: "dark" });
  await page.goto(`${BASE}/devices/${DEVICE}`);
  const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await page.emulateMedia({ colorScheme: "light" });
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(dark !== light, `dark mode follows the system (${dark} vs ${light})`);
  await page.emulateMedia({ colorScheme: "dark" });
  await page.screenshot({ path: join(SHOTS, "device-dark-1400.png"), fullPage: true });
  await page.emulateMedia({ colorScheme: "light" });
  ok("keyboard, 420 px and dark mode");

  // Sign out.
  await Promise.all([page.waitForURL((u) => u.pathname === "/login"), page.click('button[data-action="logout"]')]);
  await page.goto(`${BASE}/`);
  check(new URL(page.url()).pathname === "/login", "signed out: / goes to /login");
  ok("sign out");
  check(scriptErrors.length === 0, `script errors: ${scriptErrors.join("; ")}`);

  // A viewer sees no ack button and the API refuses with 403.
  const viewerContext = await browser.newContext();
  const viewer = await viewerContext.newPage();
  await login(viewer, users.viewer, `/devices/${DEVICE}`);
  await viewer.locator('#device-alerts tr[data-rule="backup_failed"]').waitFor();
  check((await viewer.locator('button[data-action="ack"], button[data-action="silence-device"]').count()) === 0, "a viewer sees ack or silence buttons");
  const alertId = await viewer.locator('#device-alerts tr[data-rule="backup_failed"]').getAttribute("data-alert");
  const refused = await apiStatus(viewer, "POST", `/api/v1/alerts/${alertId}/ack`, { note: "viewer try" });
  check(refused.status === 403, `a viewer's ack answered ${refused.status}: ${refused.body}`);
  ok("a viewer sees no ack button and gets 403 from the API");

  // An operator scoped to the device's group never sees the other group's device.
  const scopedContext = await browser.newContext();
  const scoped = await scopedContext.newPage();
  await login(scoped, users.scoped);
  const count = await scoped.locator('[data-testid="device-count"] strong').innerText();
  check(count === "1", `the scoped overview counts ${count} devices`);
  const byId = await apiStatus(scoped, "GET", `/api/v1/devices/${OTHER}`);
  check(byId.status === 404, `the other group's device by id answered ${byId.status}`);
  const fleet = JSON.parse((await apiStatus(scoped, "GET", "/api/v1/fleet")).body);
  check(fleet.devices === 1, `the fleet summary counts ${fleet.devices} devices`);
  const pageById = await scoped.goto(`${BASE}/devices/${OTHER}`);
  check(pageById.status() === 404, `the other group's device page answered ${pageById.status()}`);
  for (const path of ["/devices", "/alerts?state=all", "/", "/silences"]) {
    await scoped.goto(`${BASE}${path}`);
    const html = await scoped.content();
    check(!html.includes(OTHER), `${path} shows the other group's device to a scoped operator`);
  }
  await scoped.goto(`${BASE}/devices`);
  check((await scoped.locator('[data-testid="device-total"]').innerText()).startsWith("1 device"), "the scoped device list counts 1");
  ok("a scoped operator gets 404 for another group's device and never sees it");

  // An expired session sends back to sign-in.
  console.log(`expire ${users.viewer[0]}`);
  check((await nextLine()) === "expired", "the test harness did not expire the session");
  await viewer.goto(`${BASE}/devices`);
  check(viewer.url() === `${BASE}/login?next=%2Fdevices`, `an expired session went to ${viewer.url()}`);
  ok("an expired session redirects to sign-in");
} finally {
  await browser.close();
  lines.close();
}
