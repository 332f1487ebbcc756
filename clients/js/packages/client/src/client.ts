import { CarcosaError, canceledError, errorFromBody, errorFromResponse, networkError } from "./errors.js";
import { fileName } from "./check.js";
import { readEvents } from "./sse.js";
import { MemoryUrlStorage, inNode, shouldRetry, type UrlStorage } from "./tus.js";
import { UploadTask, type UploadOptions } from "./task.js";
import {
  isFinal,
  type RouteInfo,
  type RouteInput,
  type RouteMap,
  type RouteName,
  type RouteResult,
  type RoutesOf,
  type UploadPage,
  type UploadRecord,
  type UploadState,
} from "./types.js";

/** What {@link createClient} takes. */
export interface ClientOptions {
  /**
   * The server's mount path, e.g. "https://example.com/api/uploads"; in a
   * browser it may be relative to the page ("/api/uploads").
   */
  url: string | URL;
  /**
   * Headers sent with every request (an Authorization header, say), or a
   * function that returns them, called before each request and each file's
   * resumable upload, so that a token can be renewed.
   */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>);
  /**
   * The fetch used for every request but the resumable uploads' (which go
   * through tus-js-client's HTTP stack, with the same headers). Defaults to
   * the global fetch. When it is given, multipart uploads go through it too
   * (in browsers they otherwise use XMLHttpRequest, for progress).
   */
  fetch?: typeof globalThis.fetch;
  /**
   * Whether a browser sends cookies to another origin: "include" sets
   * fetch's credentials and XMLHttpRequest's withCredentials. Defaults to
   * fetch's default, "same-origin".
   */
  credentials?: RequestCredentials;
  /**
   * Files larger than this many bytes go by resumable upload (tus); an
   * upload whose files are all smaller goes in one multipart request.
   * Defaults to 4 MiB.
   */
  resumableThreshold?: number;
  /** The bytes sent per tus PATCH request. Defaults to 8 MiB. */
  chunkSize?: number;
  /** How many files of one upload are sent by tus at once. Defaults to 3. */
  parallelUploads?: number;
  /**
   * The waits, in milliseconds, before each new attempt of a tus request
   * that failed for want of a connection, or with 408, 409, 423, 429 or a
   * 5xx. Defaults to [0, 1000, 3000, 5000, 10000].
   */
  retryDelays?: number[];
  /**
   * Where the URLs of unfinished resumable uploads are kept, so that a
   * file chosen again (after a page reload, say) resumes where it stopped.
   * Defaults to localStorage in browsers (tus-js-client's) and to memory in
   * Node.
   */
  urlStorage?: UrlStorage;
  /**
   * How often, in milliseconds, an upload's record is read when its event
   * stream cannot be used. Defaults to 1000.
   */
  pollInterval?: number;
}

/** The files of an upload: a File or Blob, an array of them, or a FileList. */
export type Files = Blob | Iterable<Blob> | ArrayLike<Blob>;

/** The options argument of upload and start: required when the route's input has required fields. */
export type UploadArgs<I, Result> = {} extends I
  ? [options?: UploadOptions<I, Result>]
  : [options: UploadOptions<I, Result>];

/** Options of {@link CarcosaClient.list}. */
export interface ListOptions {
  /** Only uploads in this state. */
  state?: UploadState;
  /** The `next` of the previous page. */
  cursor?: string;
  /** 1-100; the server's default is 20. */
  limit?: number;
  signal?: AbortSignal;
}

/** Options of {@link CarcosaClient.wait}. */
export interface WaitOptions {
  signal?: AbortSignal;
  /** Called with the record on each change of its state. */
  onRecord?: (record: UploadRecord) => void;
}

/** A client of one Carcosa server, typed by its routes R. */
export interface CarcosaClient<R extends RoutesOf<R> = RouteMap> {
  /** The mount path, with a trailing slash. */
  readonly url: string;

  /** The server's routes (`GET B/routes`), read once and kept; refresh reads them again. */
  routes(options?: { refresh?: boolean }): Promise<RouteInfo[]>;

