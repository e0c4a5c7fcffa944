/**
 * The demo of `npm start`, used as a person would: Debian's Chromium, driven by playwright-core,
 * opens two pages that the sticky primary hands to two different workers, chats between them and
 * reads the side panel. Then Ctrl-C (SIGINT to the primary) must stop every process.
 *
 * Chromium is not downloaded: set CHROMIUM_PATH, or install Debian's `chromium` (.ci/run does).
 * UPDATE_DOCS_SCREENSHOT=1 also writes docs/demo.png.
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import t from "tap";
import { interrupt, ROOT, startExample } from "../helpers/example";
import { until } from "../helpers/wait";

const ARTIFACTS = join(__dirname, "artifacts");
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];
const WORKERS = 2;

/** Starts the demo on a free port and waits until every worker is ready. */
async function startDemo(t: { teardown(fn: () => unknown): void }) {
  const demo = await startExample(
    t,
    "examples/demo/primary.js",
    { WORKERS: String(WORKERS), EMITTER_INTERVAL_MS: "1000" },
    (output) => output.includes("demo: http://localhost:"),
  );
  const workerPids = [...demo.output().matchAll(/^worker \d+ \(pid (\d+)\) ready$/gm)].map((m) => Number(m[1]));
  return { ...demo, workerPids };
}

interface DemoPage {
  context: BrowserContext;
  page: Page;
  worker: string;
  /** Console errors, page errors, failed requests and HTTP errors, until `closing` is set. */
  problems: string[];
  closing: boolean;
  /** Socket.IO long-polling requests answered with 200, by method: GET polls, POST sends. */
  polls: { GET: number; POST: number };
}

/** Opens the demo in a new browser context and waits for the worker's welcome. */
async function openPage(browser: Browser, url: string): Promise<DemoPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
  context.setDefaultTimeout(20_000);
  const page = await context.newPage();
  const demoPage: DemoPage = { context, page, worker: "", problems: [], closing: false, polls: { GET: 0, POST: 0 } };
  const problem = (text: string) => demoPage.closing || demoPage.problems.push(text);
  page.on("console", (message) => message.type() === "error" && problem(`console error: ${message.text()}`));
  page.on("pageerror", (error) => problem(`page error: ${error.message}`));
  page.on("requestfailed", (request) => problem(`request failed: ${request.url()} (${request.failure()?.errorText})`));
  page.on("response", (response) => {
    if (response.status() >= 400) problem(`HTTP ${response.status()}: ${response.url()}`);
    const method = response.request().method();
    if (response.status() === 200 && response.url().includes("transport=polling") && method in demoPage.polls) {
      demoPage.polls[method as "GET" | "POST"]++;
    }
  });
  await page.goto(url);
  await page.locator("#worker", { hasText: /^worker \d+$/ }).waitFor();
  demoPage.worker = (await page.locator("#worker").textContent())!;
  return demoPage;
}

async function closePage(demoPage: DemoPage): Promise<void> {
  demoPage.closing = true;
  await demoPage.context.close();
}

/** The side panel's "clients per worker" table, as { label: count }. */
function clientsPerWorker(page: Page): Promise<Record<string, number>> {
  return page.$$eval("#clients tbody tr", (rows) =>
    Object.fromEntries(
      rows.map((row) => [(row as HTMLElement).dataset.worker, Number((row as HTMLElement).dataset.count)]),
    ),
  );
}

/** docs/demo.png: a short conversation and a few seconds of traffic for the rate's sparkline. */
async function stageDocsScreenshot(a: DemoPage, b: DemoPage): Promise<void> {
  const lines: [DemoPage, string][] = [
    [a, "Two tabs, two workers, one room."],
    [b, "Each line says who sent it and who delivered it."],
    [a, "Kill a worker and watch serverCount() drop."],
  ];
  await b.page.locator('#messages li.message[data-from="primary"]').nth(5).waitFor();
  for (const [page, text] of lines) {
    await page.page.fill("#text", text);
    await page.page.press("#text", "Enter");
    await b.page.locator("#messages li.message", { hasText: text }).waitFor();
  }
  await b.page.screenshot({ path: join(ROOT, "docs", "demo.png") });
}

