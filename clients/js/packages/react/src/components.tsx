import { useId, useRef, useState, type CSSProperties, type DragEvent, type KeyboardEvent, type ReactNode } from "react";
import type { CarcosaError, UploadRecord } from "@carcosa/client";
import { useCarcosaClient, type AnyClient } from "./context.js";
import { useUpload, type UploadFile, type UseUpload } from "./useUpload.js";
import { Announcer, Files, HiddenInput, acceptAttribute, describeRoute, useRouteInfo } from "./parts.js";

/** The props UploadButton and UploadDropzone share. */
export interface UploadComponentProps<Input = unknown, Result = unknown> {
  /** The route's name on the server. */
  route: string;
  /** The client; defaults to the nearest CarcosaProvider's. */
  client?: AnyClient;
  /** The route's input, sent with every file. */
  input?: Input;
  /** The file picker's accept; defaults to the route's accepted types. */
  accept?: string;
  /** Whether several files may be chosen at once. Defaults to true unless the route takes one file. */
  multiple?: boolean;
  /** Start each file as soon as it is chosen (default), or list them with their previews and an Upload button. */
  autoUpload?: boolean;
  disabled?: boolean;
  /** Force tus (true) or multipart (false). */
  resumable?: boolean;
  className?: string;
  style?: CSSProperties;
  /** Called with the ready records once no file is under way. */
  onComplete?: (records: UploadRecord<Result>[]) => void;
  onFileComplete?: (record: UploadRecord<Result>, file: UploadFile<Result>) => void;
  onFileError?: (error: CarcosaError, file: UploadFile<Result>) => void;
}

function useComponentUpload<Input, Result>(p: UploadComponentProps<Input, Result>) {
  const client = useCarcosaClient(p.client);
  const info = useRouteInfo(client, p.route);
  const opts: Parameters<typeof useUpload<Input, Result>>[1] = { client };
  if (p.input !== undefined) opts.input = p.input;
  if (p.resumable !== undefined) opts.resumable = p.resumable;
  if (p.onComplete) opts.onComplete = p.onComplete;
  if (p.onFileComplete) opts.onFileComplete = p.onFileComplete;
  if (p.onFileError) opts.onFileError = p.onFileError;
  const up = useUpload<Input, Result>(p.route, opts);
  const inputRef = useRef<HTMLInputElement>(null);
  const accept = p.accept ?? (info ? acceptAttribute(info.accept) : undefined);
  const multiple = p.multiple ?? (info ? info.maxFiles !== 1 : true);
  const disabled = !!p.disabled;
  const take = (files: File[]) => {
    if (disabled || files.length === 0) return;
    const chosen = multiple ? files : files.slice(0, 1);
    if (p.autoUpload === false) up.add(chosen);
    else void up.start(chosen);
  };
  const open = () => {
    if (!disabled) inputRef.current?.click();
  };
  const input = (
    <HiddenInput inputRef={inputRef} accept={accept} multiple={multiple} disabled={disabled} onFiles={take} />
  );
  return { client, info, up, take, open, input, disabled, autoUpload: p.autoUpload !== false };
}

function classes(...names: (string | false | undefined)[]): string {
  return names.filter(Boolean).join(" ");
}

/** Enter and Space open the file picker, as on a button. */
function onActivate(open: () => void) {
  return (ev: KeyboardEvent) => {
    if (ev.key === "Enter" || ev.key === " ") {
      ev.preventDefault();
      open();
    }
  };
}

export interface UploadDropzoneProps<Input = unknown, Result = unknown> extends UploadComponentProps<Input, Result> {
  /** What the drop area says; defaults to "Drop files here or click to choose". A function receives the upload. */
  children?: ReactNode | ((up: UseUpload<Input, Result>) => ReactNode);
}

/**
 * A drop area that uploads the files dropped on it or chosen through it
 * (it is a button: click, Enter or Space open the file picker), with
 * previews, per-file and total progress, pause, resume, cancel, retry and
 * remove, and a live region announcing outcomes.
 */
