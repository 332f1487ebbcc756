import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import {
  CarcosaError,
  isFinal,
  type FileState,
  type FileStatus,
  type RouteInfo,
  type UploadRecord,
  type UploadTask,
} from "@carcosa/client";
import { useCarcosaClient, type AnyClient } from "./context.js";

/**
 * A file's state in useUpload: "selected" (chosen, not yet started, with
 * autoUpload off), then the client's: queued, uploading, paused,
 * processing, and ready, rejected, quarantined, failed or canceled.
 */
export type UploadFileState = "selected" | FileState;

/** One file of useUpload, as it goes. A new object on every change. */
export interface UploadFile<Result = unknown> {
  /** Stable for the file's life in the list; use it as a React key. */
  readonly key: string;
  readonly file: File | Blob;
  readonly name: string;
  readonly size: number;
  /** Bytes sent (or, for resumable uploads, received by the server). */
  readonly loaded: number;
  /** 0-100. */
  readonly progress: number;
  readonly state: UploadFileState;
  /** Why it did not end ready: the server's refusal, or the client's (canceled, network_error). */
  readonly error?: CarcosaError;
  /** Its record, once final. */
  readonly record?: UploadRecord<Result>;
  /** An object URL of the file, for images, from the moment it is chosen; revoked when it is removed or the component unmounts. */
  readonly preview?: string;
  /** The server's offset a resumable upload went on from, when it resumed one sent earlier (e.g. before a reload). */
  readonly resumedFrom?: number;
}

/** The state of all the files: idle (none), selected, uploading, paused, done (all ready) or error (all over, one not ready). */
export type UploadState = "idle" | "selected" | "uploading" | "paused" | "done" | "error";

/** What useUpload takes. */
export interface UseUploadOptions<Input = unknown, Result = unknown> {
  /** The client; defaults to the nearest CarcosaProvider's. */
  client?: AnyClient;
  /** The route's input, sent with every file unless start is given another. */
  input?: Input;
  /** Force tus (true) or multipart (false); by default the client chooses by size. */
  resumable?: boolean;
  /** Called with a file's record once it is ready. */
  onFileComplete?: (record: UploadRecord<Result>, file: UploadFile<Result>) => void;
  /** Called when a file is refused or fails. */
  onFileError?: (error: CarcosaError, file: UploadFile<Result>) => void;
  /** Called with every ready record once no file is under way any more, if at least one is ready. */
  onComplete?: (records: UploadRecord<Result>[]) => void;
}

/** What useUpload returns. */
export interface UseUpload<Input = unknown, Result = unknown> {
  /**
   * Adds files and starts them; without files, starts those selected
   * (see add). Each file is an upload of its own, so that one refused file
   * does not stop the others, and each may be retried or removed alone.
   * Resolves with the records of those that end ready.
   */
  start(files?: FileList | Iterable<File | Blob> | File | Blob | null, input?: Input): Promise<UploadRecord<Result>[]>;
  /** Adds files as "selected", with their previews, without starting them. */
  add(files: FileList | Iterable<File | Blob> | File | Blob | null): void;
  /** The files, in the order added. */
  files: UploadFile<Result>[];
  /** 0-100 over the files that are not refused, removed or canceled. */
  progress: number;
  state: UploadState;
  /** The first file's error, if any. */
  error: CarcosaError | undefined;
  /** Pauses every file under way (resumable uploads stop where they are). */
  pause(): void;
  resume(): void;
  /** Cancels every file under way (their tus uploads are terminated on the server). */
  cancel(): void;
  /** Starts a file again that ended rejected, failed, quarantined or canceled. */
  retry(file: UploadFile<Result> | string): void;
  /** Removes a file from the list, canceling it if it is under way, and revokes its preview. */
  remove(file: UploadFile<Result> | string): void;
  /** Removes every file. */
  clear(): void;
}

interface Entry<Result> {
  file: UploadFile<Result>;
  task?: UploadTask<Result>;
  input: unknown;
}

/** A change to a file. */
type Change<Result> = { -readonly [K in Exclude<keyof UploadFile<Result>, "key">]?: UploadFile<Result>[K] };

let nextKey = 0;

const settled: readonly UploadFileState[] = ["ready", "rejected", "quarantined", "failed", "canceled"];

function toList(files: FileList | Iterable<File | Blob> | File | Blob | null | undefined): (File | Blob)[] {
  if (!files) return [];
  if (files instanceof Blob) return [files];
  return Array.from(files as Iterable<File | Blob>);
}

function nameOf(f: Blob): string {
  const n = (f as Partial<File>).name;
  return typeof n === "string" && n !== "" ? n : "blob";
}

function canPreview(f: Blob): boolean {
  return f.type.startsWith("image/") && typeof URL !== "undefined" && typeof URL.createObjectURL === "function";
}

