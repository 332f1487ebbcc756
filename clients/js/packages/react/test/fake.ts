// A client that uploads nothing: its tasks are moved by the test, so the
// hook and the components can be tested without a server.
import { CarcosaError, type FileStatus, type RouteInfo, type UploadRecord } from "@carcosa/client";
import type { AnyClient } from "../src/index.js";

export interface FakeTask {
  route: string;
  file: Blob;
  options: Record<string, unknown>;
  status: FileStatus;
  paused: boolean;
  canceled: boolean;
  /** Moves the file to loaded bytes. */
  progress(loaded: number): void;
  /** Ends it ready with rec. */
  succeed(rec?: Partial<UploadRecord>): void;
  /** Ends it refused with err. */
  refuse(err: CarcosaError): void;
}

export const imagesRoute: RouteInfo = {
  name: "images",
  accept: ["image"],
  maxFileSize: 16 << 20,
  minFiles: 1,
  maxFiles: 10,
  public: true,
  input: [],
};

export function fakeClient() {
  const tasks: FakeTask[] = [];
  const client = {
    url: "http://carcosa.test/api/uploads/",
    routes: async () => [imagesRoute],
    start(route: string, files: Blob | Blob[], options: Record<string, unknown> = {}) {
      const file = files instanceof Blob ? files : files[0]!;
      const status: FileStatus = { index: 0, file, name: (file as File).name ?? "blob", loaded: 0, total: file.size, state: "queued" };
      let resolve!: (r: UploadRecord[]) => void;
      let reject!: (e: unknown) => void;
      const promise = new Promise<UploadRecord[]>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      const changed = () => (options.onFileChange as ((s: FileStatus) => void) | undefined)?.(status);
      const t: FakeTask = {
        route,
        file,
        options,
        status,
        paused: false,
        canceled: false,
        progress(loaded) {
          status.loaded = loaded;
          if (status.state === "queued") {
            status.state = "uploading";
            changed();
          }
          (options.onProgress as ((p: unknown) => void) | undefined)?.({ loaded, total: file.size, file: status, files: [status] });
        },
        succeed(rec = {}) {
          const record: UploadRecord = {
            id: `up-${tasks.indexOf(t)}`,
            route,
            name: status.name,
            size: file.size,
            state: "ready",
            createdAt: new Date().toISOString(),
            ...rec,
          };
          status.loaded = file.size;
          status.record = record;
          status.state = "ready";
          changed();
          resolve([record]);
        },
        refuse(err) {
          status.error = err;
          status.state = "rejected";
          changed();
          reject(err);
        },
      };
      const task = {
        promise,
        files: [status],
        pause() {
          t.paused = true;
          status.state = "paused";
          changed();
        },
        resume() {
          t.paused = false;
          status.state = "uploading";
          changed();
        },
        async cancel() {
          t.canceled = true;
          status.state = "canceled";
          changed();
          reject(new CarcosaError({ code: "canceled", message: "the upload was canceled", status: 0 }));
        },
      };
      tasks.push(t);
      return task;
    },
  };
  return { client: client as unknown as AnyClient, tasks };
}

export function imageFile(name = "lake.png", size = 1000): File {
  return new File([new Uint8Array(size)], name, { type: "image/png" });
}
