import * as tus from "tus-js-client";
import type { Client } from "./client.js";
import { checkFiles, fileName } from "./check.js";
import { CarcosaError, canceledError, errorFromRecord, networkError } from "./errors.js";
import {
  errorFromTus,
  fingerprint,
  inNode,
  metadataOf,
  nodeBlobReader,
  shouldRetry,
  uploadId,
  type TusOptions,
} from "./tus.js";
import { isFinal, type UploadRecord, type UploadState } from "./types.js";

/**
 * The state of one file of an upload: queued (waiting for its turn),
 * uploading, paused, processing (every byte sent, the server checking it),
 * then a final state of the server's (ready, rejected, quarantined,
 * failed), or canceled.
 */
export type FileState = "queued" | "uploading" | "paused" | "processing" | UploadState | "canceled";

/** One file of an upload, as it goes. The task updates these objects in place. */
export interface FileStatus<Result = unknown> {
  /** Its place among the files given. */
  readonly index: number;
  readonly file: Blob;
  /** The name it is sent under. */
  readonly name: string;
  /** Bytes sent (multipart) or received by the server (tus). */
  loaded: number;
  /** Its size. */
  total: number;
  state: FileState;
  /** The upload's ID, once the server has given one. */
  id?: string;
  /** Its record, once in a final state. */
  record?: UploadRecord<Result>;
  /** Why it did not end ready. */
  error?: CarcosaError;
  /** The offset a resumable upload resumed from, when it resumed one sent earlier. */
  resumedFrom?: number;
}

/** What onProgress is told. */
export interface UploadProgress<Result = unknown> {
  /** Bytes of all the files sent so far, and their total size. */
  loaded: number;
  total: number;
  /** The file that moved. */
  file: FileStatus<Result>;
  files: readonly FileStatus<Result>[];
}

/** The options of upload and start, but the input. */
export interface UploadCallbacks<Result = unknown> {
  /** Called as bytes go, per file and in total. */
  onProgress?: (progress: UploadProgress<Result>) => void;
  /** Called when a file's state changes. */
  onFileChange?: (file: FileStatus<Result>) => void;
  /** Cancels the upload when it aborts, as cancel() does. */
  signal?: AbortSignal;
  /**
   * true: every file by resumable upload (tus); false: all in one
   * multipart request. Defaults to tus when a file is larger than the
   * client's resumableThreshold.
   */
  resumable?: boolean;
}

/** The options of upload and start: the route's input (JSON), and callbacks. */
export type UploadOptions<I = unknown, Result = unknown> = UploadCallbacks<Result> &
  ({} extends I ? { input?: I } : { input: I });

