/**
 * The routes a client knows, by name, with the input each takes.
 *
 * `carcosa` generates an interface of this shape from a server's routes
 * (`CarcosaRoutes`); give it to {@link createClient} to have route names and
 * inputs checked. A route may also name the `result` its `OnComplete`
 * returns, which then types the records' `result`. Without it, any route
 * name and any input are accepted.
 */
export type RouteMap = Record<string, { input: unknown; result?: unknown }>;

/**
 * What a route map must be: every route has an input. Written as a mapped
 * type of R itself rather than as RouteMap so that interfaces, which have
 * no index signature, qualify too.
 */
export type RoutesOf<R> = { [K in keyof R]: { input: unknown; result?: unknown } };

/** The route names of R. */
export type RouteName<R> = keyof R & string;

/** The input of route K of R. */
export type RouteInput<R, K extends keyof R> = R[K] extends { input: infer I } ? I : unknown;

/** The result of route K of R, when the route map names it. */
export type RouteResult<R, K extends keyof R> = R[K] extends { result: infer T } ? T : unknown;

/** One field of a route's input, as `GET B/routes` describes it: a hint. */
export interface SchemaField {
  name: string;
  /** string, number, integer, boolean, array or object */
  type: string;
  required?: boolean;
  /** The field's validate tag on the server, e.g. "max=200". */
  rules?: string;
  fields?: SchemaField[];
}

/** A route as `GET B/routes` describes it. */
export interface RouteInfo {
  name: string;
  /** Categories ("image", "video", "audio", "pdf", "text", "any"), MIME types or wildcards. */
  accept: string[];
  /** The largest file accepted, in bytes. */
  maxFileSize: number;
  /** The fewest and most files of one upload. */
  minFiles: number;
  maxFiles: number;
  /** Whether the route's files are readable by anyone with their URL. */
  public: boolean;
  input: SchemaField[];
}

/** The states of an upload: `uploading → processing → ready`, or one of the other final states. */
export type UploadState = "uploading" | "processing" | "ready" | "rejected" | "quarantined" | "failed";

/** The states after which an upload never changes. */
export const finalStates: readonly UploadState[] = ["ready", "rejected", "quarantined", "failed"];

/** Whether state is final: ready, rejected, quarantined or failed. */
export function isFinal(state: string): boolean {
  return (finalStates as readonly string[]).includes(state);
}

/** An upload's record, as `GET B/uploads/{id}` answers it. */
export interface UploadRecord<Result = unknown> {
  id: string;
  route: string;
  /** The safe display name the server made of the file's name. */
  name: string;
  size: number;
  /** The type found from the file's content. */
  type?: string;
  sha256?: string;
  state: UploadState;
  /** The storage key and URL, once ready. The URL is relative to the server. */
  key?: string;
  url?: string;
  createdAt: string;
  /** What the route's OnComplete returned. */
  result?: Result;
  /** Why the upload ended rejected, quarantined or failed. */
  error?: { code: string; message: string };
  /** The malware scan's outcome: clean, infected, unscanned or released. */
  scan?: string;
  signature?: string;
  /** The derivatives' URLs, by name (thumbnails). */
  derivatives?: Record<string, string>;
  /** A video's running time, in seconds. */
  duration?: number;
}

/** One page of `GET B/uploads?route=`. */
export interface UploadPage<Result = unknown> {
  uploads: UploadRecord<Result>[];
  /** The cursor of the next page; absent on the last. */
  next?: string;
}

/** A field of invalid input, as the server names it. */
export interface FieldError {
  field: string;
  rule: string;
  param?: string;
}

/** With quota_exceeded: the quota the upload would have overrun and what it has left. */
export interface QuotaLeft {
  scope: string;
  route?: string;
  size: number;
  limitBytes: number;
  limitFiles: number;
  usedBytes: number;
  usedFiles: number;
  leftBytes: number;
  leftFiles: number;
}
