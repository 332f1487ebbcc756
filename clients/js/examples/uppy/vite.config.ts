import { defineConfig } from "vite";

// CARCOSA_SERVER is the example server (go run ./examples/basic -storage
// s3://…); the page reaches its /api/companion through the proxy, on the
// page's own origin. The files' bytes go straight to the bucket.
export default defineConfig({
  server: {
    proxy: { "/api": { target: process.env.CARCOSA_SERVER ?? "http://127.0.0.1:8080", changeOrigin: false } },
  },
});
