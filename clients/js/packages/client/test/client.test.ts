// The client against the real example server (examples/basic), which
// global-setup builds and starts: no mocks.
import { describe, expect, it } from "vitest";
import { CarcosaError, createClient, type UploadProgress } from "../src/index.js";
import { download, png, randomFile, sha256, uploadsURL, visitorClient } from "./fixtures.js";

const MiB = 1 << 20;

/** A fetch that counts the requests made through it, but GET B/routes. */
function countingFetch() {
  const calls: string[] = [];
  const f: typeof fetch = (input, init) => {
    const u = String(input instanceof Request ? input.url : input);
    if (!u.endsWith("/routes")) calls.push(`${init?.method ?? "GET"} ${new URL(u).pathname}`);
    return fetch(input, init);
  };
  return { fetch: f, calls };
}

/** The error a promise rejects with. */
async function refusal(p: Promise<unknown>): Promise<CarcosaError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CarcosaError);
    return err as CarcosaError;
  }
  throw new Error("expected the upload to be refused");
}

describe("routes", () => {
  it("lists the server's routes, once", async () => {
    const counted: string[] = [];
    const c = createClient({
      url: uploadsURL,
      fetch: (input, init) => {
        counted.push(String(input));
        return fetch(input, init);
      },
    });
    const routes = await c.routes();
    expect(routes.map((r) => r.name)).toEqual(["documents", "files", "images"]);
    const images = routes.find((r) => r.name === "images")!;
    expect(images).toMatchObject({ accept: ["image"], maxFileSize: 16 * MiB, minFiles: 1, maxFiles: 10, public: true });
    expect(images.input).toEqual([expect.objectContaining({ name: "caption", type: "string", rules: "max=200" })]);
    await c.routes();
    expect(counted).toEqual([`${uploadsURL}/routes`]);
    await c.routes({ refresh: true });
    expect(counted).toHaveLength(2);
  });
});

describe("multipart", () => {
  it("uploads small files in one request and they come back the same", async () => {
    const counting = countingFetch();
    const c = visitorClient({ fetch: counting.fetch });
    const a = new File(["first document\n"], "a.txt", { type: "text/plain" });
    const b = new File(["second document, a little longer\n"], "b.txt", { type: "text/plain" });
    const task = c.start("documents", [a, b]);
    const records = await task.promise;
    expect(task.via).toBe("multipart");
    expect(records.map((r) => [r.name, r.state, r.size])).toEqual([
      ["a.txt", "ready", a.size],
      ["b.txt", "ready", b.size],
    ]);
    for (const [i, f] of [a, b].entries()) {
      const bytes = new Uint8Array(await f.arrayBuffer());
      expect(records[i]!.sha256).toBe(sha256(bytes));
      expect(sha256(await download(records[i]!.url))).toBe(sha256(bytes));
    }
    expect(task.files.map((f) => f.state)).toEqual(["ready", "ready"]);
    // One request, answered with the final records.
    expect(counting.calls).toEqual(["POST /api/uploads/routes/documents"]);
  });

  it("pauses a request and sends it again on resume", async () => {
    // POSTs wait 300 ms before they are sent, or until they are aborted.
    const posts: string[] = [];
    const c = visitorClient({
      fetch: async (input, init) => {
        if (init?.method === "POST") {
          posts.push(String(input));
          await new Promise((resolve, reject) => {
            const t = setTimeout(resolve, 300);
            init.signal?.addEventListener("abort", () => {
              clearTimeout(t);
              reject(new DOMException("aborted", "AbortError"));
            });
          });
        }
        return fetch(input, init);
      },
    });
    const task = c.start("documents", new File(["paused document\n"], "p.txt", { type: "text/plain" }));
    await expect.poll(() => posts.length).toBe(1);
    expect(task.files[0]!.state).toBe("uploading");
    task.pause();
    expect(task.files[0]!.state).toBe("paused");
    await new Promise((r) => setTimeout(r, 500));
    expect(posts).toHaveLength(1); // nothing sent while paused
    task.resume();
    const [rec] = await task.promise;
    expect(posts).toHaveLength(2);
    expect(rec).toMatchObject({ state: "ready", name: "p.txt" });
    // The stopped request never reached the server.
    expect((await c.list("documents")).uploads.map((r) => r.id)).toEqual([rec!.id]);
  });

  it("waits while paused before it starts", async () => {
    const counting = countingFetch();
    const c = visitorClient({ fetch: counting.fetch });
    const task = c.start("documents", new File(["later\n"], "later.txt", { type: "text/plain" }));
    task.pause();
    expect(task.files[0]!.state).toBe("paused");
    await new Promise((r) => setTimeout(r, 300));
    expect(counting.calls).toEqual([]);
    task.resume();
    expect(task.files[0]!.state).toBe("queued");
    const [rec] = await task.promise;
    expect(rec!.state).toBe("ready");
    expect(counting.calls).toEqual(["POST /api/uploads/routes/documents"]);
  });

  it("sends the route's input, which reaches the record's result", async () => {
    const c = visitorClient();
    const image = png(32, 32);
    const [rec] = await c.upload("images", new File([image], "lake.png", { type: "image/png" }), {
      input: { caption: "At the lake" },
    });
    expect(rec).toMatchObject({ state: "ready", type: "image/png", sha256: sha256(image) });
    expect(rec!.result).toEqual({ caption: "At the lake", sha256: sha256(image) });
    expect(rec!.derivatives?.thumb).toBeTruthy();
    expect(sha256(await download(rec!.url))).toBe(sha256(image));
  });
});

