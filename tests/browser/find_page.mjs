// Drives the find-a-doctor page in headless Chromium, as a person would: load `/`, search by
// specialty and ZIP, page forward, open a provider, and report what the page showed as one
// JSON line on stdout (tests/find_page.rs asserts on it). Every request to another origin is
// refused, so the page is also proven to work offline.
//
// usage: node find_page.mjs BASE_URL SCREENSHOT_DIR
import { chromium } from "playwright-core";

const [base, shots] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
const seen = { foreign: [], errors: [] };
try {
  // A phone's width: the page must be usable there.
  const page = await browser.newPage({ viewport: { width: 390, height: 1400 } });
  page.on("pageerror", (e) => seen.errors.push(String(e)));
  page.on("console", (m) => { if (m.type() === "error") seen.errors.push(m.text()); });
  await page.route("**/*", (route) => {
    const url = route.request().url();
    if (url.startsWith(base)) return route.continue();
    seen.foreign.push(url);
    return route.abort();
  });
  await page.goto(`${base}/`);
  seen.title = await page.title();
  // Labels name every field (accessibility): find them by label.
  await page.getByLabel("Specialty").fill(process.env.SPECIALTY || "");
  await page.getByLabel("ZIP or city, state").fill("06103");
  await page.getByLabel("Results per page").selectOption("5");
  // Submit with the keyboard.
  await page.getByLabel("ZIP or city, state").press("Enter");
  await page.waitForSelector("#list li");
  const read = async () => page.$$eval("#list li", (items) => items.map((li) => ({
    name: li.querySelector(".name")?.textContent,
    distance: li.querySelector(".distance")?.textContent || null,
    badges: [...li.querySelectorAll(".badge")].map((b) => ({ text: b.textContent, stale: b.classList.contains("stale") })),
    warning: li.querySelector(".warning")?.textContent || null,
  })));
  seen.status = await page.textContent("#status");
  seen.first = await read();
  seen.pins = await page.$$eval("#map circle.pin", (c) => c.length);
  await page.screenshot({ path: `${shots}/find-page-results.png`, fullPage: true });
  // Page forward.
  await page.getByRole("button", { name: "Next" }).click();
  await page.waitForFunction((first) => document.querySelector("#list li .name")?.textContent !== first, seen.first[0].name);
  seen.second = await read();
  seen.pageInfo = await page.textContent("#page-info");
  // Open the first provider of this page.
  await page.locator("#list li .name").first().click();
  await page.waitForSelector("#detail:not([hidden]) .roles li");
  seen.detail = {
    heading: await page.textContent("#detail-body h2"),
    roles: await page.$$eval("#detail-body .roles li", (l) => l.map((x) => x.textContent)),
  };
  await page.screenshot({ path: `${shots}/find-page-detail.png`, fullPage: true });
} finally {
  await browser.close();
}
console.log(JSON.stringify(seen));
