import { useEffect, useRef, useState, type ReactNode } from "react";
import type { RouteInfo } from "@carcosa/client";
import type { AnyClient } from "./context.js";
import type { UploadFile, UseUpload } from "./useUpload.js";

// The pieces UploadButton and UploadDropzone share.

/** A size for people, in the binary units the server's limits are set in: 16 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n;
  let u = -1;
  do {
    v /= 1024;
    u++;
  } while (v >= 1024 && u < units.length - 1);
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** The <input accept> of a route's accepted types. */
export function acceptAttribute(accept: readonly string[]): string | undefined {
  const out: string[] = [];
  for (const a of accept) {
    switch (a) {
      case "any":
        return undefined;
      case "image":
      case "video":
      case "audio":
        out.push(`${a}/*`);
        break;
      case "pdf":
        out.push("application/pdf");
        break;
      case "text":
        out.push("text/*", ".txt", ".md", ".csv", ".json");
        break;
      default:
        out.push(a);
    }
  }
  return out.length ? out.join(",") : undefined;
}

/** What a route takes, in words: "image up to 16 MB, at most 10 files". */
export function describeRoute(r: RouteInfo): string {
  const parts: string[] = [];
  const kinds = r.accept.filter((a) => a !== "any");
  parts.push(kinds.length ? kinds.join(", ") : "any file");
  if (r.maxFileSize > 0) parts[0] += ` up to ${formatBytes(r.maxFileSize)}`;
  if (r.maxFiles > 1) parts.push(`at most ${r.maxFiles} files`);
  return parts.join(", ");
}

/** The route's description from the server, once read; undefined until then or if it cannot be read. */
export function useRouteInfo(client: AnyClient, route: string): RouteInfo | undefined {
  const [info, setInfo] = useState<RouteInfo>();
  useEffect(() => {
    let live = true;
    client.routes().then(
      (rs) => live && setInfo(rs.find((r) => r.name === route)),
      () => {}, // the hint is optional; an upload will report the failure
    );
    return () => {
      live = false;
    };
  }, [client, route]);
  return info;
}

export function ProgressBar({ value, label, className }: { value: number; label: string; className: string }) {
  return (
    <div
      className={`carcosa-progress ${className}`}
      role="progressbar"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={value}
      aria-valuetext={`${value}%`}
      style={{ "--carcosa-progress": `${value}%` } as React.CSSProperties}
    >
      <div className="carcosa-progress__bar" />
    </div>
  );
}

const stateWords: Record<string, string> = {
  selected: "Ready to upload",
  queued: "Waiting",
  uploading: "Uploading",
  paused: "Paused",
  processing: "Processing",
  ready: "Uploaded",
  rejected: "Refused",
  quarantined: "Quarantined",
  failed: "Failed",
  canceled: "Canceled",
};

/** The URL to show for a ready file: its first derivative (a thumbnail), resolved against the server. */
export function thumbnailOf(f: UploadFile, client: AnyClient): string | undefined {
  const d = f.record?.derivatives;
  const url = d ? Object.values(d)[0] : undefined;
  if (!url) return undefined;
  try {
    return new URL(url, client.url).href;
  } catch {
    return url;
  }
}

export function FileItem({ f, up, client }: { f: UploadFile; up: UseUpload; client: AnyClient }) {
  const thumb = thumbnailOf(f, client);
  const src = thumb ?? f.preview;
  // A file that claims to be an image but is not one shows the icon.
  const [broken, setBroken] = useState<string>();
  const over = f.state === "rejected" || f.state === "failed" || f.state === "quarantined" || f.state === "canceled";
  return (
    <li
      className={`carcosa-file carcosa-file--${f.state}`}
      data-state={f.state}
      data-key={f.key}
      data-resumed-from={f.resumedFrom}
    >
      {src && broken !== src ? (
        <img
          className={`carcosa-file__preview${thumb ? " carcosa-file__thumbnail" : ""}`}
          src={src}
          alt=""
          onError={() => setBroken(src)}
        />
      ) : (
        <span className="carcosa-file__preview carcosa-file__icon" aria-hidden="true" />
      )}
      <div className="carcosa-file__body">
        <div className="carcosa-file__head">
          <span className="carcosa-file__name">{f.name}</span>
          <span className="carcosa-file__size">{formatBytes(f.size)}</span>
        </div>
        {f.state !== "selected" && !over && (
          <ProgressBar className="carcosa-file__progress" value={f.progress} label={`${f.name} upload progress`} />
        )}
        <div className="carcosa-file__status">
          {stateWords[f.state] ?? f.state}
          {f.state === "uploading" || f.state === "paused" ? ` ${f.progress}%` : ""}
          {f.resumedFrom ? ` (resumed from ${formatBytes(f.resumedFrom)})` : ""}
        </div>
        {f.error && f.state !== "canceled" && (
          <p className="carcosa-file__error" data-code={f.error.code}>
            {f.error.message} <span className="carcosa-file__code">({f.error.code})</span>
          </p>
        )}
      </div>
      <div className="carcosa-file__actions">
        {over && (
          <button type="button" className="carcosa-button carcosa-file__retry" onClick={() => up.retry(f)} aria-label={`Retry ${f.name}`}>
            Retry
          </button>
        )}
        <button type="button" className="carcosa-button carcosa-file__remove" onClick={() => up.remove(f)} aria-label={`Remove ${f.name}`}>
          Remove
        </button>
      </div>
    </li>
  );
}

