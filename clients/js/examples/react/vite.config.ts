import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

// CARCOSA_SERVER is the example server (go run ./examples/basic); the page
// reaches it through the proxy, on the page's own origin.
export default defineConfig({
  plugins: [react()],
  resolve: {
    // The packages' sources, so that the page needs no build of them.
    alias: [
      { find: "@carcosa/react/styles.css", replacement: here("../../packages/react/src/styles.css") },
      { find: "@carcosa/react", replacement: here("../../packages/react/src/index.ts") },
      { find: "@carcosa/client", replacement: here("../../packages/client/src/index.ts") },
    ],
  },
  server: {
    proxy: { "/api": { target: process.env.CARCOSA_SERVER ?? "http://127.0.0.1:8080", changeOrigin: false } },
  },
});