describe("tus", () => {
  it("sends a file over the threshold resumably, with progress up to its size", async () => {
    const counting = countingFetch();
    const c = visitorClient({ fetch: counting.fetch });
    const file = randomFile(10 * MiB + 123, "big.bin");
    const events: UploadProgress[] = [];
    const task = c.start("files", file, { onProgress: (p) => events.push({ ...p }) });
    const [rec] = await task.promise;
    expect(task.via).toBe("tus");
    expect(rec).toMatchObject({ state: "ready", size: file.size, name: "big.bin", sha256: sha256(await file.arrayBuffer()) });
    expect(events.length).toBeGreaterThan(2);
    for (let i = 1; i < events.length; i++) expect(events[i]!.loaded).toBeGreaterThanOrEqual(events[i - 1]!.loaded);
    expect(events.at(-1)).toMatchObject({ loaded: file.size, total: file.size });
    expect(events.some((e) => e.loaded > 0 && e.loaded < file.size)).toBe(true);
    expect(sha256(await download(rec!.url))).toBe(rec!.sha256);
    // The bytes went by tus-js-client; the record was followed over its
    // event stream, without polling.
    expect(counting.calls).toEqual([`GET /api/uploads/uploads/${rec!.id}/events`]);
  });

  it("sends the route's input in the tus metadata", async () => {
    const c = visitorClient();
    const image = png(40, 30);
    const task = c.start("images", new File([image], "dusk.png", { type: "image/png" }), {
      input: { caption: "Dusk" },
      resumable: true,
    });
    const [rec] = await task.promise;
    expect(task.via).toBe("tus");
    expect(rec).toMatchObject({ state: "ready", name: "dusk.png", result: { caption: "Dusk", sha256: sha256(image) } });
  });

  it("follows a file processed in the background until it is ready", async () => {
    // Above the route's AsyncAbove (32 MiB), the last PATCH is answered
    // "processing" and the file is checked in the background.
    const c = visitorClient();
    const file = randomFile(40 * MiB, "large.bin");
    const states: string[] = [];
    const task = c.start("files", file, { onFileChange: (f) => states.push(f.state) });
    const [rec] = await task.promise;
    expect(rec).toMatchObject({ state: "ready", size: file.size, sha256: sha256(await file.arrayBuffer()) });
    expect(states).toEqual(["uploading", "processing", "ready"]);
  });

  it("pauses and resumes, and the file arrives whole", async () => {
    const c = visitorClient({ chunkSize: 2 * MiB });
    const file = randomFile(24 * MiB, "paused.bin");
    let pausedAt = -1;
    const task = c.start("files", file, {
      onProgress: (p) => {
        if (pausedAt < 0 && p.loaded >= 0.3 * p.total) {
          pausedAt = p.loaded;
          task.pause();
        }
      },
    });
    await expect.poll(() => task.files[0]!.state, { timeout: 30_000 }).toBe("paused");
    expect(task.paused).toBe(true);
    // Nothing moves while paused.
    const before = task.files[0]!.loaded;
    await new Promise((r) => setTimeout(r, 300));
    expect(task.files[0]!.loaded).toBe(before);
    expect(task.files[0]!.state).toBe("paused");
    task.resume();
    const [rec] = await task.promise;
    expect(pausedAt).toBeLessThan(file.size);
    expect(task.files[0]!.resumedFrom).toBeGreaterThan(0);
    expect(rec).toMatchObject({ state: "ready", size: file.size, sha256: sha256(await file.arrayBuffer()) });
  });

  it("resumes an interrupted upload when the same file is sent again", async () => {
    const c = visitorClient({ chunkSize: 2 * MiB });
    const file = randomFile(16 * MiB, "again.bin");
    // The first attempt stops part way, as when the page is closed.
    const first = c.start("files", file, {
      onProgress: (p) => {
        if (p.loaded >= 0.4 * p.total) first.pause();
      },
    });
    await expect.poll(() => first.files[0]!.state, { timeout: 30_000 }).toBe("paused");
    const id = first.files[0]!.id;
    expect(id).toBeTruthy();

    const second = c.start("files", file);
    const [rec] = await second.promise;
    expect(second.files[0]!.resumedFrom).toBeGreaterThan(0);
    expect(rec).toMatchObject({ id, state: "ready", sha256: sha256(await file.arrayBuffer()) });
  });

  it("cancels: the upload is terminated on the server", async () => {
    const c = visitorClient({ chunkSize: 2 * MiB });
    const file = randomFile(24 * MiB, "canceled.bin");
    const task = c.start("files", file, {
      onProgress: (p) => {
        if (p.loaded >= 0.2 * p.total) void task.cancel();
      },
    });
    const err = await refusal(task.promise);
    expect(err).toMatchObject({ code: "canceled", status: 0 });
    expect(task.files[0]!.state).toBe("canceled");
    const id = task.files[0]!.id!;
    expect(id).toBeTruthy();
    await task.cancel(); // waits for the termination sent by the first
    expect(await refusal(c.get(id))).toMatchObject({ code: "not_found", status: 404 });
  });

  it("cancels when the signal aborts", async () => {
    const c = visitorClient({ chunkSize: MiB });
    const ac = new AbortController();
    const p = c.upload("files", randomFile(12 * MiB, "signal.bin"), {
      signal: ac.signal,
      onProgress: (pr) => {
        if (pr.loaded > 0) ac.abort();
      },
    });
    expect(await refusal(p)).toMatchObject({ code: "canceled" });
  });
});

