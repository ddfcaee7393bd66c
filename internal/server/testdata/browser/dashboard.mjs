// Drives headless Chromium (Debian's package) through the dashboard of a
// running bintap stream; run by TestDashboardInBrowser with:
//   BINTAP_URL      the dashboard (https://127.0.0.1:PORT)
//   BINTAP_TOKEN    the stream's --http-token, typed into the page once
//   WORKLOAD_TABLE  a table a workload keeps changing
//   SNAPSHOT_TABLE  the table to snapshot from the page
//   ARTIFACTS       directory for the screenshots
//   CHROMIUM        the browser (default /usr/bin/chromium)
//   MODE            "source-down": only check that the page shows the
//                   source unreachable (the test stopped the server)
// It prints one line per step and exits non-zero on the first failure.
import { chromium } from "playwright-core";

const base = process.env.BINTAP_URL;
const token = process.env.BINTAP_TOKEN;
const workTable = process.env.WORKLOAD_TABLE;
const snapTable = process.env.SNAPSHOT_TABLE;
const artifacts = process.env.ARTIFACTS;
const T = 120_000;

function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}
const step = (msg) => console.log("ok: " + msg);

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync"],
});
try {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  const page = await ctx.newPage();
  const problems = [], foreign = [];
  page.on("pageerror", (e) => problems.push("page error: " + e));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  page.on("request", (r) => { if (!r.url().startsWith(base)) foreign.push(r.url()); });
  let tokenAsked = 0;

  if (process.env.MODE === "source-down") {
    await page.goto(base + "/");
    await page.waitForFunction(() => document.getElementById("state").textContent.includes("retrying"), null, { timeout: T });
    await page.waitForFunction(() => !document.getElementById("banner").hidden, null, { timeout: T });
    const banner = await page.textContent("#banner");
    if (!banner.includes("source unreachable")) fail("the banner does not say the source is unreachable: " + banner);
    step("state " + (await page.textContent("#state")) + "; banner: " + banner);
    await page.waitForSelector("#notices li", { timeout: T });
    step("last notice: " + (await page.textContent("#notices li")));
    await page.screenshot({ path: `${artifacts}/dashboard-source-down.png`, fullPage: true });
    step("screenshot " + artifacts + "/dashboard-source-down.png");
    if (problems.length) fail(problems.join("; "));
    process.exit(0);
  }

  await page.goto(base + "/");
  await page.waitForFunction(() => document.getElementById("state").textContent.includes("streaming"), null, { timeout: T });
  step("state shows " + (await page.textContent("#state")));
  for (const id of ["source", "flavor", "position", "lag", "role"]) {
    const v = (await page.textContent("#" + id)).trim();
    if (!v || v === "–") fail(`#${id} is empty`);
    step(`${id}: ${v}`);
  }

  // Counts of the workload's table rise.
  const row = (t) => `#tables tr[data-table="${t}"]`;
  const changes = async (t) => page.evaluate((sel) => {
    const tr = document.querySelector(sel);
    if (!tr) return -1;
    return ["inserts", "updates", "deletes"].reduce((n, c) => n + Number(tr.querySelector(`td[data-col="${c}"]`).textContent.replaceAll(",", "")), 0);
  }, row(t));
  await page.waitForSelector(row(workTable), { timeout: T });
  const c1 = await changes(workTable);
  await page.waitForFunction(([sel, c]) => {
    const tr = document.querySelector(sel);
    const n = ["inserts", "updates", "deletes"].reduce((n, col) => n + Number(tr.querySelector(`td[data-col="${col}"]`).textContent.replaceAll(",", "")), 0);
    return n > c;
  }, [row(workTable), c1], { timeout: T });
  step(`${workTable} changes rise: ${c1} -> ${await changes(workTable)}`);

  // The chart gets points.
  await page.waitForFunction(() => (document.querySelector("#chart-eps polyline")?.getAttribute("points") || "").split(" ").length >= 2, null, { timeout: T });
  step("events-per-second chart: " + (await page.textContent("#chart-eps-max")));

  // Start an incremental snapshot from the page, with the keyboard: tick
  // the table, Enter on the button, confirm, type the token.
  await page.waitForSelector(row(snapTable), { timeout: T });
  await page.focus(`${row(snapTable)} input[type=checkbox]`);
  await page.keyboard.press("Space");
  await page.focus("#act-start");
  await page.keyboard.press("Enter");
  await page.waitForSelector("#confirm[open]");
  const ask = await page.textContent("#confirm-text");
  if (!ask.includes(snapTable)) fail("confirmation does not name the table: " + ask);
  step("confirmation: " + ask);
  // Cancel has the focus: Enter there does nothing harmful.
  const focused = await page.evaluate(() => document.activeElement.textContent);
  if (focused !== "Cancel") fail("the confirmation's focus is on " + focused + ", want Cancel");
  await page.click("#confirm-ok");
  await page.waitForSelector("#token[open]");
  tokenAsked++;
  await page.fill("#token-input", token);
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => document.getElementById("act-result").textContent.startsWith("✔"), null, { timeout: T });
  step("result: " + (await page.textContent("#act-result")));

  // Pause (the token is not asked again), see it paused, resume.
  const snapState = async () => (await page.textContent(`${row(snapTable)} .snap-state`).catch(() => "")) || "";
  await page.waitForSelector(`${row(snapTable)} .snap-state`, { timeout: T });
  page.once("dialog", () => fail("unexpected browser dialog"));
  await page.click("#act-pause");
  await page.waitForSelector("#confirm[open]");
  await page.click("#confirm-ok");
  if (await page.isVisible("#token[open]")) fail("the token was asked again");
  await page.waitForFunction(() => document.getElementById("act-result").textContent === "✔ Paused.", null, { timeout: T });
  await page.waitForFunction((sel) => {
    const s = document.querySelector(sel)?.textContent || "";
    return s.includes("paused") || s.includes("done");
  }, `${row(snapTable)} .snap-state`, { timeout: T });
  const paused = await snapState();
  step("after pause: " + paused);
  if (!(await page.isEnabled("#act-resume"))) fail("Resume is not enabled while paused");
  if (paused.includes("paused")) {
    const pct1 = await page.getAttribute(`${row(snapTable)} progress`, "data-pct");
    await page.waitForTimeout(3000);
    const pct2 = await page.getAttribute(`${row(snapTable)} progress`, "data-pct");
    if (pct1 !== pct2) fail(`progress moved while paused: ${pct1}% -> ${pct2}%`);
    step(`paused at ${pct2}% for 3 s`);
  }
  await page.click("#act-resume");
  await page.waitForSelector("#confirm[open]");
  await page.click("#confirm-ok");
  await page.waitForFunction(() => document.getElementById("act-result").textContent === "✔ Resumed.", null, { timeout: T });
  step("resumed");

  // The progress bar reaches 100%.
  await page.waitForFunction((sel) => document.querySelector(sel)?.getAttribute("data-pct") === "100",
    `${row(snapTable)} progress`, { timeout: 5 * 60_000 });
  await page.waitForFunction((sel) => (document.querySelector(sel)?.textContent || "").includes("done"), `${row(snapTable)} .snap-state`, { timeout: T });
  step("snapshot: " + (await snapState()) + ", " + (await page.textContent(`${row(snapTable)} .snap-figures`)));
  const reads = await page.textContent(`${row(snapTable)} td[data-col="reads"]`);
  step("snapshot reads of " + snapTable + ": " + reads);

  // Outputs and health are shown as text, not colour alone.
  const out = await page.textContent("#outputs tbody");
  if (!/✔ ok/.test(out)) fail("outputs do not say ok: " + out);
  step("outputs: " + out.replace(/\s+/g, " ").slice(0, 160));

  await page.screenshot({ path: `${artifacts}/dashboard.png`, fullPage: true });
  step("screenshot " + artifacts + "/dashboard.png");

  // Phone-sized screen: nothing wider than the screen but the scrollable tables.
  await page.setViewportSize({ width: 390, height: 844 });
  await page.waitForTimeout(500);
  const wide = await page.evaluate(() => document.documentElement.scrollWidth);
  if (wide > 390) fail(`the page is ${wide}px wide on a 390px screen`);
  await page.screenshot({ path: `${artifacts}/dashboard-phone.png`, fullPage: true });
  step("phone screenshot " + artifacts + "/dashboard-phone.png");

  const html = await page.content();
  if (token && html.includes(token)) fail("the token appears in the page");
  if (foreign.length) fail("requests left the origin: " + foreign.join(", "));
  if (problems.length) fail(problems.join("; "));
  if (tokenAsked !== 1) fail(`the token was asked ${tokenAsked} times`);
  step("no foreign requests, no page errors, token asked once");
} finally {
  await browser.close();
}
