// Package companion serves the S3 routes of Uppy's Companion over a
// Carcosa Router, so that Uppy's @uppy/aws-s3 (6.x, with companionEndpoint
// set) sends files straight to the Router's S3 bucket while the Router
// keeps everything else: a route's middleware runs for every request about
// an upload, its checks (declared type, size, type from the bytes, malware
// scan) apply, quotas are counted, and OnComplete runs.
//
//	c, err := companion.New(router, nil)
//	...
//	mux.Handle("/companion/", c)
//
// and in the app:
//
//	uppy.use(AwsS3, { companionEndpoint: "/companion", shouldUseMultipart: true })
//	uppy.setMeta({ route: "images", input: JSON.stringify({ album: "cats" }) })
//
// The route is named by the upload's metadata (Uppy's file.meta, all of
// which @uppy/aws-s3 sends): metadata.route, and the route's input, as
// JSON text, in metadata.input. (A JSON object in metadata.input works for
// multipart uploads only: Uppy sends metadata of form uploads as strings.)
//
// # The protocol
//
// Under {Path}/s3 (Path defaults to /companion):
//
//   - POST /multipart, {"filename", "type", "metadata"}: the route's
//     middleware and checks run, quota is reserved at the route's
//     MaxFileSize (Uppy declares no size), and an upload is recorded with
//     an S3 multipart upload at its storage key; the answer is {"key",
//     "uploadId"}. The uploadId holds the upload's Carcosa ID.
//   - GET /multipart/{uploadId}/{partNumber}?key=: {"url", "expires"}, a
//     URL to PUT that part to the bucket (parts 1 to 10,000), valid for the
//     Router's PresignTTL.
//   - GET /multipart/{uploadId}/batch?key=&partNumbers=1,2: {"presignedUrls":
//     {"1": url, …}}.
//   - GET /multipart/{uploadId}?key=: the parts S3 has, [{"PartNumber",
//     "ETag", "Size"}], from which Uppy resumes after a pause or a retry.
//   - POST /multipart/{uploadId}/complete?key=, {"parts": [{"PartNumber",
//     "ETag"}]}: S3 puts the object together, then it is verified as a
//     presigned upload is (its size within the route's limit, its type
//     from its bytes, its SHA-256, the scan, OnComplete) and the answer is
//     {"location", "key"}, location being the file's URL on the Router. A
//     file refused is removed from the bucket and answered with the
//     refusal's status. A large file that the route processes in the
//     background is answered at once and settles later.
//   - DELETE /multipart/{uploadId}?key=: the S3 multipart upload is
//     aborted and the upload withdrawn, its quota given back: {}.
//   - GET /params?filename=&type=&metadata[route]=…: an S3 POST policy,
//     {"method": "POST", "url", "fields", "headers"}, for one form upload
//     of 1 byte to the route's MaxFileSize, at the upload's storage key,
//     valid for the Router's PresignTTL. Uppy uses it for files it does not
//     send in parts (shouldUseMultipart false, or files of 100 MiB or
//     less by default). Uppy makes such a file's location itself, from the
//     bucket's URL and the key: it serves nothing unless the bucket is
//     public; the Router serves the file at its upload's url once ready
//     (the upload's ID is the last segment of the key, without extension).
//
// Every request about an upload runs its route's middleware again: an
// upload of another owner, an uploadId or key that do not match, are not
// found (404). Errors are JSON {"message", "code"} with Carcosa's status
// and stable code; Uppy shows only the status text ("Companion request
// failed: Unsupported Media Type").
//
// # Form uploads are finished by the server
//
// After its form POST to the bucket, Uppy tells the server nothing: it
// reports success as soon as S3 has the object. So the Router looks for
// the object itself, from a background job (at growing intervals, from 1
// to 30 seconds, for as long as the policy is valid), and verifies and
// settles the upload once it is there; the recovery sweep does it if the
// job was lost. OnComplete runs then, and the upload's record and events
// (GET B/uploads/{id}/events) say when it is ready or why it was refused;
// until then the file is not served, and a refused file is removed
// without Uppy knowing. Apps that need the outcome in the browser use
// multipart uploads (shouldUseMultipart: true), whose complete request
// answers with it.
//
// Uploads never completed expire: a form upload when its policy has, a
// multipart upload UploadTTL after its creation, its S3 multipart upload
// aborted and anything stored removed.
//
// # Buckets
//
// The upload's bucket (Config.Storage, or the bucket Config.Rules place
// it in) must be an S3 bucket opened by storage.Open from an s3:// URL,
// with storage/s3 imported; for any other the create and params requests
// answer 501 (presign_unsupported).
//
// The browser PUTs parts and POSTs forms to the bucket itself, so the
// bucket's CORS must allow the app's origin, the methods PUT and POST,
// and expose the ETag header, which Uppy reads after each part:
//
//	[{"AllowedOrigins": ["https://app.example.com"],
//	  "AllowedMethods": ["PUT", "POST"],
//	  "AllowedHeaders": ["*"],
//	  "ExposeHeaders": ["ETag"]}]
//
// MinIO allows any origin and exposes ETag by default
// (MINIO_API_CORS_ALLOW_ORIGIN restricts it); on AWS S3 and R2 set the
// bucket's CORS configuration as above. The Handler's own CORS, for an
// app on another origin, is Options.AllowOrigins.
//
// # Not supported
//
// Companion's other features (remote sources such as Google Drive or
// URLs, its OAuth, uppy-auth-token) are not served. Empty files cannot be
// uploaded this way (S3 POST policies here require a byte at least, and
// Uppy sends an empty file by form). Uploads are finished one at a time
// within a process; two instances sharing a store may both verify a form
// upload whose object they find at the same moment, as they may a
// presigned upload.
package companion