describe("refusals", () => {
  it("refuses before sending a byte what the route would refuse", async () => {
    const counting = countingFetch();
    const c = visitorClient({ fetch: counting.fetch });

    const big = new File([new Uint8Array(16 * MiB + 1)], "big.png", { type: "image/png" });
    expect(await refusal(c.upload("images", big))).toMatchObject({ code: "too_large", status: 413, fileIndex: 0 });

    const text = new File(["hello"], "note.txt", { type: "text/plain" });
    const small = new File([png(4, 4)], "ok.png", { type: "image/png" });
    expect(await refusal(c.upload("images", [small, text]))).toMatchObject({
      code: "type_not_allowed",
      status: 415,
      fileIndex: 1,
    });

    const many = Array.from({ length: 11 }, (_, i) => new File(["x"], `${i}.txt`, { type: "text/plain" }));
    expect(await refusal(c.upload("documents", many))).toMatchObject({ code: "too_many_files", status: 400 });
    expect(await refusal(c.upload("documents", []))).toMatchObject({ code: "too_few_files", status: 400 });
    expect(await refusal(c.upload("nope", small))).toMatchObject({ code: "unknown_route", status: 404 });

    // No request but GET B/routes, and nothing reached the server: this
    // visitor has no upload.
    expect(counting.calls).toEqual([]);
    for (const route of ["images", "documents"]) {
      expect((await c.list(route)).uploads).toEqual([]);
    }
  });

  it("carries the server's refusal of a file whose content is not its claimed type (multipart)", async () => {
    const c = visitorClient();
    const fake = new File(["this is text, not an image\n"], "fake.png", { type: "image/png" });
    const err = await refusal(c.upload("images", fake));
    expect(err).toMatchObject({ code: "type_not_allowed", status: 415 });
    expect(err.requestId).toBeTruthy();
    expect(err.message).toMatch(/text\/plain/);
  });

  it("carries the server's refusal of a file whose content is not its claimed type (tus)", async () => {
    const c = visitorClient();
    const fake = new File(["this is text, not an image\n"], "fake.png", { type: "image/png" });
    const task = c.start("images", fake, { resumable: true });
    const err = await refusal(task.promise);
    expect(err).toMatchObject({ code: "type_not_allowed", status: 415, fileIndex: 0 });
    expect(err.requestId).toBeTruthy();
    expect(task.files[0]!.state).toBe("rejected");
  });

  it("carries the invalid input's fields", async () => {
    const c = visitorClient();
    const image = new File([png(8, 8)], "long.png", { type: "image/png" });
    const err = await refusal(c.upload("images", image, { input: { caption: "x".repeat(201) } }));
    expect(err).toMatchObject({ code: "invalid_input", status: 422 });
    expect(err.fields).toEqual([expect.objectContaining({ field: "caption", rule: "max", param: "200" })]);
  });
});

