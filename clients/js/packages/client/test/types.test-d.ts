// Type-level tests: `npm run typecheck` (tsc --noEmit) checks this file;
// every @ts-expect-error line must be an error, and the rest must not.
// CarcosaRoutes is written as `carcosa` generates it.
import { expectTypeOf } from "vitest";
import { createClient, type CarcosaClient, type UploadRecord } from "../src/index.js";

export interface CarcosaRoutes {
  images: { input: { caption?: string } };
  documents: { input: Record<string, never> };
}

// A route whose input has a required field, and one that names its result.
interface MoreRoutes {
  albums: { input: { title: string; year?: number } };
  avatars: { input: Record<string, never>; result: { thumb: string } };
}

declare const file: File;
declare const files: FileList;

async function typed() {
  const c = createClient<CarcosaRoutes>({ url: "/api/uploads" });
  expectTypeOf(c).toEqualTypeOf<CarcosaClient<CarcosaRoutes>>();

  await c.upload("images", file, { input: { caption: "At the lake" } });
  await c.upload("images", [file, file], { input: {} });
  await c.upload("images", files);
  await c.upload("documents", file);
  await c.upload("documents", file, { input: {}, onProgress: (p) => expectTypeOf(p.loaded).toBeNumber() });
  const task = c.start("images", file, { resumable: true });
  task.pause();
  task.resume();
  await task.cancel();
  expectTypeOf(task.files[0]!.state).toEqualTypeOf<
    "queued" | "uploading" | "paused" | "processing" | "ready" | "rejected" | "quarantined" | "failed" | "canceled"
  >();
  await c.list("documents");

  // @ts-expect-error: no such route
  await c.upload("nope", file);
  // @ts-expect-error: no such route
  c.start("nope", file);
  // @ts-expect-error: no such route
  await c.list("nope");
  // @ts-expect-error: a field the input does not have
  await c.upload("images", file, { input: { captio: "typo" } });
  // @ts-expect-error: the wrong type of field
  await c.upload("images", file, { input: { caption: 42 } });
  // @ts-expect-error: documents take no input
  await c.upload("documents", file, { input: { caption: "x" } });
  // @ts-expect-error: an unknown option
  await c.upload("images", file, { inptu: { caption: "x" } });
  // @ts-expect-error: not a file
  await c.upload("images", "photo.png");
}

async function required() {
  const c = createClient<MoreRoutes>({ url: "http://127.0.0.1:8080/api/uploads" });
  await c.upload("albums", file, { input: { title: "Summer" } });
  await c.upload("albums", file, { input: { title: "Summer", year: 2026 } });
  // @ts-expect-error: the input is required
  await c.upload("albums", file);
  // @ts-expect-error: the input is required
  await c.upload("albums", file, {});
  // @ts-expect-error: title is required
  await c.upload("albums", file, { input: { year: 2026 } });

  const [avatar] = await c.upload("avatars", file);
  expectTypeOf(avatar!).toEqualTypeOf<UploadRecord<{ thumb: string }>>();
  expectTypeOf(avatar!.result).toEqualTypeOf<{ thumb: string } | undefined>();
  const [album] = await c.upload("albums", file, { input: { title: "x" } });
  expectTypeOf(album!.result).toEqualTypeOf<unknown>();
}

async function untyped() {
  // Without routes' types: any route, any input.
  const c = createClient({ url: "http://127.0.0.1:8080/api/uploads" });
  await c.upload("anything", file);
  await c.upload("anything", file, { input: { whatever: [1, 2, 3] } });
  await c.upload("anything", file, { input: "a string" });
  const page = await c.list("anything");
  expectTypeOf(page.uploads).toEqualTypeOf<UploadRecord<unknown>[]>();
}

export { required, typed, untyped };
