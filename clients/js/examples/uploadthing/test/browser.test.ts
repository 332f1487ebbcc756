// An app written for UploadThing, unchanged but for its url, in a real
// Chromium (playwright-core, the system's browser: nothing is downloaded),
// served by Vite's dev server, which proxies /api to the example server
// (examples/basic) that the client's global setup builds and starts.
// Screenshots go to $CARCOSA_ARTIFACTS (default ./artifacts).
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
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
const t = browserTests({ root, prefix: "ut", server: () => inject("carcosaURL") });
let page: Page;
beforeEach(() => {
  page = t.page;
});

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

function section(heading: string) {
  return page.locator("section", { has: page.locator("h2", { hasText: heading }) });
}

/** The files an outcome shows, as onClientUploadComplete got them. */
async function resultOf(id: string): Promise<Array<Record<string, any>>> {
  const text = await page.getByTestId(`${id}-result`).textContent({ timeout: 60_000 });
  return JSON.parse(text!);
}

/** The bytes at a URL the server handed out (on the page's origin, through the proxy). */
async function fetchBytes(url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function open() {
  await page.goto(t.pageURL);
  // The route configs are read: the button leaves "Loading...".
  await section("UploadButton").getByText("Choose File(s)").waitFor({ timeout: 30_000 });
}

describe.skipIf(t.skip !== "")("an UploadThing app against examples/basic", () => {
  it("UploadButton uploads images: serverData in onClientUploadComplete, URLs that serve the bytes", async () => {
    await open();
    // The route's config, from GET /api/uploadthing, labels the button.
    await section("UploadButton").getByText("Images up to 16MB, max 10").waitFor();
    await page.getByLabel("Caption").fill("At the lake");
    const a = png(320, 240);
    const b = png(64, 48);
    await section("UploadButton")
      .locator("input[type=file]")
      .setInputFiles([
        { name: "lake.png", mimeType: "image/png", buffer: Buffer.from(a) },
        { name: "shore.png", mimeType: "image/png", buffer: Buffer.from(b) },
      ]);
    const files = await resultOf("button");
    expect(files.map((f) => f.name).sort()).toEqual(["lake.png", "shore.png"]);
    for (const f of files) {
      const bytes = f.name === "lake.png" ? a : b;
      expect(f.serverData).toEqual({ sha256: sha256(bytes), caption: "At the lake" });
      expect(f.fileHash).toBe(sha256(bytes));
      expect(f.size).toBe(bytes.length);
      expect(f.key).toMatch(/^[0-9a-f]{32}$/);
      expect(f.ufsUrl).toContain("/api/uploads/files/");
      expect(sha256(await fetchBytes(f.ufsUrl))).toBe(sha256(bytes));
    }
  });

  it("UploadDropzone: a refused file's message reaches onUploadError; an accepted one completes", async () => {
    await open();
    const zone = section("UploadDropzone");
    // A PNG that says it is a PDF: the server judges the bytes.
    await zone.locator("input[type=file]").setInputFiles({ name: "report.pdf", mimeType: "application/pdf", buffer: Buffer.from(png(40, 30)) });
    await zone.getByText("Upload 1 file").click();
    const error = await page.getByTestId("dropzone-error").textContent({ timeout: 30_000 });
    expect(error).toMatch(/image\/png.*not allowed/);
    expect(await page.getByTestId("dropzone-result").count()).toBe(0);

    const text = Buffer.from("Minutes of the meeting.\n".repeat(200));
    await zone.locator("input[type=file]").setInputFiles({ name: "minutes.txt", mimeType: "text/plain", buffer: text });
    await zone.getByText("Upload 1 file").click();
    const [f] = await resultOf("dropzone");
    expect(f!.name).toBe("minutes.txt");
    expect(f!.serverData).toEqual({ sha256: sha256(text) });
    expect(Buffer.from(await fetchBytes(f!.ufsUrl)).equals(text)).toBe(true);
  });

  it("useUploadThing's startUpload uploads any file", async () => {
    await open();
    const bytes = randomBytes(3 * MiB);
    await page.getByTestId("hook-input").setInputFiles({ name: "data.bin", mimeType: "application/octet-stream", buffer: bytes });
    const [f] = await resultOf("hook");
    expect(f!.fileHash).toBe(sha256(bytes));
    expect(f!.serverData).toEqual({ sha256: sha256(bytes) });
    expect(sha256(await fetchBytes(f!.ufsUrl))).toBe(sha256(bytes));
  });

  it("a PUT cut midway resumes from x-ut-range-start", async () => {
    await open();
    const size = 48 * MiB;
    const file = path.join(t.tmp, "big.bin");
    const bytes = randomBytes(size);
    writeFileSync(file, bytes);
    // Every PUT's URL and Range, as the client sent them.
    const puts: Array<{ url: string; range: string }> = [];
    page.on("request", (r) => {
      if (r.method() === "PUT") puts.push({ url: r.url(), range: r.headers()["range"] ?? "" });
    });
    // A slow link, so that the upload can be cut midway.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 8 * MiB });
    await page.getByTestId("resume-input").setInputFiles(file);
    const progress = () => page.getByTestId("resume-progress").evaluate((el: HTMLProgressElement) => el.value);
    await expect.poll(progress, { timeout: 60_000 }).toBeGreaterThanOrEqual(10);
    await page.evaluate(() => (window as unknown as { upload: { pauseUpload(): void } }).upload.pauseUpload());
    expect(puts.length).toBe(1);
    expect(puts[0]!.range).toBe("bytes=0-");
    // The server keeps what arrived, and says so.
    const ingest = puts[0]!.url;
    const offset = async () => Number((await fetch(ingest, { method: "HEAD" })).headers.get("x-ut-range-start"));
    await expect.poll(offset, { timeout: 10_000 }).toBeGreaterThan(0);
    let kept = await offset();
    await expect.poll(async () => [kept, (kept = await offset())][0] === kept, { timeout: 10_000 }).toBe(true);
    expect(kept).toBeLessThan(size);
    await page.screenshot({ path: path.join(artifacts, "ut-paused.png"), fullPage: true });

    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await page.evaluate(() => (window as unknown as { upload: { resumeUpload(): void } }).upload.resumeUpload());
    const [f] = await resultOf("resume");
    expect(puts.length).toBe(2);
    expect(puts[1]!.range).toBe(`bytes=${kept}-`);
    expect(f!.fileHash).toBe(sha256(bytes));
    expect(f!.size).toBe(size);
    expect(sha256(await fetchBytes(f!.ufsUrl))).toBe(sha256(bytes));
  });
});