describe("records", () => {
  it("lists the visitor's uploads, newest first, and deletes them", async () => {
    const c = visitorClient();
    const a = await c.upload("documents", new File(["one\n"], "one.txt", { type: "text/plain" }));
    const b = await c.upload("documents", new File(["two\n"], "two.txt", { type: "text/plain" }));
    const big = await c.upload("files", randomFile(5 * MiB, "five.bin"));
    const docs = await c.list("documents");
    expect(docs.uploads.map((r) => r.id)).toEqual([b[0]!.id, a[0]!.id]);
    expect(docs.next).toBeUndefined();
    const page = await c.list("documents", { limit: 1 });
    expect(page.uploads.map((r) => r.id)).toEqual([b[0]!.id]);
    const rest = await c.list("documents", { limit: 1, cursor: page.next! });
    expect(rest.uploads.map((r) => r.id)).toEqual([a[0]!.id]);
    expect((await c.list("files", { state: "ready" })).uploads.map((r) => r.id)).toEqual([big[0]!.id]);

    // Another visitor sees none of them.
    expect((await visitorClient().list("documents")).uploads).toEqual([]);

    await c.delete(a[0]!.id);
    expect(await refusal(c.get(a[0]!.id))).toMatchObject({ code: "not_found", status: 404 });
    expect((await c.list("documents")).uploads.map((r) => r.id)).toEqual([b[0]!.id]);
  });

  it("follows a record by polling when the event stream fails", async () => {
    const streams: string[] = [];
    const c = visitorClient({
      pollInterval: 100,
      fetch: (input, init) => {
        const u = String(input);
        if (u.endsWith("/events")) {
          streams.push(u);
          return Promise.reject(new TypeError("fetch failed"));
        }
        return fetch(input, init);
      },
    });
    const file = randomFile(MiB, "polled.bin");
    const [rec] = await c.upload("files", file, { resumable: true });
    expect(streams).toHaveLength(1);
    expect(rec).toMatchObject({ state: "ready", sha256: sha256(await file.arrayBuffer()) });
    expect(await c.wait(rec!.id)).toMatchObject({ id: rec!.id, state: "ready" });
  });
});

describe("createClient", () => {
  it("wants an absolute URL outside a browser", () => {
    expect(() => createClient({ url: "/api/uploads" })).toThrow(/not an absolute URL/);
  });

  it("reports a server it cannot reach as a network error", async () => {
    const c = createClient({ url: "http://127.0.0.1:9/api/uploads" });
    expect(await refusal(c.routes())).toMatchObject({ code: "network_error", status: 0 });
  });
});
