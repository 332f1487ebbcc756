// Uppy's Dashboard with @uppy/aws-s3 (companionEndpoint), unchanged but for
// that endpoint, in a real Chromium (playwright-core, the system's browser:
// nothing is downloaded), served by Vite's dev server, which proxies /api to
// examples/basic running on a MinIO bucket with clamd (test/global-setup.ts).
// The bytes go from the browser straight to MinIO; Carcosa signs, then
// checks each file once it is there. Screenshots go to $CARCOSA_ARTIFACTS
// (default ./artifacts).
import { createHash, randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Page } from "playwright-core";
import { beforeEach, describe, expect, inject, it } from "vitest";
import { artifacts, browserTests } from "../../../packages/client/test/browser.js";
import { png } from "../../../packages/client/test/fixtures.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const MiB = 1 << 20;
const t = browserTests({ root, prefix: "uppy", server: () => inject("carcosaURL"), skip: inject("uppySkip") });
let page: Page;
beforeEach(() => {
  page = t.page;
});

function sha256(b: Uint8Array): string {
  return createHash("sha256").update(b).digest("hex");
}

async function open(query: string) {
  await page.goto(t.pageURL + query);
  await page.locator(".uppy-Dashboard").waitFor();
}

/** Adds files through the Dashboard's file input. */
async function add(files: Parameters<Page["setInputFiles"]>[1]) {
  await page.locator(".uppy-Dashboard-input").first().setInputFiles(files);
}

async function upload() {
  await page.locator(".uppy-StatusBar-actionBtn--upload").click();
}

type Result = { successful: Array<{ name: string; response?: { body?: { key?: string; location?: string } } }>; failed: Array<{ name: string }> };

/** The runs Uppy finished ("complete" events). */
async function results(): Promise<Result[]> {
  return page.evaluate(() => (window as unknown as { results: Result[] }).results);
}

/** The upload's record on the server; its ID is in its storage key. */
async function recordOf(key: string): Promise<Record<string, any>> {
  const id = /([0-9a-f]{32})/.exec(key)?.[1];
  expect(id, `an upload ID in the key ${key}`).toBeTruthy();
  const res = await fetch(new URL(`/api/uploads/uploads/${id}`, inject("carcosaURL")));
  expect(res.status).toBe(200);
  return res.json();
}

/** Waits for the upload of key to settle (scans of large files run in the background). */
async function settled(key: string): Promise<Record<string, any>> {
  let rec: Record<string, any> = {};
  await expect
    .poll(async () => (rec = await recordOf(key)).state, { timeout: 120_000, interval: 500 })
    .not.toMatch(/^(uploading|processing)$/);
  return rec;
}

describe.skipIf(t.skip !== "")("Uppy's S3 plugin against examples/basic on MinIO", () => {
  it("a 300 MiB file in multipart: parts signed, paused, resumed from the listed parts, ready with its SHA-256", async () => {
    await open("?route=files");
    const size = 300 * MiB;
    const bytes = randomBytes(size);
    const file = path.join(t.tmp, "big.bin");
    writeFileSync(file, bytes);
    // What Uppy asks of the endpoint.
    const calls: string[] = [];
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith("/api/companion/")) calls.push(`${r.method()} ${u.pathname.replace(/^\/api\/companion/, "")}`);
    });
    // A slow link, so that the upload can be paused midway.
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: 40 * MiB });
    await add(file);
    await upload();
    const progress = () => page.evaluate(() => (window as unknown as { uppy: { getState(): { totalProgress: number } } }).uppy.getState().totalProgress);
    await expect.poll(progress, { timeout: 120_000 }).toBeGreaterThanOrEqual(10);
    await page.evaluate(() => (window as unknown as { uppy: { pauseAll(): void } }).uppy.pauseAll());
    const paused = await progress();
    expect(paused).toBeLessThan(100);
    await page.waitForTimeout(1500);
    expect(await progress()).toBeLessThanOrEqual(paused + 2); // at most the part in flight
    await page.screenshot({ path: path.join(artifacts, "uppy-paused.png"), fullPage: true });
    const before = calls.length;
    await cdp.send("Network.emulateNetworkConditions", { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
    await page.evaluate(() => (window as unknown as { uppy: { resumeAll(): void } }).uppy.resumeAll());
    await expect.poll(async () => (await results()).length, { timeout: 240_000 }).toBe(1);
    const [run] = await results();
    expect(run!.failed).toEqual([]);
    const key = run!.successful[0]!.response!.body!.key!;
    // Created once, parts signed, the parts listed again on resume, completed.
    expect(calls[0]).toBe("POST /s3/multipart");
    expect(calls.filter((c) => /^GET \/s3\/multipart\/[^/]+\/\d+$/.test(c)).length).toBeGreaterThanOrEqual(60);
    expect(calls.slice(before).some((c) => /^GET \/s3\/multipart\/[^/]+$/.test(c))).toBe(true);
    expect(calls.at(-1)).toMatch(/^POST \/s3\/multipart\/[^/]+\/complete$/);
    const rec = await settled(key);
    expect(rec.state).toBe("ready");
    expect(rec.size).toBe(size);
    expect(rec.sha256).toBe(sha256(bytes));
  });

  it("a small file through the S3 POST form: ready with its SHA-256", async () => {
    await open("?route=images");
    const image = png(160, 120);
    await add({ name: "small.png", mimeType: "image/png", buffer: Buffer.from(image) });
    await upload();
    await expect.poll(async () => (await results()).length, { timeout: 60_000 }).toBe(1);
    const [run] = await results();
    expect(run!.failed).toEqual([]);
    const body = run!.successful[0]!.response!.body!;
    expect(body.location).toContain(inject("bucketURL"));
    const rec = await settled(body.key!);
    expect(rec.state).toBe("ready");
    expect(rec.sha256).toBe(sha256(image));
    expect(rec.type).toBe("image/png");
  });

  it("EICAR is refused: the upload fails in Uppy and the file is quarantined", async () => {
    await open("?route=files&multipart=always");
    const eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*";
    // The key the endpoint gave the upload when it was created.
    const created = page.waitForResponse((r) => r.request().method() === "POST" && new URL(r.url()).pathname === "/api/companion/s3/multipart");
    await add({ name: "eicar.txt", mimeType: "text/plain", buffer: Buffer.from(eicar) });
    await upload();
    const { key } = (await (await created).json()) as { key: string };
    await expect.poll(async () => (await results()).length, { timeout: 60_000 }).toBe(1);
    const [run] = await results();
    expect(run!.successful).toEqual([]);
    expect(run!.failed.map((f) => f.name)).toEqual(["eicar.txt"]);
    const error = await page.evaluate(() => (window as unknown as { errors: Record<string, string> }).errors["eicar.txt"]);
    expect(error).toContain("Companion request failed");
    const rec = await settled(key);
    expect(rec.state).toBe("quarantined");
    expect(rec.error?.code).toBe("malware_detected");
  });
});