/** The state of a file refused with err: failed when the server could not be reached or failed itself, else rejected. */
function stateOf(err: CarcosaError): FileState {
  return err.status === 0 || err.status >= 500 ? "failed" : "rejected";
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A resumable upload of one file, while it runs. */
interface Running {
  up: tus.Upload;
  /** Set once it may be started (its previous upload looked up). */
  ready: boolean;
  /** Ends its wait: on success, error or cancel. */
  finish(): void;
}

/**
 * One upload of files to a route, running. `promise` resolves with the
 * records once every file is ready, or rejects with the first file's
 * CarcosaError once all are over.
 */
export class UploadTask<Result = unknown> {
  /** Resolves with the files' records, in the order given, once all are ready. */
  readonly promise: Promise<UploadRecord<Result>[]>;
  /** The files, updated in place as they go. */
  readonly files: readonly FileStatus<Result>[];
  /** How the files go: by tus or in one multipart request; known once they are checked. */
  via: "tus" | "multipart" | undefined;

  private pausedNow = false;
  private canceled = false;
  private canceling: Promise<void> | undefined;
  private gate: Deferred<void> | undefined;
  private readonly canceledDone = deferred<never>();
  private readonly running = new Map<number, Running>();
  private readonly follows: Promise<void>[] = [];
  private readonly aborts = new Set<AbortController>();
  private multipart: AbortController | undefined;

  constructor(
    private readonly client: Client,
    private readonly route: string,
    blobs: Blob[],
    private readonly options: UploadOptions<unknown, Result>,
  ) {
    this.files = blobs.map((file, index) => ({ index, file, name: fileName(file), loaded: 0, total: file.size, state: "queued" }));
    const main = this.run();
    main.catch(() => {}); // reported through promise
    this.promise = Promise.race([main, this.canceledDone.promise]);
    const signal = options.signal;
    if (signal) {
      if (signal.aborted) void this.cancel();
      else signal.addEventListener("abort", () => void this.cancel(), { once: true });
    }
  }

  /** Whether the upload is paused. */
  get paused(): boolean {
    return this.pausedNow;
  }

  /**
   * Pauses the upload: resumable uploads stop where they are and go on from
   * there on resume(); a multipart request is stopped, and sent again from
   * the start on resume() (it holds only small files).
   */
  pause(): void {
    if (this.pausedNow || this.canceled) return;
    this.pausedNow = true;
    this.gate = deferred<void>();
    for (const r of this.running.values()) void r.up.abort(false);
    this.multipart?.abort();
    for (const f of this.files) {
      if (f.state === "queued" || f.state === "uploading") this.setState(f, "paused");
    }
  }

  /** Resumes a paused upload. */
  resume(): void {
    if (!this.pausedNow || this.canceled) return;
    this.pausedNow = false;
    for (const [i, r] of this.running) {
      const f = this.files[i]!;
      if (r.ready && f.state === "paused") {
        this.setState(f, "uploading");
        r.up.start();
      }
    }
    // The others wait for their turn again.
    for (const f of this.files) {
      if (f.state === "paused") this.setState(f, "queued");
    }
    this.gate?.resolve();
    this.gate = undefined;
  }

  /**
   * Cancels the upload: resumable uploads under way are terminated on the
   * server (tus DELETE), a multipart request is stopped, and promise
   * rejects with code "canceled". Files already complete stay (delete
   * them with the client's delete). Resolves once the terminations are
   * sent.
   */
  cancel(): Promise<void> {
    this.canceling ??= this.stop();
    return this.canceling;
  }

  private async stop(): Promise<void> {
    this.canceled = true;
    const terminations: Promise<void>[] = [];
    for (const r of this.running.values()) {
      terminations.push(r.up.abort(true).catch(() => {}));
      r.finish();
    }
    this.multipart?.abort();
    for (const a of this.aborts) a.abort();
    for (const f of this.files) {
      if (!isFinal(f.state)) this.setState(f, "canceled");
    }
    this.gate?.resolve();
    this.canceledDone.reject(canceledError());
    await Promise.all(terminations);
  }

  private async run(): Promise<UploadRecord<Result>[]> {
    const route = await this.client.route(this.route);
    checkFiles(
      route,
      this.files.map((f) => f.file),
    );
    if (this.canceled) throw canceledError();
    const resumable = this.options.resumable ?? this.files.some((f) => f.total > this.client.threshold);
    this.via = resumable ? "tus" : "multipart";
    if (resumable) await this.runTus();
    else await this.runMultipart();
    await Promise.all(this.follows);
    if (this.canceled) throw canceledError();
    const records = this.files.flatMap((f) => (f.record ? [f.record] : []));
    const failed = this.files.find((f) => f.error || f.state !== "ready");
    if (failed) {
      const err =
        failed.error ??
        new CarcosaError({ code: "internal", message: `${failed.name} ended ${failed.state}`, status: 500 });
      err.records = records;
      throw err;
    }
    return records;
  }

  /** Waits while the upload is paused. */
  private async whileRunning(): Promise<void> {
    while (this.pausedNow && !this.canceled) await this.gate?.promise;
  }

  private async runMultipart(): Promise<void> {
    const total = this.files.reduce((n, f) => n + f.total, 0);
    for (;;) {
      await this.whileRunning();
      if (this.canceled) return;
      const ac = new AbortController();
      this.multipart = ac;
      for (const f of this.files) {
        f.loaded = 0;
        this.setState(f, "uploading");
      }
      let records: UploadRecord[];
      try {
        records = await this.client.sendMultipart(
          this.route,
          this.options.input,
          this.files.map((f) => f.file),
          ac.signal,
          (sent, size) => this.spread(size > 0 ? (sent / size) * total : 0),
        );
      } catch (err) {
        if (this.canceled) return;
        if (this.pausedNow && ac.signal.aborted) continue; // sent again on resume
        const e = err instanceof CarcosaError ? err : networkError(err);
        for (const f of this.files) {
          f.error = e;
          this.setState(f, stateOf(e));
        }
        return;
      } finally {
        this.multipart = undefined;
      }
      let moved: FileStatus<Result> | undefined;
      this.files.forEach((f, i) => {
        if (f.loaded !== f.total) moved = f;
        f.loaded = f.total;
        f.id = records[i]?.id;
      });
      if (moved) this.emitProgress(moved);
      this.files.forEach((f, i) => {
        const rec = records[i];
        if (!rec) {
          f.error = new CarcosaError({ code: "bad_response", message: `the server returned no record for ${f.name}`, status: 201 });
          this.setState(f, "failed");
        } else if (isFinal(rec.state)) this.settle(f, rec);
        else this.follows.push(this.follow(f));
      });
      return;
    }
  }

  /** Spreads sent bytes of a multipart body over its files, in order. */
  private spread(sent: number): void {
    let left = sent;
    let moved: FileStatus<Result> | undefined;
    for (const f of this.files) {
      const n = Math.max(0, Math.min(f.total, left));
      left -= f.total;
      if (n !== f.loaded) {
        f.loaded = n;
        moved = f;
      }
    }
    if (moved) this.emitProgress(moved);
  }

  private async runTus(): Promise<void> {
    const queue = [...this.files];
    const worker = async () => {
      for (let f = queue.shift(); f; f = queue.shift()) {
        await this.whileRunning();
        if (this.canceled) return;
        await this.sendTus(f);
      }
    };
    const n = Math.min(this.client.parallelUploads, queue.length);
    await Promise.all(Array.from({ length: n }, worker));
  }

  /** Sends one file by tus; on success its record is followed. It never rejects: the file's error says why. */
  private async sendTus(f: FileStatus<Result>): Promise<void> {
    const c = this.client;
    const endpoint = c.endpoint("tus/");
    const input = this.options.input;
    const headers = await c.headers();
    const done = deferred<void>();
    const opts: TusOptions = {
      endpoint,
      metadata: metadataOf(this.route, input, f.file),
      headers,
      chunkSize: c.chunkSize,
      retryDelays: c.retryDelays,
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      fingerprint: (async () => fingerprint(this.route, input, f.file, endpoint)) as unknown as TusOptions["fingerprint"],
      onShouldRetry: (err) => shouldRetry(err.originalResponse?.getStatus() ?? 0),
      onAfterResponse: (req, res) => {
        // A resumed upload: the server has the bytes up to its offset.
        if (req.getMethod() === "HEAD" && res.getStatus() === 200) {
          const offset = Number(res.getHeader("Upload-Offset"));
          if (Number.isFinite(offset) && offset > 0) {
            f.resumedFrom = offset;
            f.loaded = offset;
            this.emitProgress(f);
          }
        }
      },
      onUploadUrlAvailable: () => {
        if (up.url) f.id = uploadId(up.url);
      },
      onProgress: (sent) => {
        if (sent === f.loaded) return;
        f.loaded = sent;
        this.emitProgress(f);
      },
      onSuccess: () => {
        if (up.url) f.id = uploadId(up.url);
        f.loaded = f.total;
        done.resolve();
      },
      onError: (err) => {
        if (up.url) f.id = uploadId(up.url);
        const e = errorFromTus(err);
        e.fileIndex = f.index;
        f.error = e;
        done.resolve();
      },
    };
    if (c.urlStorage) opts.urlStorage = c.urlStorage;
    if (inNode) opts.fileReader = nodeBlobReader;
    if (!inNode && c.credentials === "include") {
      opts.onBeforeRequest = (req) => {
        (req.getUnderlyingObject() as XMLHttpRequest).withCredentials = true;
      };
    }
    const up = new tus.Upload(f.file, opts);
    const r: Running = { up, ready: false, finish: () => done.resolve() };
    this.running.set(f.index, r);
    try {
      // The same file sent before (then the page reloaded, say) goes on
      // where it stopped.
      const previous = await up.findPreviousUploads().catch(() => []);
      if (previous[0]) {
        up.resumeFromPreviousUpload(previous[0]);
        if (up.url) f.id = uploadId(up.url);
      }
      r.ready = true;
      if (this.canceled) return;
      if (this.pausedNow) this.setState(f, "paused");
      else {
        this.setState(f, "uploading");
        up.start();
      }
      await done.promise;
    } finally {
      this.running.delete(f.index);
    }
    if (this.canceled) return;
    if (f.error) {
      this.setState(f, stateOf(f.error));
      return;
    }
    this.setState(f, "processing");
    this.follows.push(this.follow(f));
  }

  /** Follows file f's record until it is final. */
  private async follow(f: FileStatus<Result>): Promise<void> {
    if (!f.id) return;
    const ac = new AbortController();
    this.aborts.add(ac);
    try {
      const rec = await this.client.wait(f.id, {
        signal: ac.signal,
        onRecord: (rec) => {
          if (rec.state === "processing") this.setState(f, "processing");
        },
      });
      this.settle(f, rec);
    } catch (err) {
      if (this.canceled) return;
      const e = err instanceof CarcosaError ? err : networkError(err);
      e.fileIndex = f.index;
      f.error = e;
      this.setState(f, "failed");
    } finally {
      this.aborts.delete(ac);
    }
  }

  /** Ends file f with its final record. */
  private settle(f: FileStatus<Result>, rec: UploadRecord): void {
    f.record = rec as UploadRecord<Result>;
    f.id = rec.id;
    if (rec.state !== "ready") {
      const e = errorFromRecord(rec);
      e.fileIndex = f.index;
      f.error = e;
    }
    this.setState(f, rec.state);
  }

  private setState(f: FileStatus<Result>, state: FileState): void {
    if (f.state === state) return;
    f.state = state;
    this.call(() => this.options.onFileChange?.(f));
  }

  private emitProgress(f: FileStatus<Result>): void {
    const cb = this.options.onProgress;
    if (!cb) return;
    let loaded = 0;
    let total = 0;
    for (const x of this.files) {
      loaded += x.loaded;
      total += x.total;
    }
    this.call(() => cb({ loaded, total, file: f, files: this.files }));
  }

  /** Calls a callback of the caller's; what it throws is reported, not let into the upload. */
  private call(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      setTimeout(() => {
        throw err;
      });
    }
  }
}
