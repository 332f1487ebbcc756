import { defineConfig } from "tsup";

// One ESM entry with its types; React and the client stay the
// application's (peer dependencies), never bundled.
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["esm"],
  dts: true,
  target: "es2022",
  platform: "neutral",
  sourcemap: true,
  clean: true,
  external: ["react", "react-dom", "react/jsx-runtime", "@carcosa/client"],
});
