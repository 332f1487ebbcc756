import * as tus from "tus-js-client";
import { CarcosaError, errorFromBody, networkError } from "./errors.js";
import { claimedType, fileName } from "./check.js";

// What tus-js-client needs to run alike in browsers and in Node.

/** tus-js-client's options. */
export type TusOptions = ConstructorParameters<typeof tus.Upload>[1];

// UrlStorage and PreviousUpload are tus-js-client's, written out here so
// that the package's types do not import its, which need Node's types
// (Buffer) even in a browser project.

/** An unfinished upload, as a UrlStorage keeps it. */
export interface PreviousUpload {
  size: number | null;
  metadata: { [key: string]: string };
  creationTime: string;
  urlStorageKey: string;
  uploadUrl: string | null;
  parallelUploadUrls: string[] | null;
}

/** Where resumable uploads' URLs are kept, by the file's fingerprint: tus-js-client's UrlStorage. */
export interface UrlStorage {
  findAllUploads(): Promise<PreviousUpload[]>;
  findUploadsByFingerprint(fingerprint: string): Promise<PreviousUpload[]>;
  removeUpload(urlStorageKey: string): Promise<void>;
  /** Returns the key under which the upload is kept. */
  addUpload(fingerprint: string, upload: PreviousUpload): Promise<string>;
}

/** Whether this runs in Node (or a runtime that takes Node's tus-js-client), not a browser. */
export const inNode: boolean =
  typeof (globalThis as { window?: unknown }).window === "undefined" &&
  typeof (globalThis as { process?: { versions?: { node?: string } } }).process?.versions?.node === "string";

/**
 * An in-memory UrlStorage: in Node, where there is no localStorage, an
 * upload paused or interrupted resumes when the same file is sent again by
 * the same process.
 */
export class MemoryUrlStorage implements UrlStorage {
  private uploads = new Map<string, PreviousUpload & { fingerprint: string }>();
  private next = 0;

  async findAllUploads(): Promise<PreviousUpload[]> {
    return [...this.uploads.values()];
  }

  async findUploadsByFingerprint(fingerprint: string): Promise<PreviousUpload[]> {
    return [...this.uploads.values()].filter((u) => u.fingerprint === fingerprint);
  }

  async removeUpload(urlStorageKey: string): Promise<void> {
    this.uploads.delete(urlStorageKey);
  }

  async addUpload(fingerprint: string, upload: PreviousUpload): Promise<string> {
    const key = `carcosa::${fingerprint}::${this.next++}`;
    this.uploads.set(key, { ...upload, urlStorageKey: key, fingerprint });
    return key;
  }
}

/**
 * The fingerprint under which a file's upload URL is kept: the route, the
 * input, the file's name, type, size and modification time, and the
 * endpoint, as tus-js-client's own in browsers. A Blob without a name and a
 * modification time gets none, and is never resumed: another Blob of the
 * same size would be taken for it.
 */
export function fingerprint(route: string, input: unknown, file: Blob, endpoint: string): string | null {
  const f = file as Partial<File>;
  if (typeof f.name !== "string" || typeof f.lastModified !== "number") return null;
  return ["carcosa", route, JSON.stringify(input ?? null), f.name, claimedType(file), file.size, f.lastModified, endpoint].join("|");
}

type FileSource = Awaited<ReturnType<NonNullable<TusOptions["fileReader"]>["openFile"]>>;

/**
 * A tus-js-client FileReader for Node that reads Blobs (and Files), which
 * its own reads not: a chunk at a time, as a Uint8Array, so that memory
 * stays within one chunk whatever the file's size. Anything else goes to
 * its own reader (Buffers, streams).
 */
export const nodeBlobReader: NonNullable<TusOptions["fileReader"]> = {
  openFile(input: unknown, chunkSize: number): Promise<FileSource> {
    if (input instanceof Blob) {
      const blob = input;
      return Promise.resolve({
        size: blob.size,
        async slice(start: number, end: number) {
          const value = new Uint8Array(await blob.slice(start, end).arrayBuffer());
          // Node's HTTP stack sets Content-Length from size.
          (value as Uint8Array & { size: number }).size = value.length;
          return { value, done: end >= blob.size };
        },
        close() {},
      });
    }
    return tus.defaultOptions.fileReader.openFile(input, chunkSize);
  },
};

/** The tus upload ID of an upload URL: its last segment. */
export function uploadId(url: string): string {
  return new URL(url).pathname.split("/").filter(Boolean).pop() ?? "";
}

/** tus metadata of a file of route. */
export function metadataOf(route: string, input: unknown, file: Blob): Record<string, string> {
  const md: Record<string, string> = { route, filename: fileName(file) };
  const t = claimedType(file);
  if (t) md.filetype = t;
  if (input !== undefined) md.input = JSON.stringify(input);
  return md;
}

/** Whether a tus request that failed with status should be tried again. */
export function shouldRetry(status: number): boolean {
  return status === 0 || status === 408 || status === 409 || status === 423 || status === 429 || (status >= 500 && status !== 501);
}

/** The CarcosaError of what tus-js-client reports. */
export function errorFromTus(err: unknown): CarcosaError {
  if (err instanceof CarcosaError) return err;
  const d = err as Partial<tus.DetailedError>;
  const res = d.originalResponse;
  if (res) {
    let body = "";
    try {
      body = res.getBody() ?? "";
    } catch {
      // no body
    }
    const e = errorFromBody(res.getStatus(), body, { get: (h) => res.getHeader(h) });
    (e as { cause?: unknown }).cause = err;
    return e;
  }
  return networkError(d.causingError ?? err);
}
