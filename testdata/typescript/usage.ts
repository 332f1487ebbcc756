// A client typed by the generated declarations of the routes case, which
// TestTypeScriptTypeChecks type-checks: each call must check, except those
// marked @ts-expect-error, which must not.
import type { CarcosaRoutes, RouteName } from "./routes";
import type { CarcosaRoutes as PointerRoutes } from "./pointers";

declare function upload<R extends RouteName>(
  route: R,
  files: unknown[],
  options: { input: CarcosaRoutes[R]["input"] },
): void;

upload("images", [], { input: { album: "pets" } });
upload("images", [], { input: { album: "pets", caption: "a cat", kind: "photo", input: { note: "n" } } });
upload("gallery", [], { input: { album: "pets" } });
upload("documents", [], { input: {} });
upload("my-avatars", [], { input: { crop: { X: 1, Y: 2 } } });
upload("3d-crops", [], { input: {} });

// @ts-expect-error: there is no route imagez
upload("imagez", [], { input: {} });
// @ts-expect-error: images has no field captoin
upload("images", [], { input: { album: "pets", captoin: "a cat" } });
// @ts-expect-error: album is required
upload("images", [], { input: { caption: "a cat" } });
// @ts-expect-error: kind is "photo" or "scan"
upload("images", [], { input: { album: "pets", kind: "sketch" } });
// @ts-expect-error: caption is a string
upload("images", [], { input: { album: "pets", caption: 7 } });
// @ts-expect-error: documents take no input
upload("documents", [], { input: { caption: "x" } });

export const names: RouteName[] = ["3d-crops", "documents", "gallery", "images", "my-avatars", "my_avatars"];
// @ts-expect-error: RouteName holds only the routes
export const wrong: RouteName = "avatars";

// A pointer input may be null; a required pointer field may not.
export const none: PointerRoutes["nullable"]["input"] = null;
export const some: PointerRoutes["pointers"]["input"] = { width: 3, note: null, deep: null };
// @ts-expect-error: width is required
export const noWidth: PointerRoutes["pointers"]["input"] = { note: "n" };
// @ts-expect-error: width is not null
export const nullWidth: PointerRoutes["pointers"]["input"] = { width: null };