  /**
   * Uploads files to route and resolves with their records once every
   * file is ready. It rejects with a CarcosaError when a file is refused,
   * before any byte is sent (too large, wrong type, too many files) or by
   * the server; with several files, once all of them are over.
   */
  upload<K extends RouteName<R>>(
    route: K,
    files: Files,
    ...options: UploadArgs<RouteInput<R, K>, RouteResult<R, K>>
  ): Promise<UploadRecord<RouteResult<R, K>>[]>;

  /** Like upload, with a handle to follow, pause, resume or cancel the upload. */
  start<K extends RouteName<R>>(
    route: K,
    files: Files,
    ...options: UploadArgs<RouteInput<R, K>, RouteResult<R, K>>
  ): UploadTask<RouteResult<R, K>>;

  /** The caller's uploads of route, most recently changed first, a page at a time (`GET B/uploads?route=`). */
  list<K extends RouteName<R>>(route: K, options?: ListOptions): Promise<UploadPage<RouteResult<R, K>>>;

  /** One upload's record (`GET B/uploads/{id}`). */
  get(id: string, options?: { signal?: AbortSignal }): Promise<UploadRecord>;

  /**
   * Resolves with an upload's record once it is in a final state (ready,
   * rejected, quarantined or failed), followed over its event stream or,
   * when that cannot be used, by reading the record every pollInterval.
   */
  wait(id: string, options?: WaitOptions): Promise<UploadRecord>;

  /** Deletes a file and its record (`DELETE B/uploads/{id}`). */
  delete(id: string, options?: { signal?: AbortSignal }): Promise<void>;
}

/**
 * Returns a client of the Carcosa server mounted at options.url. Give it
 * the routes' types (the `CarcosaRoutes` that `carcosa` generates) to have
 * route names and inputs checked:
 *
 * ```ts
 * const c = createClient<CarcosaRoutes>({ url: "/api/uploads" });
 * const [photo] = await c.upload("images", file, { input: { caption: "At the lake" } });
 * ```
 */
export function createClient<R extends RoutesOf<R> = RouteMap>(options: ClientOptions): CarcosaClient<R> {
  return new Client(options) as unknown as CarcosaClient<R>;
}

const MiB = 1 << 20;

/** The untyped client behind CarcosaClient; tasks call back into it. */
export class Client {
  readonly url: string;
  readonly threshold: number;
  readonly chunkSize: number;
  readonly parallelUploads: number;
  readonly retryDelays: number[];
  readonly urlStorage: UrlStorage | undefined;
  readonly credentials: RequestCredentials | undefined;
  private readonly pollInterval: number;
  private readonly fetchFn: typeof globalThis.fetch;
  private readonly useXHR: boolean;
  private readonly headersOption: ClientOptions["headers"];
  private routesCache: Promise<RouteInfo[]> | undefined;

  constructor(o: ClientOptions) {
    if (!o || o.url === undefined || o.url === null || String(o.url) === "") {
      throw new TypeError("createClient: url is required, e.g. \"http://127.0.0.1:8080/api/uploads\"");
    }
    const page = (globalThis as { location?: { href?: string } }).location?.href;
    let base: URL;
    try {
      base = new URL(String(o.url), page);
    } catch {
      throw new TypeError(`createClient: url ${JSON.stringify(String(o.url))} is not an absolute URL`);
    }
    base.search = "";
    base.hash = "";
    if (!base.pathname.endsWith("/")) base.pathname += "/";
    this.url = base.href;
    this.threshold = o.resumableThreshold ?? 4 * MiB;
    this.chunkSize = o.chunkSize ?? 8 * MiB;
    this.parallelUploads = Math.max(1, o.parallelUploads ?? 3);
    this.retryDelays = o.retryDelays ?? [0, 1000, 3000, 5000, 10000];
    this.urlStorage = o.urlStorage ?? (inNode ? new MemoryUrlStorage() : undefined);
    this.credentials = o.credentials;
    this.pollInterval = o.pollInterval ?? 1000;
    this.headersOption = o.headers;
    const custom = o.fetch;
    this.fetchFn = custom ?? ((input, init) => globalThis.fetch(input, init));
    this.useXHR = !custom && typeof XMLHttpRequest !== "undefined";
  }