export function UploadDropzone<Input = unknown, Result = unknown>(props: UploadDropzoneProps<Input, Result>) {
  const { client, info, up, take, open, input, disabled, autoUpload } = useComponentUpload(props);
  const [over, setOver] = useState(false);
  const depth = useRef(0);
  const hintId = useId();
  const onDragEnter = (ev: DragEvent) => {
    ev.preventDefault();
    depth.current++;
    if (!disabled) setOver(true);
  };
  const onDragLeave = (ev: DragEvent) => {
    ev.preventDefault();
    if (--depth.current <= 0) {
      depth.current = 0;
      setOver(false);
    }
  };
  const onDragOver = (ev: DragEvent) => {
    ev.preventDefault();
    ev.dataTransfer.dropEffect = disabled ? "none" : "copy";
  };
  const onDrop = (ev: DragEvent) => {
    ev.preventDefault();
    depth.current = 0;
    setOver(false);
    take(Array.from(ev.dataTransfer.files));
  };
  const label =
    typeof props.children === "function"
      ? props.children(up as UseUpload<Input, Result>)
      : (props.children ?? (
          <span className="carcosa-dropzone__title">Drop files here or click to choose</span>
        ));
  return (
    <div
      className={classes("carcosa", "carcosa-dropzone", over && "carcosa-dropzone--over", disabled && "carcosa-dropzone--disabled", props.className)}
      style={props.style}
      data-state={up.state}
      data-route={props.route}
    >
      <div
        className="carcosa-dropzone__target"
        role="button"
        tabIndex={disabled ? -1 : 0}
        aria-disabled={disabled || undefined}
        aria-describedby={hintId}
        onClick={open}
        onKeyDown={onActivate(open)}
        onDragEnter={onDragEnter}
        onDragLeave={onDragLeave}
        onDragOver={onDragOver}
        onDrop={onDrop}
      >
        <span className="carcosa-dropzone__icon" aria-hidden="true" />
        {label}
        <span className="carcosa-dropzone__hint" id={hintId}>
          {info ? describeRoute(info) : "\u00a0"}
        </span>
      </div>
      {input}
      <Files up={up as UseUpload} client={client} autoUpload={autoUpload} />
      <Announcer files={up.files} />
    </div>
  );
}

export interface UploadButtonProps<Input = unknown, Result = unknown> extends UploadComponentProps<Input, Result> {
  /** The button's label; defaults to "Choose files" ("Choose a file" for one). A function receives the upload. */
  children?: ReactNode | ((up: UseUpload<Input, Result>) => ReactNode);
}

/** A button that opens the file picker and uploads what is chosen, with the same list as UploadDropzone. */
export function UploadButton<Input = unknown, Result = unknown>(props: UploadButtonProps<Input, Result>) {
  const { client, info, up, open, input, disabled, autoUpload } = useComponentUpload(props);
  const hintId = useId();
  const busy = up.state === "uploading";
  const label =
    typeof props.children === "function"
      ? props.children(up as UseUpload<Input, Result>)
      : (props.children ?? (busy ? `Uploading ${up.progress}%` : props.multiple === false ? "Choose a file" : "Choose files"));
  return (
    <div className={classes("carcosa", "carcosa-upload-button", props.className)} style={props.style} data-state={up.state} data-route={props.route}>
      <button
        type="button"
        className="carcosa-button carcosa-button--primary carcosa-upload-button__button"
        onClick={open}
        disabled={disabled}
        aria-describedby={hintId}
      >
        {label}
      </button>
      <span className="carcosa-upload-button__hint" id={hintId}>
        {info ? describeRoute(info) : ""}
      </span>
      {input}
      <Files up={up as UseUpload} client={client} autoUpload={autoUpload} />
      <Announcer files={up.files} />
    </div>
  );
}
