// Package uploadthing serves an UploadThing v7-compatible endpoint over a
// Carcosa Router, so that an app written for UploadThing's React client
// (@uploadthing/react's UploadButton, UploadDropzone and useUploadThing,
// uploadthing/client's genUploader) uploads to its own Go service and
// bucket without a change to its React code beyond the url it is given.
//
// The endpoint speaks the protocol those clients speak, over the Router's
// routes: a route's name is UploadThing's slug, its middleware runs for
// every upload, its checks (size, count, type from the bytes, malware
// scan) apply, and its OnComplete result reaches the client's
// onClientUploadComplete as serverData.
//
//	ut, err := uploadthing.New(router, nil)
//	...
//	mux.Handle("/api/uploadthing", ut)
//	mux.Handle("/api/uploadthing/", ut)
//
// and in the app:
//
//	export const UploadButton = generateUploadButton<OurFileRouter>({ url: "/api/uploadthing" });
//
// OurFileRouter may be a router built with createUploadthing whose slugs
// match the Go routes' names: only its type is used, it is never served.
//
// # The protocol
//
//   - GET {Path} lists the routes as UploadThing route configs
//     ([{"slug", "config"}]); categories become UploadThing's file type
//     keys (image, video, audio, pdf, text, blob for "any"), sizes are
//     written as UploadThing writes them ("4MB").
//   - POST {Path}?actionType=upload&slug={route} with {"input", "files"}
//     runs the route's checks and middleware, reserves quota, and answers
//     with one signed, expiring ingest URL per file, in order.
//   - HEAD on an ingest URL answers x-ut-range-start: the bytes already
//     received, from which a client resumes.
//   - PUT on an ingest URL, with Range: bytes={start}- and a
//     multipart/form-data body whose "file" field holds the rest of the
//     file, stages the bytes resumably; once the last byte is in, the file
//     is verified, scanned and stored, OnComplete runs, and the response is
//     {"url", "ufsUrl", "appUrl", "fileHash", "serverData", …}.
//
// Errors of the route-config and upload requests are JSON
// {"message", "code"} with an HTTP status UploadThing's client maps
// (400, 401, 403, 404, 413, 429, 500, 503); code is Carcosa's stable error
// code. A file refused on its bytes (its type, its size, malware,
// OnComplete's refusal) is answered 200 with {"error", "code"}, which the
// client hands to onUploadError as an UploadThingError whose message is
// the error's text.
//
// # Not supported
//
// UploadThing's server SDK (UTApi), its dashboard, its webhooks and its
// server-side uploads are UploadThing's own service; use the Router's Go
// API (List, Get, Delete, UploadFromURL) and Config.Webhooks instead.
// Custom IDs (customId) are ignored: the upload's key is its Carcosa ID.
package uploadthing
