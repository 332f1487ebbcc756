// What every browser test file of the workspace's apps does around its
// tests: Vite's dev server on the app (proxying /api to the example
// server), the system's Chromium (playwright-core, headless with
// --no-sandbox; nothing is downloaded), a fresh page per test, a
// screenshot after each in $CARCOSA_ARTIFACTS (default ./artifacts), and a
// temporary directory for files. Without a browser the tests skip, saying
// so, but in CI, where one must be.
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { createServer, type ViteDevServer } from "vite";
import { afterAll, afterEach, beforeAll, beforeEach } from "vitest";

export const artifacts = process.env.CARCOSA_ARTIFACTS || path.resolve("artifacts");
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

export interface BrowserTests {
  /** Why the tests skip ("" when they run). */
  readonly skip: string;
  /** The page of the running test. */
  readonly page: Page;
  /** The app's URL on Vite's dev server. */
  readonly pageURL: string;
  /** A directory for the tests' files, removed after them. */
  readonly tmp: string;
}

/**
 * Sets up the browser tests of the app at root, whose Vite config proxies
 * /api to $CARCOSA_SERVER, set here to server(). prefix starts the names
 * of the screenshots; skip, when not "", is why the tests cannot run.
 */
export function browserTests(o: { root: string; prefix: string; server: () => string; skip?: string }): BrowserTests {
  let skip = o.skip ?? "";
  if (!skip && !existsSync(executablePath) && !process.env.CI) skip = `no Chromium at ${executablePath} (set CHROMIUM to its path)`;
  if (skip) console.warn(`browser tests skipped: ${skip}`);
  let vite: ViteDevServer | undefined;
  let browser: Browser | undefined;
  const t = { skip, page: undefined as unknown as Page, pageURL: "", tmp: "" };

  beforeAll(async () => {
    if (skip) return;
    mkdirSync(artifacts, { recursive: true });
    t.tmp = mkdtempSync(path.join(tmpdir(), `carcosa-${o.prefix}-`));
    process.env.CARCOSA_SERVER = o.server().replace(/\/$/, "");
    vite = await createServer({
      root: o.root,
      configFile: path.join(o.root, "vite.config.ts"),
      logLevel: "warn",
      server: { host: "127.0.0.1", port: 0, strictPort: false, hmr: false },
    });
    await vite.listen();
    t.pageURL = vite.resolvedUrls!.local[0]!;
    browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
  });

  afterAll(async () => {
    await browser?.close();
    await vite?.close();
    if (t.tmp) rmSync(t.tmp, { recursive: true, force: true });
  });

  beforeEach(async () => {
    if (skip) return;
    t.page = await browser!.newPage();
    t.page.on("pageerror", (err) => console.error("page error:", err));
  });

  afterEach(async (ctx) => {
    if (skip) return;
    await t.page.screenshot({ path: path.join(artifacts, `${o.prefix}-${slug(ctx.task.name)}.png`), fullPage: true });
    await t.page.context().close();
  });

  return t;
}

function slug(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 80);
}
