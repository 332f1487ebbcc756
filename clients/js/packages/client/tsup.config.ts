import { defineConfig } from "tsup";

// One ESM entry with its types; tus-js-client stays a dependency, so that
// a bundler picks its browser build and Node its own.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: true,
  target: "es2022",
  platform: "neutral",
  sourcemap: true,
  clean: true,
  external: ["tus-js-client"],
});
