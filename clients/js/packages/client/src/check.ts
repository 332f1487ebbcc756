import { CarcosaError } from "./errors.js";
import type { RouteInfo } from "./types.js";

// The checks made before any byte is sent. They refuse only what the
// server would surely refuse, with its codes and statuses: the server
// judges a file's type from its content, so a type the browser does not
// know (empty, application/octet-stream) is left for the server to judge.

/** The name a file is sent under. */
export function fileName(f: Blob): string {
  const name = (f as Partial<File>).name;
  return typeof name === "string" && name !== "" ? name : "blob";
}

/** The type a file claims, lower case without parameters; "" when unknown. */
export function claimedType(f: Blob): string {
  const t = (f.type || "").split(";")[0]!.trim().toLowerCase();
  return t === "application/octet-stream" ? "" : t;
}

// Types the server never counts as text: markup and active content.
const notText = new Set(["text/html", "text/xml", "text/javascript", "text/rtf", "application/xhtml+xml"]);

// textLike are types outside text/* that the server's text category holds.
const textLike = new Set(["application/json", "application/x-ndjson", "application/ld+json", "application/geo+json", "application/x-yaml", "application/yaml", "application/toml"]);

function isText(t: string): boolean {
  return (t.startsWith("text/") || textLike.has(t)) && !notText.has(t);
}

/**
 * Whether a file claiming type t could be accepted by a route accepting
 * entries. It answers false only when no entry could take it.
 */
export function mayAccept(entries: readonly string[], t: string): boolean {
  if (t === "") return true;
  const top = t.split("/")[0];
  for (const raw of entries) {
    const e = raw.trim().toLowerCase();
    switch (e) {
      case "any":
        return true;
      case "image":
        if (top === "image" && t !== "image/svg+xml") return true;
        continue;
      case "video":
      case "audio":
        if (top === e) return true;
        continue;
      case "pdf":
        if (t === "application/pdf") return true;
        continue;
      case "text":
        if (isText(t)) return true;
        continue;
    }
    const [et, es] = e.split("/");
    if (es === "*") {
      if (et === top || (et === "text" && isText(t))) return true;
      continue;
    }
    // An exact type admits the types derived from it, which a browser may
    // name otherwise (application/zip admits a .docx): only a type of
    // another media kind is surely refused.
    if (e === t || et === "application" || et === top) return true;
  }
  return false;
}

/** Refuses files that route would refuse, before any byte is sent. */
export function checkFiles(route: RouteInfo, files: readonly Blob[]): void {
  const min = route.minFiles || 1;
  if (route.maxFiles > 0 && files.length > route.maxFiles) {
    throw new CarcosaError({
      code: "too_many_files",
      message: `this route takes at most ${route.maxFiles} files per upload`,
      status: 400,
    });
  }
  if (files.length < min) {
    throw new CarcosaError({
      code: "too_few_files",
      message: `this route takes at least ${min} file${min === 1 ? "" : "s"} per upload`,
      status: 400,
    });
  }
  files.forEach((f, i) => {
    if (route.maxFileSize > 0 && f.size > route.maxFileSize) {
      const e = new CarcosaError({
        code: "too_large",
        message: `${fileName(f)} is ${f.size} bytes; this route takes files of at most ${route.maxFileSize} bytes`,
        status: 413,
      });
      e.fileIndex = i;
      throw e;
    }
    const t = claimedType(f);
    if (!mayAccept(route.accept, t)) {
      const e = new CarcosaError({
        code: "type_not_allowed",
        message: `files of type ${t} are not allowed here (this route takes ${route.accept.join(", ")})`,
        status: 415,
      });
      e.fileIndex = i;
      throw e;
    }
  });
}
