// The app's file router, as an UploadThing app declares it, for its types
// only: it is never served. The server is Carcosa's examples/basic, whose
// routes of the same names (images, documents, files) run the real checks;
// the slugs and the input's type here are what the components are typed by.
import { createUploadthing, type FileRouter } from "uploadthing/server";

const f = createUploadthing();

/** The images route's input: a caption, as examples/basic's ImageInput. */
export type ImageInput = { caption?: string };

// A parser of the shape UploadThing's .input() takes (zod's), so that the
// app needs no schema library for its types.
const imageInput = {
  _input: {} as ImageInput,
  _output: {} as ImageInput,
  parseAsync: async (x: unknown) => x as ImageInput,
};

/** What the server's OnComplete returns, which reaches onClientUploadComplete as serverData. */
export type ServerData = { sha256: string; caption?: string };

export const ourFileRouter = {
  images: f({ image: { maxFileSize: "16MB", maxFileCount: 10 } })
    .input(imageInput)
    .onUploadComplete((): ServerData => ({ sha256: "" })),
  documents: f({ pdf: { maxFileSize: "64MB", maxFileCount: 10 }, text: { maxFileSize: "64MB", maxFileCount: 10 } })
    .onUploadComplete((): ServerData => ({ sha256: "" })),
  files: f({ blob: { maxFileSize: "2GB", maxFileCount: 10 } }).onUploadComplete((): ServerData => ({ sha256: "" })),
} satisfies FileRouter;

export type OurFileRouter = typeof ourFileRouter;
