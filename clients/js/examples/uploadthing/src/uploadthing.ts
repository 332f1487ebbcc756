// The only lines an UploadThing app changes to move to its own server: the
// url its components are generated with.
import { generateReactHelpers, generateUploadButton, generateUploadDropzone } from "@uploadthing/react";
import { genUploader } from "uploadthing/client";
import type { OurFileRouter } from "./router.js";

const url = "/api/uploadthing";

export const UploadButton = generateUploadButton<OurFileRouter>({ url });
export const UploadDropzone = generateUploadDropzone<OurFileRouter>({ url });
export const { useUploadThing } = generateReactHelpers<OurFileRouter>({ url });
export const { createUpload } = genUploader<OurFileRouter>({ url, package: "carcosa-example-uploadthing" });