function percent(loaded: number, total: number): number {
  if (total <= 0) return loaded > 0 ? 100 : 0;
  return Math.min(100, Math.floor((100 * loaded) / total));
}

/** The state of a file whose upload rejected with err, when its FileStatus did not reach a final state. */
function stateOfError(err: CarcosaError): UploadFileState {
  if (err.code === "canceled") return "canceled";
  return err.status === 0 || err.status >= 500 ? "failed" : "rejected";
}

function asCarcosaError(err: unknown): CarcosaError {
  if (err instanceof CarcosaError) return err;
  return new CarcosaError({
    code: "internal",
    message: err instanceof Error ? err.message : String(err),
    status: 0,
    cause: err,
  });
}

/**
 * Uploads files to route and follows them, for a React component:
 * per-file state, progress, previews and errors, and pause, resume,
 * cancel, retry and remove. Built on the client's start().
 */
export function useUpload<Input = unknown, Result = unknown>(
  route: string,
  options: UseUploadOptions<Input, Result> = {},
): UseUpload<Input, Result> {
  const client = useCarcosaClient(options.client);
  const entries = useRef<Entry<Result>[]>([]);
  const [files, setFiles] = useState<UploadFile<Result>[]>([]);
  // The latest options and client, read by callbacks that outlive a render.
  const latest = useRef({ options, client, route });
  latest.current = { options, client, route };
  const mounted = useRef(true);

  // The route's policy, once read: start refuses more files than it takes
  // at once, since each file is a task of its own, which alone would pass.
  const policy = useRef<RouteInfo | undefined>(undefined);
  useEffect(() => {
    let live = true;
    policy.current = undefined;
    client.routes().then(
      (list) => {
        if (live) policy.current = list.find((x) => x.name === route);
      },
      () => {}, // each task's own check reports a failing GET B/routes
    );
    return () => {
      live = false;
    };
  }, [client, route]);

  const publish = useCallback(() => {
    setFiles(entries.current.map((e) => e.file));
  }, []);

  const patch = useCallback(
    (key: string, change: Change<Result>): UploadFile<Result> | undefined => {
      const e = entries.current.find((x) => x.file.key === key);
      if (!e) return undefined;
      const next = { ...e.file, ...change } as UploadFile<Result>;
      if ("loaded" in change || "state" in change) {
        (next as { progress: number }).progress =
          next.state === "ready" ? 100 : percent(next.loaded, next.size);
      }
      e.file = next;
      publish();
      return next;
    },
    [publish],
  );

  /** Starts entry e's upload: a task of its own. */
  const run = useCallback(
    (e: Entry<Result>): Promise<UploadRecord<Result> | undefined> => {
      const { client: c, route: r, options: o } = latest.current;
      const key = e.file.key;
      const fromStatus = (s: FileStatus<Result>) => {
        const change: Change<Result> = { loaded: s.loaded, state: s.state };
        if (s.error) change.error = s.error;
        if (s.record) change.record = s.record;
        if (s.resumedFrom !== undefined) change.resumedFrom = s.resumedFrom;
        return change;
      };
      patch(key, { state: "queued", loaded: 0, error: undefined, record: undefined, resumedFrom: undefined });
      const opts: Record<string, unknown> = {
        onProgress: (p: { file: FileStatus<Result> }) => void patch(key, fromStatus(p.file)),
        onFileChange: (s: FileStatus<Result>) => void patch(key, fromStatus(s)),
      };
      if (e.input !== undefined) opts.input = e.input;
      if (o.resumable !== undefined) opts.resumable = o.resumable;
      // eslint-disable-next-line @typescript-eslint/no-explicit-any
      const task = (c as any).start(r, e.file.file, opts) as UploadTask<Result>;
      e.task = task;
      return task.promise.then(
        ([record]) => {
          if (e.task !== task) return undefined;
          const f = patch(key, { state: "ready", record, loaded: e.file.size });
          if (record && f) latest.current.options.onFileComplete?.(record, f);
          return record;
        },
        (err: unknown) => {
          if (e.task !== task) return undefined;
          const error = asCarcosaError(err);
          const status = task.files[0];
          const state = status && settled.includes(status.state) ? status.state : stateOfError(error);
          const change: Change<Result> = { state, error };
          if (status?.record) change.record = status.record;
          const f = patch(key, change);
          if (f && error.code !== "canceled") latest.current.options.onFileError?.(error, f);
          return undefined;
        },
      );
    },
    [patch],
  );

  // Called once no file is under way, to tell onComplete.
  const finish = useCallback((runs: Promise<UploadRecord<Result> | undefined>[]) => {
    return Promise.all(runs).then((records) => {
      const ready = records.filter((r): r is UploadRecord<Result> => r !== undefined);
      const busy = entries.current.some((e) => !settled.includes(e.file.state) && e.file.state !== "selected");
      if (ready.length > 0 && !busy) latest.current.options.onComplete?.(ready);
      return ready;
    });
  }, []);

  const add = useCallback(
    (list: FileList | Iterable<File | Blob> | File | Blob | null): Entry<Result>[] => {
      const added = toList(list).map((f): Entry<Result> => {
        const file: UploadFile<Result> = {
          key: `carcosa-${++nextKey}`,
          file: f,
          name: nameOf(f),
          size: f.size,
          loaded: 0,
          progress: 0,
          state: "selected",
          ...(mounted.current && canPreview(f) ? { preview: URL.createObjectURL(f) } : {}),
        };
        return { file, input: latest.current.options.input };
      });
      entries.current = [...entries.current, ...added];
      publish();
      return added;
    },
    [publish],
  );

  const start = useCallback(
    (list?: FileList | Iterable<File | Blob> | File | Blob | null, input?: Input) => {
      const chosen = list ? add(list) : entries.current.filter((e) => e.file.state === "selected");
      if (input !== undefined) for (const e of chosen) e.input = input;
      const most = policy.current?.maxFiles ?? 0;
      if (most > 0 && chosen.length > most) {
        const error = new CarcosaError({
          code: "too_many_files",
          message: `this route takes at most ${most} files per upload`,
          status: 400,
        });
        for (const e of chosen) {
          const f = patch(e.file.key, { state: stateOfError(error), error });
          if (f) latest.current.options.onFileError?.(error, f);
        }
        return finish([]);
      }
      return finish(chosen.map(run));
    },
    [add, run, finish],
  );

  const find = (f: UploadFile<Result> | string) => {
    const key = typeof f === "string" ? f : f.key;
    return entries.current.find((e) => e.file.key === key);
  };

  const retry = useCallback(
    (f: UploadFile<Result> | string) => {
      const e = find(f);
      if (!e || !settled.includes(e.file.state) || e.file.state === "ready") return;
      void finish([run(e)]);
    },
    [run, finish],
  );

  const remove = useCallback(
    (f: UploadFile<Result> | string) => {
      const e = find(f);
      if (!e) return;
      entries.current = entries.current.filter((x) => x !== e);
      const task = e.task;
      e.task = undefined;
      if (task && !isFinal(task.files[0]?.state ?? "ready") && e.file.state !== "canceled") void task.cancel();
      if (e.file.preview) URL.revokeObjectURL(e.file.preview);
      publish();
    },
    [publish],
  );

  const clear = useCallback(() => {
    for (const e of [...entries.current]) remove(e.file.key);
  }, [remove]);

  const pause = useCallback(() => {
    for (const e of entries.current) e.task?.pause();
  }, []);
  const resume = useCallback(() => {
    for (const e of entries.current) e.task?.resume();
  }, []);
  const cancel = useCallback(() => {
    for (const e of entries.current) {
      if (e.task && !settled.includes(e.file.state)) void e.task.cancel();
    }
  }, []);

  // Previews are revoked on unmount and made again on a new mount (React's
  // strict mode mounts twice).
  useEffect(() => {
    mounted.current = true;
    let made = false;
    for (const e of entries.current) {
      if (!e.file.preview && canPreview(e.file.file)) {
        e.file = { ...e.file, preview: URL.createObjectURL(e.file.file) };
        made = true;
      }
    }
    if (made) publish();
    return () => {
      mounted.current = false;
      for (const e of entries.current) {
        if (e.file.preview) {
          URL.revokeObjectURL(e.file.preview);
          const { preview: _, ...rest } = e.file;
          e.file = rest as UploadFile<Result>;
        }
      }
    };
  }, [publish]);

  const summary = useMemo(() => {
    let loaded = 0;
    let total = 0;
    let error: CarcosaError | undefined;
    const states = new Set<UploadFileState>();
    for (const f of files) {
      states.add(f.state);
      if (!error && f.error && f.state !== "canceled") error = f.error;
      if (f.state === "rejected" || f.state === "quarantined" || f.state === "canceled" || f.state === "selected") continue;
      total += f.size;
      loaded += f.state === "ready" ? f.size : f.loaded;
    }
    let state: UploadState;
    if (files.length === 0) state = "idle";
    else if (states.has("uploading") || states.has("queued") || states.has("processing")) state = "uploading";
    else if (states.has("paused")) state = "paused";
    else if (states.has("selected")) state = "selected";
    else if ([...states].every((s) => s === "ready")) state = "done";
    else state = "error";
    return { progress: percent(loaded, total), state, error };
  }, [files]);

  return {
    start,
    add: (list) => void add(list),
    files,
    progress: summary.progress,
    state: summary.state,
    error: summary.error,
    pause,
    resume,
    cancel,
    retry,
    remove,
    clear,
  };
}
