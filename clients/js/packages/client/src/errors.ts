import type { FieldError, QuotaLeft, UploadRecord } from "./types.js";

/** What a {@link CarcosaError} is made of. */
export interface CarcosaErrorInit {
  code: string;
  message: string;
  /** The HTTP status; 0 when there was no answer. */
  status: number;
  fields?: FieldError[];
  quota?: QuotaLeft;
  requestId?: string;
  retryAfter?: number;
  upload?: UploadRecord;
  fileIndex?: number;
  cause?: unknown;
}

/**
 * The one error of the client: the server's refusals, with its code and
 * status, and the client's own, which use the server's codes where there is
 * one (a file refused before it is sent: `too_large`, `type_not_allowed`,
 * `too_many_files`, `too_few_files`, `unknown_route`) and status 0 for
 * what never got an answer: `canceled`, `network_error`.
 */
export class CarcosaError extends Error {
  override readonly name = "CarcosaError";
  /** The server's stable code, e.g. "type_not_allowed". */
  readonly code: string;
  /** The HTTP status; 0 for canceled and network errors. */
  readonly status: number;
  /** With invalid_input: the fields that failed. */
  readonly fields?: FieldError[];
  /** With quota_exceeded: what is left. */
  readonly quota?: QuotaLeft;
  /** The server's ID of the request, to find it in its logs. */
  readonly requestId?: string;
  /** Seconds to wait before trying again (429, 503). */
  readonly retryAfter?: number;
  /** The upload's record, when the file was refused after it was created. */
  upload?: UploadRecord;
  /** The index of the file the error is about, among those given to upload. */
  fileIndex?: number;
  /** With an upload of several files: the records of those that got one. */
  records?: UploadRecord[];

  constructor(init: CarcosaErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.status = init.status;
    if (init.fields) this.fields = init.fields;
    if (init.quota) this.quota = init.quota;
    if (init.requestId) this.requestId = init.requestId;
    if (init.retryAfter !== undefined) this.retryAfter = init.retryAfter;
    if (init.upload) this.upload = init.upload;
    if (init.fileIndex !== undefined) this.fileIndex = init.fileIndex;
  }
}

/** Whether err is a CarcosaError, with code when given. */
export function isCarcosaError(err: unknown, code?: string): err is CarcosaError {
  return err instanceof CarcosaError && (code === undefined || err.code === code);
}

/** The error of a canceled upload or request. */
export function canceledError(cause?: unknown): CarcosaError {
  return new CarcosaError({ code: "canceled", message: "the upload was canceled", status: 0, cause });
}

/** A failure to reach the server. */
export function networkError(cause: unknown): CarcosaError {
  const why = cause instanceof Error ? `: ${cause.message}` : "";
  return new CarcosaError({ code: "network_error", message: `the server could not be reached${why}`, status: 0, cause });
}

/**
 * The error of an answer with status and body text, which is the server's
 * JSON error `{"error":{"code","message",…}}` or, from something in front of
 * it, anything else.
 */
export function errorFromBody(status: number, text: string, headers?: { get(name: string): string | null | undefined }): CarcosaError {
  let body: { error?: Partial<CarcosaErrorInit> } | undefined;
  try {
    body = JSON.parse(text);
  } catch {
    // not the server's JSON
  }
  const e = body && typeof body === "object" ? body.error : undefined;
  const retry = headers?.get("Retry-After");
  const retryAfter = retry && /^\d+$/.test(retry) ? Number(retry) : undefined;
  const requestId = (e && typeof e.requestId === "string" && e.requestId) || headers?.get("X-Request-ID") || undefined;
  if (e && typeof e.code === "string") {
    return new CarcosaError({
      code: e.code,
      message: typeof e.message === "string" ? e.message : e.code,
      status,
      fields: e.fields,
      quota: e.quota,
      requestId,
      retryAfter,
    });
  }
  const snippet = text.trim().slice(0, 200);
  return new CarcosaError({
    code: `http_${status}`,
    message: snippet ? `the server answered ${status}: ${snippet}` : `the server answered ${status}`,
    status,
    requestId,
    retryAfter,
  });
}

/** The error of a Response that is not 2xx. */
export async function errorFromResponse(res: Response): Promise<CarcosaError> {
  let text = "";
  try {
    text = await res.text();
  } catch {
    // the body could not be read; the status says enough
  }
  return errorFromBody(res.status, text, res.headers);
}

// statusOfCode is the HTTP status of the codes a record's error may carry
// (the server's sentinels); a route's own codes (carcosa.Reject) are 422.
const statusOfCode: Record<string, number> = {
  too_large: 413,
  too_large_to_scan: 413,
  type_not_allowed: 415,
  type_mismatch: 415,
  executable_not_allowed: 415,
  polyglot_not_allowed: 415,
  not_an_image: 415,
  request_timeout: 408,
  upload_expired: 410,
  quota_exceeded: 429,
  internal: 500,
  unavailable: 503,
  interrupted: 503,
  scan_unavailable: 503,
  scan_failed: 503,
};

/** The error of a record that ended rejected, quarantined or failed, as the server states it. */
export function errorFromRecord(rec: UploadRecord): CarcosaError {
  const code = rec.error?.code || (rec.state === "quarantined" ? "malware_detected" : rec.state);
  let status = statusOfCode[code] ?? 422;
  if (rec.state === "failed" && status < 500) status = 500;
  return new CarcosaError({
    code,
    message: rec.error?.message || `the upload ended ${rec.state}`,
    status,
    upload: rec,
  });
}