  /** The URL of path under the mount path. */
  endpoint(path: string): string {
    return new URL(path, this.url).href;
  }

  /** The headers option's headers, as a plain object. */
  async headers(): Promise<Record<string, string>> {
    const h = typeof this.headersOption === "function" ? await this.headersOption() : this.headersOption;
    const out: Record<string, string> = {};
    new Headers(h).forEach((v, k) => {
      out[k] = v;
    });
    return out;
  }

  /** Sends a request under the mount path; a status other than 2xx is thrown as the server's error. */
  async request(
    method: string,
    path: string,
    init: { body?: BodyInit; signal?: AbortSignal; accept?: string } = {},
  ): Promise<Response> {
    const headers = new Headers(await this.headers());
    if (init.accept) headers.set("Accept", init.accept);
    let res: Response;
    try {
      const req: RequestInit = { method, headers };
      if (init.body !== undefined) req.body = init.body;
      if (init.signal) req.signal = init.signal;
      if (this.credentials) req.credentials = this.credentials;
      res = await this.fetchFn(this.endpoint(path), req);
    } catch (err) {
      if (init.signal?.aborted) throw canceledError(err);
      throw networkError(err);
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  /** request, and the JSON of its answer. */
  async json<T>(method: string, path: string, init: { body?: BodyInit; signal?: AbortSignal } = {}): Promise<T> {
    const res = await this.request(method, path, { ...init, accept: "application/json" });
    try {
      return (await res.json()) as T;
    } catch (err) {
      if (init.signal?.aborted) throw canceledError(err);
      throw new CarcosaError({
        code: "bad_response",
        message: `the answer to ${method} ${path} is not JSON`,
        status: res.status,
        cause: err,
      });
    }
  }

  routes(options: { refresh?: boolean } = {}): Promise<RouteInfo[]> {
    if (!this.routesCache || options.refresh) {
      const p = this.json<{ routes: RouteInfo[] }>("GET", "routes").then((b) => b.routes);
      this.routesCache = p;
      // A failure is not kept: the next call asks again.
      p.catch(() => {
        if (this.routesCache === p) this.routesCache = undefined;
      });
    }
    return this.routesCache;
  }

  /** The route named name, from routes(). */
  async route(name: string): Promise<RouteInfo> {
    const r = (await this.routes()).find((r) => r.name === name);
    if (!r) {
      throw new CarcosaError({ code: "unknown_route", message: `no upload route named ${JSON.stringify(name)}`, status: 404 });
    }
    return r;
  }

  upload(route: string, files: Files, options?: UploadOptions<unknown, unknown>): Promise<UploadRecord[]> {
    return this.start(route, files, options).promise;
  }

  start(route: string, files: Files, options?: UploadOptions<unknown, unknown>): UploadTask<unknown> {
    const list = files instanceof Blob ? [files] : Array.from(files as ArrayLike<Blob>);
    return new UploadTask(this, route, list, options ?? {});
  }

  list(route: string, options: ListOptions = {}): Promise<UploadPage> {
    const q = new URLSearchParams({ route });
    if (options.state) q.set("state", options.state);
    if (options.cursor) q.set("cursor", options.cursor);
    if (options.limit !== undefined) q.set("limit", String(options.limit));
    return this.json<UploadPage>("GET", `uploads?${q}`, options.signal ? { signal: options.signal } : {});
  }

  get(id: string, options: { signal?: AbortSignal } = {}): Promise<UploadRecord> {
    return this.json<UploadRecord>("GET", `uploads/${encodeURIComponent(id)}`, options.signal ? { signal: options.signal } : {});
  }

  async delete(id: string, options: { signal?: AbortSignal } = {}): Promise<void> {
    const res = await this.request("DELETE", `uploads/${encodeURIComponent(id)}`, options.signal ? { signal: options.signal } : {});
    await res.body?.cancel();
  }

  async wait(id: string, options: WaitOptions = {}): Promise<UploadRecord> {
    const { signal } = options;
    let last: UploadRecord | undefined;
    const seen = (rec: UploadRecord) => {
      if (last && last.state === rec.state) return;
      last = rec;
      options.onRecord?.(rec);
    };
    try {
      const init: { signal?: AbortSignal; accept: string } = { accept: "text/event-stream" };
      if (signal) init.signal = signal;
      const res = await this.request("GET", `uploads/${encodeURIComponent(id)}/events`, init);
      if (res.body && (res.headers.get("Content-Type") ?? "").startsWith("text/event-stream")) {
        for await (const ev of readEvents(res.body)) {
          if (ev.event !== "state") continue;
          const rec = JSON.parse(ev.data) as UploadRecord;
          seen(rec);
          if (isFinal(rec.state)) return rec;
        }
      } else {
        await res.body?.cancel();
      }
    } catch (err) {
      if (signal?.aborted) throw canceledError(err);
      // Not found, forbidden: polling would say the same.
      if (err instanceof CarcosaError && err.status >= 400 && !shouldRetry(err.status)) throw err;
      // Else the stream failed or was cut: read the record instead.
    }
    let failures = 0;
    for (;;) {
      try {
        const rec = await this.get(id, signal ? { signal } : {});
        failures = 0;
        seen(rec);
        if (isFinal(rec.state)) return rec;
      } catch (err) {
        if (signal?.aborted) throw canceledError(err);
        if (!(err instanceof CarcosaError) || !shouldRetry(err.status) || ++failures > 5) throw err;
      }
      await sleep(this.pollInterval, signal);
    }
  }

  /**
   * Sends files to route in one multipart request; resolves with their
   * records. onProgress gets the bytes of the body sent so far and its size
   * (in browsers, through XMLHttpRequest; fetch tells nothing until the
   * answer).
   */
  async sendMultipart(
    route: string,
    input: unknown,
    files: readonly Blob[],
    signal: AbortSignal,
    onProgress: (sent: number, total: number) => void,
  ): Promise<UploadRecord[]> {
    const form = new FormData();
    // The input part comes before the files, as the server requires.
    if (input !== undefined) form.append("input", JSON.stringify(input));
    for (const f of files) form.append("file", f, fileName(f));
    const path = `routes/${encodeURIComponent(route)}`;
    const body = this.useXHR
      ? await this.sendXHR(path, form, signal, onProgress)
      : await this.json<{ uploads: UploadRecord[] }>("POST", path, { body: form, signal });
    if (!body || !Array.isArray(body.uploads)) {
      throw new CarcosaError({ code: "bad_response", message: `the answer to POST ${path} holds no uploads`, status: 201 });
    }
    return body.uploads;
  }

  private async sendXHR(
    path: string,
    form: FormData,
    signal: AbortSignal,
    onProgress: (sent: number, total: number) => void,
  ): Promise<{ uploads: UploadRecord[] }> {
    const headers = await this.headers();
    return new Promise((resolve, reject) => {
      if (signal.aborted) return reject(canceledError());
      const xhr = new XMLHttpRequest();
      xhr.open("POST", this.endpoint(path));
      for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
      xhr.setRequestHeader("Accept", "application/json");
      if (this.credentials === "include") xhr.withCredentials = true;
      xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.total));
      const onAbort = () => xhr.abort();
      signal.addEventListener("abort", onAbort, { once: true });
      const done = () => signal.removeEventListener("abort", onAbort);
      xhr.addEventListener("load", () => {
        done();
        if (xhr.status < 200 || xhr.status >= 300) {
          reject(errorFromBody(xhr.status, xhr.responseText, { get: (h) => xhr.getResponseHeader(h) }));
          return;
        }
        try {
          resolve(JSON.parse(xhr.responseText));
        } catch (err) {
          reject(new CarcosaError({ code: "bad_response", message: `the answer to POST ${path} is not JSON`, status: xhr.status, cause: err }));
        }
      });
      xhr.addEventListener("error", () => {
        done();
        reject(networkError(new Error("XMLHttpRequest failed")));
      });
      xhr.addEventListener("abort", () => {
        done();
        reject(canceledError());
      });
      xhr.send(form);
    });
  }
}

/** Waits ms, or rejects with canceled when signal aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(canceledError());
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(canceledError());
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