/** The list of files, the total progress, and the controls of the whole upload. */
export function Files({ up, client, autoUpload }: { up: UseUpload; client: AnyClient; autoUpload: boolean }) {
  if (up.files.length === 0) return null;
  const busy = up.state === "uploading" || up.state === "paused";
  return (
    <div className="carcosa-files">
      {busy && (
        <div className="carcosa-total">
          <ProgressBar className="carcosa-total__progress" value={up.progress} label="Total upload progress" />
          <span className="carcosa-total__value">{up.progress}%</span>
          {up.state === "paused" ? (
            <button type="button" className="carcosa-button carcosa-resume" onClick={up.resume}>
              Resume
            </button>
          ) : (
            <button type="button" className="carcosa-button carcosa-pause" onClick={up.pause}>
              Pause
            </button>
          )}
          <button type="button" className="carcosa-button carcosa-cancel" onClick={up.cancel}>
            Cancel
          </button>
        </div>
      )}
      {!autoUpload && up.state === "selected" && (
        <button type="button" className="carcosa-button carcosa-button--primary carcosa-start" onClick={() => void up.start()}>
          Upload {up.files.filter((f) => f.state === "selected").length} file(s)
        </button>
      )}
      <ul className="carcosa-files__list">
        {up.files.map((f) => (
          <FileItem key={f.key} f={f} up={up} client={client} />
        ))}
      </ul>
    </div>
  );
}

/**
 * A polite live region that says when files are uploaded or refused, so
 * that a screen reader hears the outcome without moving focus. New
 * messages are added (the last few are kept), so that one is not lost to
 * the next.
 */
export function Announcer({ files }: { files: readonly UploadFile[] }) {
  const seen = useRef(new Map<string, string>());
  const [messages, setMessages] = useState<{ id: number; text: string }[]>([]);
  const next = useRef(0);
  useEffect(() => {
    const said: string[] = [];
    for (const f of files) {
      const before = seen.current.get(f.key);
      if (before === f.state) continue;
      seen.current.set(f.key, f.state);
      if (f.state === "ready") said.push(`${f.name} uploaded.`);
      else if (f.state === "rejected" || f.state === "failed" || f.state === "quarantined") {
        said.push(`${f.name} could not be uploaded: ${f.error?.message ?? f.state}.`);
      }
    }
    if (said.length > 0 && files.length > 1 && files.every((f) => f.state === "ready")) {
      said.push(`All ${files.length} files uploaded.`);
    }
    if (said.length > 0) {
      setMessages((m) => [...m, ...said.map((text) => ({ id: ++next.current, text }))].slice(-5));
    }
  }, [files]);
  return (
    <div className="carcosa-sr-only carcosa-announcer" role="status" aria-live="polite" aria-relevant="additions">
      {messages.map((m) => (
        <p key={m.id}>{m.text}</p>
      ))}
    </div>
  );
}

/** The hidden file input the components open. */
export function HiddenInput({
  inputRef,
  accept,
  multiple,
  disabled,
  onFiles,
}: {
  inputRef: React.RefObject<HTMLInputElement | null>;
  accept: string | undefined;
  multiple: boolean;
  disabled: boolean;
  onFiles(files: File[]): void;
}) {
  return (
    <input
      ref={inputRef}
      type="file"
      className="carcosa-input"
      hidden
      tabIndex={-1}
      aria-hidden="true"
      accept={accept}
      multiple={multiple}
      disabled={disabled}
      onChange={(ev) => {
        // Copied before the value is cleared, which empties the FileList.
        const list = Array.from(ev.currentTarget.files ?? []);
        if (list.length) onFiles(list);
        // The same file may be chosen again (to resume it, say).
        ev.currentTarget.value = "";
      }}
    />
  );
}

export type Children = ReactNode | ((up: UseUpload) => ReactNode);