t.test("two pages on two workers chat through the hub, and Ctrl-C stops every process", async (t) => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}: install Debian's package (apt-get install -y chromium), or set CHROMIUM_PATH to a Chromium or Chrome binary. This test never downloads a browser.`,
    );
  }
  const demo = await startDemo(t);
  t.equal(demo.workerPids.length, WORKERS, "every worker reported its pid");

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 60_000 });
  t.teardown(() => browser.close());

  const a = await openPage(browser, demo.url);
  // The sticky primary sends a new session to the least busy worker; retry a few times anyway.
  let b: DemoPage | undefined;
  for (let attempt = 1; attempt <= 6 && !b; attempt++) {
    const candidate = await openPage(browser, demo.url);
    if (candidate.worker !== a.worker) b = candidate;
    else await closePage(candidate);
  }
  if (!b) throw new Error(`6 pages in a row landed on ${a.worker}, as the first one`);
  t.not(a.worker, b.worker, `the pages are on two workers (${a.worker}, ${b.worker})`);

  // Default transports: each page started with long-polling through the sticky primary, then upgraded.
  for (const { page, polls, worker } of [a, b]) {
    await page.waitForFunction(() => (window as any).demo.socket.io.engine.transport.name === "websocket");
    await page.locator("#transport", { hasText: "websocket" }).waitFor();
    t.ok(
      polls.GET >= 1 && polls.POST >= 1,
      `${worker}'s page polled (GET ${polls.GET}, POST ${polls.POST}) before the upgrade`,
    );
  }

  // A message typed in A appears in B, sent by A's worker and delivered by B's, and the reverse.
  for (const [from, to] of [
    [a, b],
    [b, a],
  ]) {
    const text = `hello from the page on ${from.worker}`;
    await from.page.fill("#text", text);
    await from.page.press("#text", "Enter");
    for (const reader of [to, from]) {
      const item = reader.page.locator("#messages li.message", { hasText: text });
      await item.waitFor();
      t.equal(await item.getAttribute("data-from"), from.worker, `${reader.worker} shows the sender's worker`);
      t.equal(await item.getAttribute("data-via"), reader.worker, `${reader.worker} shows the deliverer's worker`);
      t.same(await item.locator(".route .tag").allTextContents(), [from.worker, reader.worker], "the labels read so");
    }
  }

  // The Emitter in the primary posts; every worker delivers to its own pages.
  for (const { page, worker } of [a, b]) {
    const post = page.locator('#messages li.message[data-from="primary"]').first();
    await post.waitFor();
    t.equal(await post.getAttribute("data-via"), worker, `the Emitter's post reaches ${worker}`);
  }

  // Clients per worker (fetchSockets across the cluster): one page on each, once the retried
  // pages' disconnections are seen, and every worker listed.
  const expected = { [a.worker]: 1, [b.worker]: 1 };
  for (const { page } of [a, b]) {
    await until(
      async () => {
        const clients = await clientsPerWorker(page);
        return (
          Object.keys(clients).length === WORKERS &&
          a.worker in clients &&
          b.worker in clients &&
          clients[a.worker] === 1 &&
          clients[b.worker] === 1
        );
      },
      "the clients-per-worker view shows one page on each worker",
      20_000,
    );
    t.same(await clientsPerWorker(page), expected, "clients per worker");
    await page.locator("#server-count", { hasText: String(WORKERS) }).waitFor();
    await page.locator("#hub-workers", { hasText: String(WORKERS) }).waitFor();
    t.match(await page.locator("#rate").textContent(), /^\d+(\.\d+)?$/, "the hub's rate is shown");
  }

  mkdirSync(ARTIFACTS, { recursive: true });
  await b.page.screenshot({ path: join(ARTIFACTS, "demo.png") });
  if (process.env.UPDATE_DOCS_SCREENSHOT) await stageDocsScreenshot(a, b);

  t.same(a.problems, [], `no console error nor failed request in the page on ${a.worker}`);
  t.same(b.problems, [], `no console error nor failed request in the page on ${b.worker}`);
  await closePage(a);
  await closePage(b);

  // Ctrl-C: the primary stops its workers, then itself, with exit code 0.
  t.equal(await interrupt(demo), 0, "the primary exits with 0");
  for (const pid of demo.workerPids) t.throws(() => process.kill(pid, 0), { code: "ESRCH" }, `worker ${pid} is gone`);
  t.notOk(demo.alive(), "no process of the demo is left");
  t.match(demo.output(), /primary: stopped/);
});
