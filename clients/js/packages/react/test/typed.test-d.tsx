// Type tests of forRoutes, checked by `npm run typecheck` (tsc): each line
// marked as an expected error must fail to type-check, or tsc reports it.
import { forRoutes } from "../src/index.js";

interface CarcosaRoutes {
  images: { input: { caption?: string }; result: { thumb: string } };
  reports: { input: { year: number } };
  documents: { input: Record<string, never> };
}

const { useUpload, UploadDropzone, UploadButton } = forRoutes<CarcosaRoutes>();

export function Page() {
  const up = useUpload("images", { input: { caption: "At the lake" } });
  const thumb: string | undefined = up.files[0]?.record?.result?.thumb;
  // @ts-expect-error: no such route
  useUpload("nope");
  // @ts-expect-error: images takes no field "title"
  useUpload("images", { input: { title: "x" } });
  // @ts-expect-error: year is a number
  useUpload("reports", { input: { year: "2026" } });
  return (
    <>
      <p>{thumb}</p>
      <UploadDropzone route="images" input={{ caption: "ok" }} />
      <UploadButton route="reports" input={{ year: 2026 }} />
      <UploadButton route="documents" />
      {/* @ts-expect-error: no such route */}
      <UploadDropzone route="nope" />
      {/* @ts-expect-error: images takes no field "title" */}
      <UploadDropzone route="images" input={{ title: "x" }} />
    </>
  );
}
