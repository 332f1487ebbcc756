// The client in a real browser: headless Chromium (the system's, CHROMIUM or
// /usr/bin/chromium) opens the example server's page, which makes it a
// visitor with its cookie, and runs the client bundled for browsers
// (tus-js-client's browser build, XMLHttpRequest, localStorage) in it.
// Without Chromium the tests skip, except under CI=true, where they fail.
import { accessSync, constants } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { serverURL } from "./fixtures.js";

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";
let found = true;
try {
  accessSync(executablePath, constants.X_OK);
} catch {
  found = false;
  if (process.env.CI === "true") throw new Error(`Chromium is required under CI (run .ci/run): ${executablePath} is missing`);
}

// What the page's code sees: the bundle's exports as a global.
declare const Carcosa: typeof import("../src/index.js");

describe.skipIf(!found)("in Chromium", () => {
  let browser: Browser;
  let page: Page;
  let bundle: string;

  /** Opens the example's page (and its cookie) and loads the client in it. */
  async function open() {
    await page.goto(serverURL);
    await page.addScriptTag({ content: bundle });
    // A File of seeded pseudo-random bytes: the same after a reload.
    await page.addScriptTag({
      content: `window.seededFile = (seed, size, name) => {
        const b = new Uint8Array(size);
        let x = seed >>> 0 || 1;
        for (let i = 0; i < size; i++) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b[i] = x & 255; }
        return new File([b], name, { type: "application/octet-stream", lastModified: 1700000000000 + seed });
      };
      window.sha256 = async (blob) => Array.from(new Uint8Array(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer())), (v) => v.toString(16).padStart(2, "0")).join("");`,
    });
  }

  beforeAll(async () => {
    const out = await build({
      entryPoints: [path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../src/index.ts")],
      bundle: true,
      format: "iife",
      globalName: "Carcosa",
      platform: "browser",
      target: "es2022",
      write: false,
      logLevel: "silent",
    });
    bundle = out.outputFiles[0]!.text;
    browser = await chromium.launch({ executablePath, args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"] });
    page = await browser.newPage();
    await open();
  });

  afterAll(async () => {
    await browser?.close();
  });

  it("uploads small files in one request, with XMLHttpRequest's progress", async () => {
    // Uploads slowed to 4 MB/s, so that the progress of a request has
    // something to show between its start and its end.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.enable");
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 4e6 });
    const out = await page.evaluate(async () => {
      const c = Carcosa.createClient({ url: "/api/uploads" }); // relative to the page
      const files = [new File(["a document\n"], "a.txt", { type: "text/plain" }), new File(["b".repeat(2_000_000) + "\n"], "b.txt", { type: "text/plain" })];
      const progress: number[] = [];
      const task = c.start("documents", files, { onProgress: (p) => progress.push(p.loaded) });
      const records = await task.promise;
      return { via: task.via, records, progress, total: files[0]!.size + files[1]!.size };
    });
    expect(out.via).toBe("multipart");
    expect(out.records.map((r) => [r.name, r.state])).toEqual([
      ["a.txt", "ready"],
      ["b.txt", "ready"],
    ]);
    expect(out.progress.at(-1)).toBe(out.total);
    expect(out.progress.some((n) => n > 0 && n < out.total)).toBe(true);
    for (let i = 1; i < out.progress.length; i++) expect(out.progress[i]).toBeGreaterThanOrEqual(out.progress[i - 1]!);
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await cdp.detach();
  });

  it("uploads by tus, follows the record, and refuses as the server does", async () => {
    const out = await page.evaluate(async () => {
      const c = Carcosa.createClient({ url: "/api/uploads", chunkSize: 1 << 20 });
      const file = (window as any).seededFile(7, 5 * (1 << 20) + 17, "tus.bin") as File;
      const task = c.start("files", file);
      const [rec] = await task.promise;
      const fake = new File(["not an image\n"], "fake.png", { type: "image/png" });
      const err = await c.upload("images", fake, { resumable: true }).catch((e) => e);
      const listed = await c.list("files");
      return {
        via: task.via,
        rec,
        sha: await (window as any).sha256(file),
        refused: { name: err.name, code: err.code, status: err.status, isError: err instanceof Carcosa.CarcosaError },
        listed: listed.uploads.map((u) => u.id),
      };
    });
    expect(out.via).toBe("tus");
    expect(out.rec).toMatchObject({ state: "ready", sha256: out.sha, name: "tus.bin" });
    expect(out.refused).toEqual({ name: "CarcosaError", code: "type_not_allowed", status: 415, isError: true });
    expect(out.listed).toContain(out.rec!.id);
  });

  it("resumes an upload interrupted by a reload when the same file is chosen again", async () => {
    const size = 12 * (1 << 20);
    const first = await page.evaluate(async (size) => {
      const c = Carcosa.createClient({ url: "/api/uploads", chunkSize: 1 << 20 });
      const file = (window as any).seededFile(42, size, "reload.bin") as File;
      const task = c.start("files", file, {
        onProgress: (p) => {
          if (p.loaded >= 0.4 * p.total) task.pause();
        },
      });
      while (task.files[0]!.state !== "paused") await new Promise((r) => setTimeout(r, 20));
      return { id: task.files[0]!.id, stored: Object.keys(localStorage).filter((k) => k.startsWith("tus::carcosa|files|")) };
    }, size);
    expect(first.id).toBeTruthy();
    expect(first.stored).toHaveLength(1);

    await page.reload();
    await open();
    const second = await page.evaluate(async (size) => {
      const c = Carcosa.createClient({ url: "/api/uploads", chunkSize: 1 << 20 });
      const file = (window as any).seededFile(42, size, "reload.bin") as File;
      const task = c.start("files", file);
      const [rec] = await task.promise;
      return {
        rec,
        resumedFrom: task.files[0]!.resumedFrom,
        sha: await (window as any).sha256(file),
        stored: Object.keys(localStorage).filter((k) => k.startsWith("tus::carcosa|files|")),
      };
    }, size);
    expect(second.rec).toMatchObject({ id: first.id, state: "ready", size, sha256: second.sha });
    expect(second.resumedFrom).toBeGreaterThan(0);
    expect(second.stored).toEqual([]); // forgotten once complete
  });
});
