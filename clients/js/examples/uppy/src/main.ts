// Uppy as any app sets it up for Companion's S3 routes; the one line that
// points it at Carcosa is companionEndpoint. The route the files go to is
// Uppy's meta field "route" (here from ?route=, default "files").
import AwsS3 from "@uppy/aws-s3";
import Uppy, { type UploadResult } from "@uppy/core";
import Dashboard from "@uppy/dashboard";
import "@uppy/core/css/style.min.css";
import "@uppy/dashboard/css/style.min.css";

const params = new URLSearchParams(location.search);
const route = params.get("route") ?? "files";
document.getElementById("route")!.textContent = route;

const uppy = new Uppy({ meta: { route } })
  .use(Dashboard, { inline: true, target: "#uppy", height: 420 })
  .use(AwsS3, {
    companionEndpoint: "/api/companion",
    // Multipart above 100 MiB, as Uppy's default; ?multipart=always sends
    // every file in parts, so that a refusal reaches the page.
    ...(params.get("multipart") === "always" ? { shouldUseMultipart: true } : {}),
  });

// What the tests read: every finished run and every error, by file name.
const w = window as unknown as {
  uppy: typeof uppy;
  results: UploadResult<Record<string, unknown>, Record<string, unknown>>[];
  errors: Record<string, string>;
};
w.uppy = uppy;
w.results = [];
w.errors = {};
uppy.on("complete", (result) => void w.results.push(result));
uppy.on("upload-error", (file, error) => {
  if (file) w.errors[file.name ?? ""] = error.message;
});
