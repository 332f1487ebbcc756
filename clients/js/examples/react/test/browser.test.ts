// The example page in a real Chromium (playwright-core, the system's
// browser: nothing is downloaded), served by Vite's dev server, which
// proxies /api to the example server that the client's global setup builds
// and starts. Screenshots go to $CARCOSA_ARTIFACTS (default ./artifacts).
import { writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { artifacts, browserTests } from "../../../packages/client/test/browser.js";
import { png } from "../../../packages/client/test/fixtures.js";

declare module "vitest" {
  export interface ProvidedContext {
    carcosaURL: string;
  }
}

const root = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1 << 20;
const t = browserTests({ root, prefix: "react", server: () => inject("carcosaURL") });
let page: Page;
beforeEach(() => {
  page = t.page;
});

/** A file on disk of size random bytes, so that the browser reads it (and its modification time) as a user's. */
function bigFile(name: string, size: number): string {
  const p = path.join(t.tmp, name);
  writeFileSync(p, randomBytes(size));
  return p;
}

/** Slows each tus PATCH by ms, so that a large upload can be paused or cut midway. */
async function throttleTus(p: Page, ms: number) {
  await p.route("**/api/uploads/tus/**", async (route) => {
    if (route.request().method() === "PATCH") await new Promise((r) => setTimeout(r, ms));
    await route.continue().catch(() => {}); // aborted by pause or reload
  });
}

async function open(query = "") {
  await page.goto(t.pageURL + query);
  // The routes are read: the hints are written.
  await page.locator(".images .carcosa-dropzone__hint", { hasText: "image up to" }).waitFor();
}

function fileItem(zone: string, name: string) {
  return page.locator(`.${zone} .carcosa-file`, { hasText: name });
}

/** The progress bar's value of a file. */
async function progressOf(zone: string, name: string): Promise<number> {
  const v = await fileItem(zone, name).getByRole("progressbar").getAttribute("aria-valuenow", { timeout: 5000 });
  return Number(v);
}

describe.skipIf(t.skip !== "")("example page", () => {
  it("uploads an image chosen through the input: progress to 100%, then its thumbnail", async () => {
    await open();
    // Every value the file's progress bar takes, as the page shows it.
    await page.evaluate(() => {
      const w = window as unknown as { seen: number[] };
      w.seen = [];
      new MutationObserver(() => {
        for (const el of document.querySelectorAll(".images .carcosa-file__progress")) w.seen.push(Number(el.getAttribute("aria-valuenow")));
      }).observe(document.body, { subtree: true, attributes: true, childList: true });
    });
    await page.getByLabel("Caption").fill("At the lake");
    await page.locator(".images input.carcosa-input").setInputFiles({ name: "lake.png", mimeType: "image/png", buffer: Buffer.from(png(320, 240)) });
    const item = fileItem("images", "lake.png");
    await expect.poll(() => item.getAttribute("data-state"), { timeout: 30_000 }).toBe("ready");
    expect(await progressOf("images", "lake.png")).toBe(100);
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    expect(seen.at(-1)).toBe(100);
    const thumb = item.locator("img.carcosa-file__thumbnail");
    await thumb.waitFor();
    expect(await thumb.getAttribute("src")).toMatch(/\/api\/uploads\/files\//);
    await expect.poll(() => thumb.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth), { timeout: 10_000 }).toBeGreaterThan(0);
    await expect.poll(() => page.getByRole("status").first().textContent()).toContain("lake.png uploaded.");
  });

  it("uploads files dropped on the dropzones (a synthetic drop with a DataTransfer)", async () => {
    await open();
    const image = Array.from(png(200, 150));
    await page.evaluate((bytes) => {
      const drop = (selector: string, file: File) => {
        const target = document.querySelector(selector)!;
        const dataTransfer = new DataTransfer();
        dataTransfer.items.add(file);
        for (const type of ["dragenter", "dragover", "drop"]) {
          target.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer }));
        }
      };
      drop(".images .carcosa-dropzone__target", new File([new Uint8Array(bytes)], "dropped.png", { type: "image/png" }));
      drop(".documents .carcosa-dropzone__target", new File(["Minutes of the meeting.\n".repeat(100)], "minutes.txt", { type: "text/plain" }));
    }, image);
    await expect.poll(() => fileItem("images", "dropped.png").getAttribute("data-state"), { timeout: 30_000 }).toBe("ready");
    await expect.poll(() => fileItem("documents", "minutes.txt").getAttribute("data-state"), { timeout: 30_000 }).toBe("ready");
    await fileItem("images", "dropped.png").locator("img.carcosa-file__thumbnail").waitFor();
    // The drop area's highlight is gone after the drop.
    expect(await page.locator(".carcosa-dropzone--over").count()).toBe(0);
  });

  it("shows refusals on their files: a wrong type, a file too large, a false image", async () => {
    await open();
    await page.locator(".images input.carcosa-input").setInputFiles([
      { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("not an image\n") },
      { name: "false.png", mimeType: "image/png", buffer: Buffer.from("a text file that claims to be a PNG\n") },
    ]);
    // 17 MiB, made in the page (quicker than through setInputFiles).
    await page.evaluate((size) => {
      const dataTransfer = new DataTransfer();
      dataTransfer.items.add(new File([new Uint8Array(size)], "huge.png", { type: "image/png" }));
      const target = document.querySelector(".images .carcosa-dropzone__target")!;
      target.dispatchEvent(new DragEvent("drop", { bubbles: true, cancelable: true, dataTransfer }));
    }, 17 * MiB);
    const codeOf = (name: string) => fileItem("images", name).locator(".carcosa-file__error").getAttribute("data-code", { timeout: 30_000 });
    expect(await codeOf("notes.txt")).toBe("type_not_allowed");
    expect(await codeOf("huge.png")).toBe("too_large");
    expect(await codeOf("false.png")).toBe("type_not_allowed"); // judged by the server, from the bytes
    for (const name of ["notes.txt", "huge.png", "false.png"]) {
      expect(await fileItem("images", name).getAttribute("data-state")).toBe("rejected");
      await fileItem("images", name).getByRole("button", { name: `Retry ${name}` }).waitFor();
    }
    await expect.poll(() => page.getByRole("status").first().textContent()).toContain("huge.png could not be uploaded");
    // Remove takes a file off the list.
    await page.getByRole("button", { name: "Remove notes.txt" }).click();
    expect(await fileItem("images", "notes.txt").count()).toBe(0);
  });

  it("pauses and resumes a 30 MB upload", async () => {
    await throttleTus(page, 60);
    await open(`?chunk=${MiB}`);
    const file = bigFile("big-pause.bin", 30 * MiB);
    await page.locator(".files input.carcosa-input").setInputFiles(file);
    await expect.poll(() => progressOf("files", "big-pause.bin"), { timeout: 30_000 }).toBeGreaterThanOrEqual(10);
    await page.getByRole("button", { name: "Pause", exact: true }).click();
    await expect.poll(() => fileItem("files", "big-pause.bin").getAttribute("data-state")).toBe("paused");
    const paused = await progressOf("files", "big-pause.bin");
    expect(paused).toBeLessThan(100);
    await page.screenshot({ path: path.join(artifacts, "pauses-paused.png"), fullPage: true });
    await page.waitForTimeout(1000);
    expect(await progressOf("files", "big-pause.bin")).toBe(paused);
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    await expect.poll(() => fileItem("files", "big-pause.bin").getAttribute("data-state"), { timeout: 60_000 }).toBe("ready");
    expect(await progressOf("files", "big-pause.bin")).toBe(100);
  });

  it("resumes a 30 MB upload after a reload when the same file is chosen again", async () => {
    await throttleTus(page, 60);
    await open(`?chunk=${MiB}`);
    const file = bigFile("big-reload.bin", 30 * MiB);
    await page.locator(".files input.carcosa-input").setInputFiles(file);
    await expect.poll(() => progressOf("files", "big-reload.bin"), { timeout: 30_000 }).toBeGreaterThanOrEqual(20);
    await page.reload();
    await page.locator(".images .carcosa-dropzone__hint", { hasText: "image up to" }).waitFor();
    // The tus HEAD that finds the server's offset.
    const offsets: number[] = [];
    page.on("response", (res) => {
      if (res.request().method() === "HEAD" && res.url().includes("/api/uploads/tus/")) {
        offsets.push(Number(res.headers()["upload-offset"]));
      }
    });
    await page.locator(".files input.carcosa-input").setInputFiles(file);
    const item = fileItem("files", "big-reload.bin");
    await expect.poll(() => item.getAttribute("data-resumed-from"), { timeout: 30_000 }).toMatch(/^[1-9]\d*$/);
    const from = Number(await item.getAttribute("data-resumed-from"));
    expect(from).toBeGreaterThanOrEqual(MiB);
    expect(offsets[0]).toBe(from);
    await expect.poll(() => item.getAttribute("data-state"), { timeout: 60_000 }).toBe("ready");
    expect(await item.locator(".carcosa-file__status").textContent()).toMatch(/resumed from/);
  });
});
