import type { JSX } from "react";
import type { RouteInput, RouteName, RouteResult, RoutesOf } from "@carcosa/client";
import { UploadButton, UploadDropzone, type UploadButtonProps, type UploadDropzoneProps } from "./components.js";
import { useUpload, type UseUpload, type UseUploadOptions } from "./useUpload.js";

/**
 * The hook and components typed by the routes R, the `CarcosaRoutes` that
 * `Router.WriteTypeScript` generates: a route name R lacks, or an input
 * field its route does not take, does not type-check.
 */
export interface TypedHelpers<R extends RoutesOf<R>> {
  useUpload<K extends RouteName<R>>(
    route: K,
    options?: UseUploadOptions<RouteInput<R, K>, RouteResult<R, K>>,
  ): UseUpload<RouteInput<R, K>, RouteResult<R, K>>;
  UploadDropzone<K extends RouteName<R>>(
    props: UploadDropzoneProps<RouteInput<R, K>, RouteResult<R, K>> & { route: K },
  ): JSX.Element;
  UploadButton<K extends RouteName<R>>(
    props: UploadButtonProps<RouteInput<R, K>, RouteResult<R, K>> & { route: K },
  ): JSX.Element;
}

/**
 * forRoutes returns useUpload, UploadDropzone and UploadButton typed by
 * the routes R; they are the package's own, with narrower types:
 *
 *	const { UploadDropzone } = forRoutes<CarcosaRoutes>();
 *	<UploadDropzone route="images" input={{ caption: "At the lake" }} />
 */
export function forRoutes<R extends RoutesOf<R>>(): TypedHelpers<R> {
  return { useUpload, UploadDropzone, UploadButton } as unknown as TypedHelpers<R>;
}
